"""The QISA stages (train_qisa / evaluate_qisa matrices, qisa_summary) through the real
`dvc repro`, on a tiny profile in a temporary copy of the repository."""

import json

import pytest
import torch

from ..conftest import run, set_params

pytestmark = pytest.mark.integration

TINY_QISA = {
    "qisa.seeds": [0],
    "qisa.model.n_layer": 2,
    "qisa.train.batch_size": 32,
    "qisa.train.max_iters": 20,
    "qisa.train.eval_interval": 10,
    "qisa.train.eval_iters": 2,
    "qisa.eval.windows": 40,
    "qisa.eval.prompts": 8,
    "qisa.eval.generate": 8,
    "qisa.eval.timing_batch": 8,
    "qisa.eval.timing_repeats": 3,
    "qisa.eval.audit_trials": 1,
}


def test_qisa_stages_train_evaluate_audit_and_summarise(tiny_repo):
    repo = tiny_repo
    set_params(repo / "params.yaml", TINY_QISA)
    out = run(["dvc", "repro", "qisa_summary"], repo).stdout
    for v in ("csa", "qisa", "qisa_paper"):
        assert f"Running stage 'train_qisa@{v}-0'" in out and f"Running stage 'evaluate_qisa@{v}-0'" in out

    # every run: a checkpoint with its config and Pauli strings, a manifest, a curve, metrics naming protocols
    for v in ("csa", "qisa", "qisa_paper"):
        ckpt = torch.load(repo / f"models/qisa/{v}-0/model.pt", weights_only=True)
        assert ckpt["config"]["attention"] == v and ckpt["config"]["n_layer"] == 2
        assert bool(ckpt["config"]["pauli_strings"]) == (v != "csa")
        manifest = json.loads((repo / f"models/qisa/{v}-0/manifest.json").read_text())
        assert manifest["stage"] == "train_qisa" and manifest["params"]["variant"] == v
        curve = json.loads((repo / f"metrics/qisa/curves/{v}-0.json").read_text())
        assert [c["step"] for c in curve] == [10, 20]
        m = json.loads((repo / f"metrics/qisa/runs/{v}-0.json").read_text())
        assert set(m["protocols"]) >= {"paper", "free_running", "cross_entropy", "inference", "causality_audit"}
        assert m["paper"]["windows"] == 40 and m["free_running"]["prompts"] == 8 and m["cross_entropy_nats"] > 0

    # the audit flags the published variant and passes the others
    summary = json.loads((repo / "metrics/qisa/summary.json").read_text())
    causal = {v: r["causal"] for v, r in summary["variants"].items()}
    assert causal == {"csa": True, "qisa": True, "qisa_paper": False}
    assert "NO (leaks the future)" in (repo / "metrics/qisa/summary.md").read_text()

    # a second repro does nothing
    again = run(["dvc", "repro", "qisa_summary"], repo).stdout
    assert "Running stage" not in again

    # timings live in *.timing.json (DVC-cached, git-ignored), so a forced rerun of a run with the
    # same results leaves its git-tracked curve, metrics and summary byte-identical
    tracked = [repo / "metrics/qisa/curves/csa-0.json", repo / "metrics/qisa/runs/csa-0.json",
               repo / "metrics/qisa/summary.json", repo / "metrics/qisa/summary.md"]
    before = [f.read_bytes() for f in tracked]
    assert "seconds" not in before[0].decode() and "inference" not in json.loads(before[1])
    timing = json.loads((repo / "metrics/qisa/runs/csa-0.timing.json").read_text())
    assert timing["inference"]["ratio_vs_csa"] > 0 and timing["variant"] == "csa"
    assert json.loads((repo / "metrics/qisa/curves/csa-0.timing.json").read_text())[-1]["seconds"] >= 0
    assert json.loads((repo / "metrics/qisa/summary.timing.json").read_text())["variants"]["qisa"]["inference_ratio_vs_csa"]["n"] == 1
    for stage in ("train_qisa@csa-0", "evaluate_qisa@csa-0", "qisa_summary"):
        run(["dvc", "repro", "-f", "-s", stage], repo)
    assert [f.read_bytes() for f in tracked] == before
    ignored = run(["git", "check-ignore", "metrics/qisa/runs/csa-0.timing.json", "metrics/qisa/summary.timing.json",
                   "metrics/qisa/curves/csa-0.timing.json"], repo, check=False).stdout.split()
    assert len(ignored) == 3, ignored


def test_bad_qisa_param_stops_with_one_line(tiny_repo):
    set_params(tiny_repo / "params.yaml", {**TINY_QISA, "qisa.model.n_embd": 10, "qisa.model.n_head": 3})
    res = run(["dvc", "repro", "train_qisa@csa-0"], tiny_repo, check=False)
    assert res.returncode != 0
    assert "qisa.model.n_head = 3 is invalid: n_embd = 10 is not divisible by n_head = 3" in res.stderr + res.stdout
    assert not (tiny_repo / "models/qisa/csa-0").exists()
