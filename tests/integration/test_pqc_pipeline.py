"""The PQC-head stages (train_pqc matrix, evaluate_pqc on qsim, classical_heads, pqc_sweep,
pqc_energy, pqc_summary) through the real `dvc repro`, on a tiny profile in a temporary copy."""

import json

import pytest

from ..conftest import run, set_params

pytestmark = pytest.mark.integration

TINY_PQC = {
    "pqc.seeds": [0],
    "pqc.epochs": 2,
    "pqc.batch_size": 16,
    "pqc.shots": [100],
    "pqc.noise": [0.01],
    "pqc.noise_rows": 6,
    "pqc.trajectories": 2,
    "pqc.sweep_qubits": [2, 3],
    "pqc.sweep_epochs": 1,
    "pqc.ablations": ["no_encoder"],
    "pqc.classical.mlp_widths": [4],
    "pqc.classical.mlp_epochs": 2,
    "pqc.classical.svc_c": [1.0],
    "pqc.energy.qubits": [4, 6, 8],
    "pqc.energy.fit_from": 6,
    "pqc.energy.repeats": 1,
}


def test_pqc_stages_train_evaluate_summarise_with_lineage(tiny_repo):
    repo = tiny_repo
    set_params(repo / "params.yaml", TINY_PQC)
    out = run(["dvc", "repro", "pqc_summary"], repo).stdout
    for stage in ("train_pqc@0", "evaluate_pqc", "classical_heads", "pqc_sweep", "pqc_energy",
                  "pqc_summary"):
        assert f"Running stage '{stage}'" in out

    hashes = json.loads((repo / "models/circuits/hashes.json").read_text())
    summary = json.loads((repo / "metrics/pqc/summary.json").read_text())
    assert summary["units"] == "percent" and summary["paper"]["quantum"] == 92.70
    assert summary["lineage"]["circuit_hashes"] == {k: hashes[k] for k in ("pqc_encoder", "pqc_main")}
    assert summary["lineage"]["data_hash"] and "selection_rule" in summary and "protocol" in summary
    heads = {h["head"]: h for h in summary["heads"]}
    assert set(heads) == {"pqc_q7", "logreg", "svc_c1", "mlp4"}
    q = heads["pqc_q7"]
    assert q["kind"] == "quantum" and q["seeds"] == [0] and q["params"] == 72
    assert set(q["acc_shots"]) == {"100"} and set(q["acc_noise"]) == {"0.01"}
    for h in heads.values():
        assert all(0 <= v <= 100 for v in h["acc_exact"]["values"]) and len(h["acc_exact"]["values"]) == 1
    assert heads["logreg"]["params"] == 385
    assert q["max_abs_z_qsim_vs_torch"] < 1e-4

    ev = json.loads((repo / "metrics/pqc/eval.json").read_text())
    assert [r["eval"]["n_test"] for r in ev["runs"]] == [48]
    manifest = json.loads((repo / "models/pqc/pqc-0/manifest.json").read_text())
    assert manifest["stage"] == "train_pqc" and manifest["circuit_hashes"]["pqc_main"] == hashes["pqc_main"]
    curve = json.loads((repo / "metrics/pqc/curves/pqc-0.json").read_text())
    assert [c["epoch"] for c in curve] == [1, 2] and all(c["train_loss"] > 0 for c in curve)

    sweep = json.loads((repo / "metrics/pqc/sweep.json").read_text())
    # the default width (7) joins the widths: the same-budget reference of the ablations
    assert [r["qubits"] for r in sweep["qubits"]] == [2, 3, 7] and [a["name"] for a in sweep["ablations"]] == ["no_encoder"]
    assert sweep["full"]["qubits"] == 7
    energy = json.loads((repo / "metrics/pqc/energy.json").read_text())
    assert [m["qubits"] for m in energy["measured"]] == [4, 6, 8] and energy["paper_crossover"] == 46
    assert energy["crossover_qubits"] is not None and energy["fit"]["a_seconds"] > 0
    for png in ("acc_vs_qubits.png", "acc_vs_noise.png", "energy.png"):
        assert (repo / "metrics/pqc" / png).read_bytes()[:4] == b"\x89PNG"
    assert "92.70" in (repo / "metrics/pqc/summary.md").read_text()

    # nothing left to do; a new width makes the PQC chain stale
    assert "Running stage" not in run(["dvc", "repro", "pqc_summary"], repo).stdout
    set_params(repo / "params.yaml", {"qubits": 8})
    status = run(["dvc", "status", "--with-deps", "pqc_summary"], repo).stdout
    for stage in ("circuits", "train_pqc@0", "pqc_sweep", "pqc_summary"):
        assert f"{stage}:" in status

    # a qubit experiment against the committed run: `dvc exp run -S qubits=N`, then `dvc plots diff`
    run(["git", "checkout", "params.yaml"], repo)
    for cmd in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "q7"]):
        run(cmd, repo)
    run(["dvc", "exp", "run", "-n", "q3", "-S", "qubits=3", "pqc_summary"], repo)
    exp = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    assert "q3" in json.dumps(exp)
    plots = json.loads(run(["dvc", "plots", "diff", "HEAD", "q3", "--json"], repo).stdout)
    revs = {rev for key, items in plots["data"].items() if "pqc-0.json" in key
            for item in items for rev in item.get("revisions", [])}
    assert {"HEAD", "q3"} <= revs, plots["data"].keys()


def test_bad_pqc_param_stops_with_one_line(tiny_repo):
    set_params(tiny_repo / "params.yaml", {**TINY_PQC, "pqc.shots": [-1]})
    # the stage script itself (dvc repro would first build prepare_sst2): params fail before any work
    res = run(["python", "stages/classical_heads.py", "--data", "data/prepared/sst2", "--out", "metrics/pqc/c.json"],
              tiny_repo, check=False)
    assert res.returncode == 2
    assert "pqc.shots = [-1] is invalid: every shot count must be an integer >= 1" in res.stderr + res.stdout
