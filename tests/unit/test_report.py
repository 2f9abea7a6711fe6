"""The results report is a function of metrics/ alone: built from the repository's committed
metrics, every verdict comes from an interval and a stated rule, numbers follow the files, and
the README's results section and the numbers marked in the docs are exactly what
`quantum-llm readme` generates from them."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from quantum_llm.cli import main as cli
from quantum_llm.report import README_BEGIN, README_END, build_report, refresh_readme
from quantum_llm.report import docs as report_docs
from quantum_llm.report.claims import CLAIMS, claim
from quantum_llm.report.collect import collect
from quantum_llm.report.verdicts import judged, verdict
from quantum_llm.stage import InputError
from quantum_llm.stats import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NOT_CLAIMED, VERDICTS, Interval, Rule

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def metrics(tmp_path) -> Path:
    dst = tmp_path / "metrics"
    shutil.copytree(ROOT / "metrics", dst)
    return dst


def committed(tmp_path: Path, *paths: str) -> Path:
    """``paths`` as committed (HEAD): a local `dvc repro` re-measures timings (e.g. the QISA
    inference ratio), which must not turn these checks red before they are committed. Outside a
    git checkout, the working tree."""
    res = subprocess.run(["git", "archive", "--format=tar", "HEAD", *paths], cwd=ROOT, capture_output=True)
    if res.returncode != 0:
        return ROOT
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path


# ---------------------------------------------------------------- verdict rules, as the claims apply them
def iv(low: float, high: float, n: int = 3) -> Interval:
    return Interval(low, high, (low + high) / 2, 0.95, "seeds", "t", n)


@pytest.mark.parametrize(("key", "interval", "expected"), [
    ("qisa_ce", iv(7.0, 9.0), HOLDS),               # above: wholly above half the claimed 13x
    ("qisa_ce", iv(0.9, 1.1), DOES_NOT_HOLD),       # wholly below
    ("qisa_ce", iv(5.0, 8.0), INCONCLUSIVE),        # straddles 6.5x
    ("qpa_ppl", iv(0.95, 1.005), HOLDS),            # below 1.01
    ("qpa_ppl", iv(1.2, 1.6), DOES_NOT_HOLD),
    ("qpa_ppl", iv(0.9, 1.2), INCONCLUSIVE),
    ("pqc_shots", iv(-1.0, 1.5), HOLDS),            # within [-2, 2] points
    ("pqc_shots", iv(-6.0, -3.0), DOES_NOT_HOLD),   # wholly outside
    ("pqc_shots", iv(-3.4, 0.8), INCONCLUSIVE),
    ("qpa_control", iv(-11.0, -5.0), NOT_CLAIMED),  # our question: never a paper verdict
    ("qisa_ce", iv(9.0, 9.0, n=1), INCONCLUSIVE),   # one seed: no interval, whatever the value
    ("qpa_params", iv(45.2, 45.2, n=1), HOLDS),     # an exact quantity (a parameter count) needs no spread
])
def test_each_verdict_outcome_from_the_claims_rule(key, interval, expected):
    v = judged(claim(key), "corrected", "measured", interval, ["L1"])
    assert v.verdict == expected and v.verdict in VERDICTS
    assert f"[{interval.low:,.2f}, {interval.high:,.2f}]" in v.interval_text


def test_unclaimed_question_still_prints_the_rules_answer():
    v = judged(claim("qpa_control"), "corrected", "m", iv(-11.0, -5.0), ["L1"])
    assert v.verdict == NOT_CLAIMED and "by the rule: holds" in v.interval_text
    assert v.rule.startswith("our question, not the paper's")


def test_rule_prose_is_generated_from_the_rule_itself():
    for c in CLAIMS.values():
        r = c.rule
        assert f"{r.threshold:g}" in c.rule_text() and r.quantity in c.rule_text()
        if r.comparison == "within":
            assert f"{r.threshold_low:g}" in c.rule_text()
    moved = Rule("above", 3.25, quantity="q", unit="x")
    assert "wholly above 3.25x" in moved.prose() and "inconclusive if it straddles" in moved.prose()


def test_verdict_uses_a_t_interval_over_seeds_and_shows_n():
    v = verdict(claim("qisa_ce"), "corrected", "m", {0: 7.0, 1: 8.0, 2: 9.0}, ["L1"])
    assert v.interval.method == "t" and v.interval.over == "seeds" and v.interval.n == 3
    assert "t interval over 3 seeds" in v.interval_text and v.verdict == INCONCLUSIVE  # 8 ± 2.48
    one = verdict(claim("qisa_ce"), "corrected", "m", [9.0], ["L1"])
    assert "n = 1" in one.interval_text and one.verdict == INCONCLUSIVE


# ---------------------------------------------------------------- the report from the committed metrics
def test_report_has_three_methods_every_verdict_with_interval_rule_and_lineage(tmp_path):
    sections = build_report(ROOT / "metrics", tmp_path / "reports")
    assert [s.key for s in sections] == ["qpa", "qisa", "pqc"]
    html = (tmp_path / "reports" / "index.html").read_text().replace("&#39;", "'").replace("&#x27;", "'")
    md = (tmp_path / "reports" / "index.md").read_text()
    for s in sections:
        refs = {e.ref for e in s.lineage}
        assert len(s.verdicts) >= 3
        for v in s.verdicts:
            assert v.lineage and set(v.lineage) <= refs, (s.key, v.claim)
            assert v.verdict in VERDICTS and v.rule and "interval" in v.interval_text
            assert v.claim in md and v.claim in html and v.rule in md
        for e in s.lineage:
            for value in (e.params_hash, e.circuit_hash, e.data_hash, e.commit):
                assert value, (s.key, e)
        for f in s.figures:
            png = tmp_path / "reports" / "img" / f.name
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"img/{f.name}" in html and f"img/{f.name}" in md
    assert md.count("| Claim | Paper | Protocol |") == 3
    assert "± 0.00 (n = 1)" not in md and "(n = 1)" in md  # one seed is shown as n = 1, never as ± 0
    assert "chance (majority class)" in md                 # the PQC accuracy tables carry chance
    control = next(v for v in sections[0].verdicts if v.key == "qpa_control")
    assert control.verdict == NOT_CLAIMED


def _runs(metrics: Path) -> tuple[dict, Path]:
    path = metrics / "qpa/eval/runs.json"
    return json.loads(path.read_text()), path


def _set_qpa_ppl(metrics: Path, factors: dict[int, float]) -> None:
    runs, path = _runs(metrics)
    lora = {r["seed"]: r["ppl_masked"] for r in runs["runs"] if r["variant"] == "lora"}
    for r in runs["runs"]:
        if r["variant"] == "qpa_exact":
            r["ppl_masked"] = lora[r["seed"]] * factors[r["seed"]]
    path.write_text(json.dumps(runs))


def _qpa_ppl_verdict(metrics: Path):
    qpa = collect(metrics)[0]
    return next(v for v in qpa.verdicts if v.key == "qpa_ppl" and v.protocol.startswith("corrected"))


@pytest.mark.parametrize(("factors", "expected"), [
    ({0: 1.004, 1: 1.005, 2: 1.006}, HOLDS),
    ({0: 1.19, 1: 1.2, 2: 1.21}, DOES_NOT_HOLD),
    ({0: 0.95, 1: 1.2, 2: 1.0}, INCONCLUSIVE),
])
def test_numbers_and_verdicts_follow_the_metrics_files(metrics, factors, expected):
    _set_qpa_ppl(metrics, factors)
    v = _qpa_ppl_verdict(metrics)
    assert v.verdict == expected
    assert f"{sum(factors.values()) / 3:.3f}" in v.interval_text


def test_a_missing_metrics_file_names_the_stage_to_run(metrics, tmp_path):
    (metrics / "qisa/summary.json").unlink()
    with pytest.raises(InputError, match=r"dvc repro qisa_summary"):
        build_report(metrics, tmp_path / "reports")
    assert not (tmp_path / "reports").exists()  # nothing half-written


# ---------------------------------------------------------------- README and docs
def test_readme_results_match_the_committed_metrics(tmp_path):
    """Fails when metrics/ changed and `quantum-llm readme` was not re-run (or the README was hand-edited)."""
    tree = committed(tmp_path, "README.md", "metrics")
    assert refresh_readme(tree / "README.md", tree / "metrics", check=True), \
        "README results disagree with metrics/: run `quantum-llm readme` and commit README.md with metrics/"


def test_numbers_in_the_docs_match_the_committed_metrics(tmp_path):
    """Every number the docs and the README quote from the metrics sits in a marker, and equals
    what the metrics give now (the test re-generates and compares)."""
    tree = committed(tmp_path, "README.md", "docs", "metrics")
    files = report_docs.doc_files(tree / "README.md", tree / "docs")
    marked = sum(len(report_docs.MARK.findall(f.read_text())) for f in files)
    assert marked >= 5, "docs quote measured numbers only through <!-- m:KEY --> markers"
    stale = report_docs.refresh_numbers(files, tree / "metrics", check=True)
    assert stale == [], f"{[str(f) for f in stale]}: marked numbers disagree with metrics/: run `quantum-llm readme`"


def test_the_docs_check_catches_a_wrong_number_and_an_unknown_key(metrics, tmp_path):
    doc = tmp_path / "doc.md"
    values = report_docs.numbers(collect(metrics))
    right = f"CE factor <!-- m:qisa_ce.paper.interval -->{values['qisa_ce.paper.interval']}<!-- /m -->.\n"
    doc.write_text(right)
    assert report_docs.refresh_numbers([doc], metrics, check=True) == []
    doc.write_text(right.replace(values["qisa_ce.paper.interval"], "13.00x [12.00, 14.00]"))  # hand-edited
    assert report_docs.refresh_numbers([doc], metrics, check=True) == [doc]
    report_docs.refresh_numbers([doc], metrics)
    assert doc.read_text() == right
    doc.write_text("<!-- m:no_such.key -->1<!-- /m -->")
    with pytest.raises(InputError, match="unknown number key 'no_such.key'"):
        report_docs.refresh_numbers([doc], metrics)
    doc.write_text("<!-- m:qisa_ce.paper.interval -->10x\n<!-- /m -->")
    with pytest.raises(InputError, match="no <!-- /m --> on the same line"):
        report_docs.refresh_numbers([doc], metrics)


def test_readme_refresh_and_check(metrics, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Results\n\n{README_BEGIN}\nstale\n{README_END}\n\n## After\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("QISA CE: <!-- m:qisa_ce.corrected.verdict -->holds<!-- /m -->\n")
    args = ["readme", "--readme", str(readme), "--metrics", str(metrics), "--docs", str(docs)]
    assert cli([*args, "--check"]) == 1
    assert cli(args) == 0
    assert cli([*args, "--check"]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\n## Results\n\n") and text.endswith(f"{README_END}\n\n## After\n")
    assert re.search(r"\| QPA's test perplexity is on par with LoRA's \|", text)
    assert "specs/" not in text
    assert "<!-- m:qisa_ce.corrected.verdict -->does not hold<!-- /m -->" in (docs / "a.md").read_text()
    readme.write_text("# no block\n")
    assert cli(args) == 2 and "no results block" in capsys.readouterr().err


# ---------------------------------------------------------------- PQC section on a synthetic summary.json
def _rec(values: list[float]) -> dict:
    from quantum_llm.stats import summarize, t_interval
    return {"per_seed": {str(i): v for i, v in enumerate(values)}, "summary": summarize(values).to_dict(),
            "interval": t_interval(values).to_dict()}


def _head(kind: str, test: list[float], val: list[float] | None = None, params: int = 10) -> dict:
    h = {"kind": kind, "label": f"a {kind} head", "grid_size": 2, "params": _rec([params] * len(test)),
         "test_acc": _rec(test)}
    return h | ({"val_acc": _rec(val)} if val else {})


def _pqc_metrics(root: Path, front_minus_logreg: list[float], pooled: tuple[float, float]) -> Path:
    """A minimal metrics/pqc: two quantum heads (the one with the lower TEST accuracy has the higher
    VALIDATION accuracy), the full and size-matched classical heads, shots/noise, a 2-point sweep."""
    base = [70.0, 72.0, 71.0, 73.0, 74.0]
    heads = {"majority": _head("chance", [50.0, 51.0, 49.0, 50.0, 50.0], params=0),
             "logreg": _head("classical", base, [80.0] * 4 + [81.0]), "mlp": _head("classical", base, [70.0] * 5),
             "svc": _head("classical", base, [70.0] * 5), "logreg_pca": _head("classical", base, [70.0] * 5),
             "pqc_faithful": _head("quantum", [90.0] * 4 + [91.0], [60.0] * 5),
             "pqc_pca_front": _head("quantum", [b + d for b, d in zip(base, front_minus_logreg, strict=True)],
                                    [85.0] * 4 + [86.0])}
    paired = {q: {c: _rec([a - b for a, b in zip(heads[q]["test_acc"]["per_seed"].values(),
                                                 heads[c]["test_acc"]["per_seed"].values(), strict=True)])
                  for c in heads if heads[c]["kind"] != "quantum"} for q in ("pqc_faithful", "pqc_pca_front")}
    lo, hi = pooled
    row = {"per_seed": {"0": -4.0, "1": 3.0, "2": 0.0}, "acc": {"mean": 70.0, "std": 1.0, "n": 3},
           "reference_acc": {"mean": 70.5, "std": 1.0, "n": 3}, "over_seeds": iv(-5.0, 3.0).to_dict(),
           "pooled_rows": Interval(lo, hi, (lo + hi) / 2, 0.95, "test items", "bootstrap percentile", 900).to_dict(),
           "pooled_se": 0.5, "rows_per_seed": 300, "n_rows": 900}
    point = lambda q, accs: {"qubits": q, "params": 10 * q, "variant": "pca_front", "acc": _rec(accs)["summary"],  # noqa: E731
                             "per_seed": _rec(accs)["per_seed"], "acc_interval": _rec(accs)["interval"],
                             "minus_chance": _rec([a - 50 for a in accs])["interval"]}
    probe = _rec([55.0, 56.0, 57.0]) | {"features": 8}
    summary = {"protocol": "synthetic", "data_seeds": [0, 1, 2, 3, 4], "heads": heads, "paired": paired,
               "chance": heads["majority"]["test_acc"], "k_inputs": 8, "paper": {"quantum": 92.7, "classical": 89.56},
               "grids": {"quantum": {"lr": [0.1]}, "classical": {"logreg_c": [1.0]}, "sizes": {"logreg": 1}},
               "probes": {"encoder_output": {"init": probe}, "pauli_body": {"1": probe}, "note": "probe"},
               "shots_noise": {"pca_front": {"shots": {"100": row, "1000": row}, "noise": {"0.01": row}}},
               "sweep": {"qubits": [point(2, [70.0, 71.0, 72.0]), point(8, [80.0, 81.0, 82.5])], "ablations": []},
               "lineage": {"commit": "0" * 40, "dirty": False}}
    d = root / "pqc"
    (d / "sweep").mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "sweep" / "manifest.json").write_text("{}")
    (d / "energy.json").write_text(json.dumps({"lineage": {}, "crossover_qubits": 30}))
    return root


@pytest.mark.parametrize(("diffs", "answer"), [
    ([0.5, -0.5, 1.0, 0.0, -1.0], HOLDS),             # within ±3 points
    ([-8.0, -7.0, -9.0, -8.5, -7.5], DOES_NOT_HOLD),  # wholly below -3
    ([-4.0, 1.0, -6.0, 2.0, -3.0], INCONCLUSIVE),     # straddles -3
])
def test_pqc_verdicts_from_a_synthetic_summary(tmp_path, diffs, answer):
    from quantum_llm.report.sections import pqc
    s = pqc.build(_pqc_metrics(tmp_path, diffs, (-1.0, 1.0)))
    by = {(v.key, v.protocol): v for v in s.verdicts}
    assert all(v.verdict in VERDICTS for v in s.verdicts)
    front = by[("pqc_front_vs_logreg", pqc.SAME)]
    assert front.verdict == NOT_CLAIMED and f"by the rule: {answer}" in front.interval_text
    # heads are chosen on validation: pca_front (val 85) over faithful (test 90), logreg (val 80) over the others
    adv = by[("pqc_advantage", pqc.SAME)]
    assert adv.measured.startswith("pqc_pca_front") and " minus logreg " in adv.measured
    # shots and noise are judged on the pooled interval over rows (the t interval over seeds straddles ±2)
    assert by[("pqc_shots", "pqc_pca_front head")].verdict == HOLDS
    assert "100 shots" in by[("pqc_shots", "pqc_pca_front head")].measured
    assert by[("pqc_noise", "pqc_pca_front head")].interval.over == "test items"
    assert by[("pqc_qubits", pqc.SAME)].verdict == HOLDS  # +10 points at 8 vs 2 qubits, 3 seeds


def test_pqc_robustness_verdict_follows_the_pooled_interval(tmp_path):
    from quantum_llm.report.sections import pqc
    s = pqc.build(_pqc_metrics(tmp_path, [0.0] * 5, (-2.5, -1.0)))
    shots = next(v for v in s.verdicts if v.key == "pqc_shots")
    assert shots.verdict == INCONCLUSIVE and "[-2.50, -1.00]" in shots.interval_text
    assert any(t.caption.startswith("Why the faithful head stalls") for t in s.tables)
    assert any("chance (majority class)" in row[0] for t in s.tables for row in t.rows)
