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
    assert "chance (two balanced classes)" in md           # the PQC accuracy tables carry chance
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
