"""The PQC-head stages (train_pqc matrix, evaluate_pqc on qsim, classical_heads, pqc_sweep,
pqc_energy, pqc_summary) through the real `dvc repro`, on a tiny profile in a temporary copy."""

import json

import pytest

from ..conftest import run, set_params

pytestmark = pytest.mark.integration

TINY_PQC = {
    "data.sst2.seeds": [0, 1],
    "pqc.variants": ["faithful", "pca_front"],
    "pqc.epochs": 2,
    "pqc.patience": 2,
    "pqc.batch_size": 16,
    "pqc.search.lr": [0.1],
    "pqc.search.encoder_ansatz": ["chain", "long_range"],
    "pqc.search.reupload_blocks": ["shared"],
    "pqc.shots": [100],
    "pqc.noise": [0.01],
    "pqc.noise_variants": ["pca_front"],
    "pqc.noise_rows": 6,
    "pqc.trajectories": 2,
    "pqc.probe_bodies": 2,
    "pqc.sweep_qubits": [2, 3],
    "pqc.sweep_seeds": [0, 1],
    "pqc.sweep_epochs": 1,
    "pqc.ablations": ["no_reupload"],
    "pqc.classical.logreg_c": [1.0],
    "pqc.classical.mlp_widths": [4],
    "pqc.classical.mlp_lr": [0.01],
    "pqc.classical.mlp_epochs": 2,
    "pqc.classical.svc_c": [1.0],
    "pqc.classical.svc_gamma": [1.0],
    "pqc.energy.qubits": [4, 6, 8],
    "pqc.energy.fit_from": 6,
    "pqc.energy.repeats": 1,
}


