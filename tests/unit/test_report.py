"""The results report is a function of metrics/ alone: built from the repository's committed
metrics, every claim row cites recorded lineage, numbers follow the files, and the README's
results section is exactly what `quantum-llm readme` generates from them."""

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
from quantum_llm.report.collect import collect
from quantum_llm.stage import InputError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def metrics(tmp_path) -> Path:
    dst = tmp_path / "metrics"
    shutil.copytree(ROOT / "metrics", dst)
    return dst


def committed(tmp_path: Path) -> Path:
    """README.md and metrics/ as committed (HEAD): a local `dvc repro` re-measures timings (e.g. the
    QISA inference ratio), which must not turn this check red before they are committed. Outside a
    git checkout, the working tree."""
    res = subprocess.run(["git", "archive", "--format=tar", "HEAD", "README.md", "metrics"], cwd=ROOT,
                         capture_output=True)
    if res.returncode != 0:
        return ROOT
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path


def test_readme_results_match_the_committed_metrics(tmp_path):
    """Fails when metrics/ changed and `quantum-llm readme` was not re-run (or the README was hand-edited)."""
    tree = committed(tmp_path)
    assert refresh_readme(tree / "README.md", tree / "metrics", check=True), \
        "README results disagree with metrics/: run `quantum-llm readme` and commit README.md with metrics/"


def test_report_has_three_methods_each_number_with_recorded_lineage(tmp_path):
    sections = build_report(ROOT / "metrics", tmp_path / "reports")
    assert [s.key for s in sections] == ["qpa", "qisa", "pqc"]
    html = (tmp_path / "reports" / "index.html").read_text()
    md = (tmp_path / "reports" / "index.md").read_text()
    for s in sections:
        refs = {e.ref for e in s.lineage}
        assert len(s.rows) >= 3
        for row in s.rows:
            assert row.lineage and set(row.lineage) <= refs, (s.key, row.claim)
            assert row.claim in md and row.claim in html.replace("&#x27;", "'")
        for e in s.lineage:
            for value in (e.params_hash, e.circuit_hash, e.data_hash, e.commit):
                assert value, (s.key, e)
        for f in s.figures:
            png = tmp_path / "reports" / "img" / f.name
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"img/{f.name}" in html and f"img/{f.name}" in md
    assert md.count("| Claim | Paper |") == 3


def test_numbers_and_verdicts_follow_the_metrics_files(metrics, tmp_path):
    ev = json.loads((metrics / "qpa/eval/eval.json").read_text())
    lora = ev["ppl"]["lora"]["ppl_masked_mean"]
    ev["ppl"]["qpa_exact"]["ppl_masked_mean"] = lora * 1.005  # within 1 % of LoRA: the claim now holds
    (metrics / "qpa/eval/eval.json").write_text(json.dumps(ev))
    qpa = collect(metrics)[0]
    row = next(r for r in qpa.rows if r.claim.startswith("Test perplexity"))
    assert row.holds == "yes" and f"{lora * 1.005:.2f}" in row.ours_corrected
    ev["ppl"]["qpa_exact"]["ppl_masked_mean"] = lora * 1.2
    (metrics / "qpa/eval/eval.json").write_text(json.dumps(ev))
    row = next(r for r in collect(metrics)[0].rows if r.claim.startswith("Test perplexity"))
    assert row.holds == "no" and "+20.0 %" in row.ours_corrected


def test_a_missing_metrics_file_names_the_stage_to_run(metrics, tmp_path):
    (metrics / "qisa/summary.json").unlink()
    with pytest.raises(InputError, match=r"dvc repro qisa_summary"):
        build_report(metrics, tmp_path / "reports")
    assert not (tmp_path / "reports").exists()  # nothing half-written


def test_readme_refresh_and_check(metrics, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Results\n\n{README_BEGIN}\nstale\n{README_END}\n\n## After\n")
    args = ["readme", "--readme", str(readme), "--metrics", str(metrics)]
    assert cli([*args, "--check"]) == 1
    assert cli(args) == 0
    assert cli([*args, "--check"]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\n## Results\n\n") and text.endswith(f"{README_END}\n\n## After\n")
    assert re.search(r"\| Test perplexity, QPA vs LoRA \|", text)
    readme.write_text("# no block\n")
    assert cli(args) == 2 and "no results block" in capsys.readouterr().err
