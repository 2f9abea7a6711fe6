"""The real DVC pipeline on a tiny profile, in a temporary copy of the repository."""

import json
import time

import pyarrow.parquet as pq
import pytest
import yaml

from ..conftest import run

pytestmark = pytest.mark.integration
STAGES = ("base_model", "prepare_chars", "prepare_lm", "prepare_sst2")


def test_repro_is_complete_traceable_idempotent_and_seeded(tiny_repo):
    repo = tiny_repo
    run(["dvc", "repro", *STAGES], repo)

    # outputs with manifests, consistent with dvc.lock
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for stage, out in [("base_model", "models/base"), ("prepare_chars", "data/prepared/chars"),
                       ("prepare_lm", "data/prepared/lm"), ("prepare_sst2", "data/prepared/sst2")]:
        m = json.loads((repo / out / "manifest.json").read_text())
        assert m["stage"] == stage and m["git"]["commit"] and lock["stages"][stage]["outs"][0]["path"] == out
    sst2 = {s: pq.read_table(repo / f"data/prepared/sst2/{f}.parquet")
            for s, f in (("train", "seed-0/train"), ("validation", "seed-0/validation"), ("test", "test"))}
    assert (sst2["train"].num_rows, sst2["validation"].num_rows, sst2["test"].num_rows) == (27, 5, 48)
    assert str(sst2["train"].schema.field("embedding").type) == "fixed_size_list<element: float>[384]"
    lm = pq.read_table(repo / "data/prepared/lm/train.parquet")
    assert lm.num_rows == 60 and max(lm.column("n_tokens").to_pylist()) <= 64

    # outputs never enter git
    status = run(["git", "status", "--porcelain"], repo).stdout
    assert "data/prepared/" not in status.replace("data/prepared/.gitignore", "") and "models/base" not in status

    # the trace goes from the LM corpus back to the base model and its params
    trace = run(["quantum-llm", "trace", "data/prepared/lm/train.parquet"], repo).stdout
    assert "data/prepared/lm  <- stage 'prepare_lm'" in trace and "models/base  <- stage 'base_model'" in trace
    assert "param data.lm.max_lines = 60" in trace

    # a second repro does nothing
    t0 = time.perf_counter()
    again = run(["dvc", "repro", *STAGES], repo).stdout
    assert time.perf_counter() - t0 < 30
    assert "didn't change" in again and "Running stage" not in again

    # an experiment with another seed changes the SST-2 sample and nothing else
    before = pq.read_table(repo / "data/prepared/sst2/seed-0/train.parquet").column("idx").to_pylist()
    exp = run(["dvc", "exp", "run", "-S", "seed=1", *STAGES], repo).stdout
    assert "Running stage 'prepare_sst2'" in exp
    for other in ("base_model", "prepare_chars", "prepare_lm"):
        assert f"Running stage '{other}'" not in exp
    after = pq.read_table(repo / "data/prepared/sst2/seed-0/train.parquet").column("idx").to_pylist()
    assert len(after) == len(before) and set(after) != set(before)


def test_bad_param_stops_the_stage_and_leaves_no_output(tiny_repo):
    from ..conftest import set_params

    set_params(tiny_repo / "params.yaml", {"data.sst2.val_fraction": -0.5})
    res = run(["dvc", "repro", "prepare_sst2"], tiny_repo, check=False)
    assert res.returncode != 0
    assert "data.sst2.val_fraction = -0.5 is invalid" in res.stderr + res.stdout
    assert not (tiny_repo / "data/prepared/sst2").exists()