def test_pqc_stages_train_evaluate_summarise_with_lineage(tiny_repo):
    repo = tiny_repo
    set_params(repo / "params.yaml", TINY_PQC)
    out = run(["dvc", "repro", "pqc_summary"], repo).stdout
    for stage in ("train_pqc", "evaluate_pqc", "classical_heads", "pqc_sweep", "pqc_energy", "pqc_summary"):
        assert f"Running stage '{stage}'" in out

    hashes = json.loads((repo / "models/circuits/hashes.json").read_text())
    assert {"pqc_search/chain-L2-E1-shared/pqc_encoder", "pqc_search/long_range-L2-E1-shared/pqc_encoder"} <= set(hashes)
    summary = json.loads((repo / "metrics/pqc/summary.json").read_text())
    assert summary["units"] == "percent" and summary["paper"]["quantum"] == 92.70 and summary["data_seeds"] == [0, 1]
    assert summary["lineage"]["circuit_hashes"] == {k: hashes[k] for k in ("pqc_encoder", "pqc_main")}
    assert summary["lineage"]["data_hash"] and "selection_rule" in summary and "protocol" in summary
    heads = summary["heads"]
    assert set(heads) == {"pqc_faithful", "pqc_pca_front", "majority", "logreg", "mlp", "svc", "logreg_pca", "mlp_pca"}
    assert summary["grids"]["sizes"]["pqc_faithful"] == 2 and summary["grids"]["sizes"]["pqc_pca_front"] == 1
    for h in heads.values():
        assert set(h["test_acc"]["per_seed"]) == {"0", "1"} and h["test_acc"]["summary"]["n"] == 2
        assert all(0 <= v <= 100 for v in h["test_acc"]["per_seed"].values())
    assert heads["logreg"]["params"]["summary"]["mean"] == 385 and heads["logreg_pca"]["params"]["summary"]["mean"] == 9
    assert heads["pqc_faithful"]["max_abs_z_qsim_vs_torch"] < 1e-4
    # paired per-seed differences, quantum - classical, with a t interval over the seeds
    pair = summary["paired"]["pqc_pca_front"]["logreg_pca"]
    for s in ("0", "1"):
        assert pair["per_seed"][s] == pytest.approx(heads["pqc_pca_front"]["test_acc"]["per_seed"][s]
                                                    - heads["logreg_pca"]["test_acc"]["per_seed"][s])
    assert pair["interval"]["over"] == "seeds" and pair["interval"]["n"] == 2
    assert summary["chance"] == heads["majority"]["test_acc"]
    # probes: encoder outputs at init and trained, Pauli-body up to 2
    assert set(summary["probes"]["encoder_output"]) == {"init", "trained"}
    assert {k: b["features"] for k, b in summary["probes"]["pauli_body"].items()} == {"1": 18, "2": 198}
    # shots on every test row, noise on the seeded rows, both paired with exact
    sn = summary["shots_noise"]
    assert sn["pca_front"]["shots"]["100"]["rows_per_seed"] == 48 and sn["pca_front"]["noise"]["0.01"]["rows_per_seed"] == 6
    assert "noise" not in sn["faithful"] and sn["pca_front"]["noise"]["0.01"]["n_rows"] == 12

    manifest = json.loads((repo / "models/pqc/manifest.json").read_text())
    assert manifest["stage"] == "train_pqc"
    train = json.loads((repo / "metrics/pqc/train.json").read_text())
    faithful0 = next(r for r in train["runs"] if r["variant"] == "faithful" and r["seed"] == 0)
    assert faithful0["config"]["circuit_hashes"]["pqc_main"] in hashes.values()
    curve = json.loads((repo / "metrics/pqc/curves/faithful-0.json").read_text())
    assert [c["epoch"] for c in curve][0] == 1 and all(c["train_loss"] > 0 for c in curve)

    sweep = json.loads((repo / "metrics/pqc/sweep.json").read_text())
    # the default width (7) joins the widths: the same-budget reference of the ablations
    assert [r["qubits"] for r in sweep["qubits"]] == [2, 3, 7] and [a["name"] for a in sweep["ablations"]] == ["no_reupload"]
    assert all(r["acc"]["n"] == 2 and set(r["chance"]) == {"0", "1"} for r in sweep["qubits"])
    energy = json.loads((repo / "metrics/pqc/energy.json").read_text())
    assert [m["qubits"] for m in energy["measured"]] == [4, 6, 8] and energy["paper_crossover"] == 46
    assert energy["crossover_qubits"] is not None and energy["fit"]["a_seconds"] > 0
    for png in ("acc_vs_qubits.png", "acc_vs_noise.png", "energy.png"):
        assert (repo / "metrics/pqc" / png).read_bytes()[:4] == b"\x89PNG"
    assert "92.70" in (repo / "metrics/pqc/summary.md").read_text()

    # nothing left to do; a new width or a new grid makes the PQC chain stale
    assert "Running stage" not in run(["dvc", "repro", "pqc_summary"], repo).stdout
    set_params(repo / "params.yaml", {"qubits": 8})
    status = run(["dvc", "status", "--with-deps", "pqc_summary"], repo).stdout
    for stage in ("circuits", "train_pqc", "pqc_sweep", "pqc_summary"):
        assert f"{stage}:" in status
    run(["git", "checkout", "params.yaml"], repo)
    set_params(repo / "params.yaml", {**TINY_PQC, "pqc.search.reupload_blocks": ["shared", "separate"]})
    status = run(["dvc", "status", "--with-deps", "pqc_summary"], repo).stdout
    assert "circuits:" in status and "train_pqc:" in status


def test_bad_pqc_param_stops_with_one_line(tiny_repo):
    set_params(tiny_repo / "params.yaml", {**TINY_PQC, "pqc.shots": [-1]})
    # the stage script itself (dvc repro would first build prepare_sst2): params fail before any work
    res = run(["python", "stages/classical_heads.py", "--data", "data/prepared/sst2", "--out", "metrics/pqc/c.json",
               "--probes", "metrics/pqc/p.json"],
              tiny_repo, check=False)
    assert res.returncode == 2
    assert "pqc.shots = [-1] is invalid: every shot count must be an integer >= 1" in res.stderr + res.stdout
