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
    """The committed metrics, with a synthetic QPA summary.json / qubits.json in the documented layout
    (the QPA section reads only those and eval/manifest.json)."""
    dst = tmp_path / "metrics"
    shutil.copytree(ROOT / "metrics", dst)
    write_qpa(dst)
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
    ("qpa_ppl", iv(0.995, 1.005), HOLDS),           # within [0.99, 1.01]
    ("qpa_ppl", iv(1.2, 1.6), DOES_NOT_HOLD),       # wholly outside
    ("qpa_ppl", iv(0.98, 1.0), INCONCLUSIVE),       # straddles 0.99
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
    assert any(line.startswith("Does the circuit matter") for line in sections[0].summary)


# ---------------------------------------------------------------- QPA section on a synthetic summary.json
def _interval(low: float, high: float, over: str = "seeds", method: str = "t", n: int = 3) -> dict:
    return Interval(low, high, (low + high) / 2, 0.95, over, method, n).to_dict()


def _cmp(ratio: tuple[float, float], diff: tuple[float, float] | None = None) -> dict:
    """A comparison whose seed-paired difference interval follows the ratio's (PPL ~ 30) unless given."""
    diff = diff or (30 * (ratio[0] - 1), 30 * (ratio[1] - 1))
    return {"diff_per_seed": {"0": -1.0, "1": -1.2, "2": -0.8}, "diff_interval": _interval(*diff),
            "ratio_interval": _interval(*ratio, over="test lines", method="bootstrap", n=64)}


def _qpa_row(kind: str, params: int, mean: float, ratio: tuple[float, float] | None, trained: bool = True,
             gen: bool = False) -> dict:
    from quantum_llm.stats import summarize
    vals = [mean - 0.1, mean, mean + 0.1]
    r = {"kind": kind, "label": f"a {kind} row", "trainable_params": params, "trainable_pct_of_reference": params / 10,
         "ppl": summarize(vals).to_dict(), "ppl_per_seed": {str(i): v for i, v in enumerate(vals)}}
    if trained:
        d = {"initial_val_loss": 3.5, "best_val_loss": 3.2, "best_step": 100, "dw_rel_start": 0.0, "dw_rel_end": 0.01}
        if gen:
            d |= {"source_max_abs_change_end": 0.2, "chunk_rank_start": 9, "chunk_rank_end": 9, "gate_end": 0.05}
        r |= {"lr_per_seed": {str(i): 1e-3 for i in range(3)}, "diagnostics": {str(i): d for i in range(3)}}
    return r | ({"vs_reference": _cmp(ratio)} if ratio else {})


def write_qpa(metrics: Path, gated=(0.995, 1.005), paper=(1.3, 1.5), frozen=(0.95, 0.98), control=(0.96, 0.99),
              shots_factor: float = 1.0, frozen_diff: tuple[float, float] | None = None) -> None:
    rows = {"base": _qpa_row("base", 0, 35.0, (1.1, 1.2), trained=False),
            "lora_r4": _qpa_row("lora", 1000, 30.0, None), "lora_r2": _qpa_row("lora", 500, 30.5, (1.0, 1.03)),
            "lora_r1": _qpa_row("lora", 250, 31.0, (1.02, 1.05)),
            "qpa_paper": _qpa_row("paper-faithful", 520, 42.0, paper, gen=True),
            "qpa_gated": _qpa_row("deviation", 521, 30.0, gated, gen=True),
            "control_gated": _qpa_row("control", 521, 30.5, (1.0, 1.02), gen=True),
            "qpa_frozen": _qpa_row("ablation", 521, 30.4, (1.0, 1.02), gen=True),
            "qpa_gated_qsim_exact": _qpa_row("generation", 521, 30.0, gated, trained=False),
            "qpa_gated_shots_100": _qpa_row("generation", 521, 30.0 * shots_factor, (1.0, 1.1), trained=False),
            "qpa_gated_shots_1000": _qpa_row("generation", 521, 30.0, (1.0, 1.05), trained=False),
            "qpa_gated_noise_0.01": _qpa_row("generation", 521, 30.1, (1.0, 1.06), trained=False)}
    doc = {"protocol": "synthetic protocol", "reference": "lora_r4", "seeds": [0, 1, 2], "test_lines": 64,
           "test_tokens": 5000, "rows": rows,
           "comparisons": {"qpa_gated_vs_qpa_frozen": _cmp(frozen, frozen_diff),
                           "qpa_gated_vs_control_gated": _cmp(control)}}
    (metrics / "qpa" / "summary.json").write_text(json.dumps(doc))
    qubits = {"protocol": "p", "lora_ppl": 30.0, "lora_ppl_mean": 30.0, "base_ppl": 35.0,
              "lineage": {"params_hash": "ph", "git": {"commit": "c", "dirty": False}, "data_hash": "dh"},
              "points": [{"qubits": n, "ppl": 31.0 - n / 10, "trainable_params": 100 * n, "lora_params": 1000,
                          "ratio_to_lora": n / 10, "circuit_hash": f"h{n}", "source": f"qpa_qubits@{n}"}
                         for n in (4, 6, 8)]}
    (metrics / "qpa" / "qubits.json").write_text(json.dumps(qubits))


def _qpa_section(tmp_path: Path, **kw):
    """The QPA section alone, on a synthetic summary.json and the committed evaluate_qpa manifest (lineage)."""
    from quantum_llm.report.sections import qpa
    metrics = tmp_path / "metrics"
    (metrics / "qpa" / "eval").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "metrics/qpa/eval/manifest.json", metrics / "qpa/eval/manifest.json")
    write_qpa(metrics, **kw)
    return qpa.build(metrics)


def _qpa_verdicts(section) -> dict:
    return {(v.key, v.protocol.split()[0]): v for v in section.verdicts}


@pytest.mark.parametrize(("gated", "paper", "expected_gated", "expected_paper"), [
    ((0.995, 1.005), (1.3, 1.5), HOLDS, DOES_NOT_HOLD),
    ((1.02, 1.05), (0.995, 1.0), DOES_NOT_HOLD, HOLDS),
    ((0.98, 1.0), (1.0, 1.2), INCONCLUSIVE, INCONCLUSIVE),
])
def test_qpa_on_par_verdicts_follow_the_bootstrap_ratio(tmp_path, gated, paper, expected_gated, expected_paper):
    section = _qpa_section(tmp_path, gated=gated, paper=paper)
    by = _qpa_verdicts(section)
    g, p = by[("qpa_ppl", "gated")], by[("qpa_ppl", "paper's")]
    assert (g.verdict, p.verdict) == (expected_gated, expected_paper)
    assert f"[{gated[0]:.4f}, {gated[1]:.4f}]" in g.interval_text and "bootstrap" in g.interval_text
    assert f"-> {expected_gated}; paper-faithful" in section.summary[0]


@pytest.mark.parametrize(("frozen", "control", "answer"), [
    ((0.95, 0.98), (0.96, 0.99), HOLDS),            # both wholly below 1
    ((0.95, 0.98), (1.01, 1.03), DOES_NOT_HOLD),    # the control beats the gated QPA
    ((0.95, 0.98), (0.99, 1.01), INCONCLUSIVE),     # one straddles 1
])
def test_qpa_circuit_matters_needs_both_comparisons(tmp_path, frozen, control, answer):
    section = _qpa_section(tmp_path, frozen=frozen, control=control)
    by = _qpa_verdicts(section)
    assert by[("qpa_frozen", "gated")].verdict == NOT_CLAIMED == by[("qpa_control", "gated")].verdict
    line = next(x for x in section.summary if x.startswith("Does the circuit matter"))
    assert f"? {answer}:" in line


def test_qpa_circuit_matters_is_judged_on_seeds_not_on_test_lines_alone(tmp_path):
    """A tiny gap the line bootstrap resolves (ratio wholly below 1) while the seeds disagree in sign
    (paired difference straddles 0) is inconclusive: training randomness counts."""
    section = _qpa_section(tmp_path, frozen=(0.9997, 0.9999), frozen_diff=(-0.06, 0.04))
    by = _qpa_verdicts(section)
    frozen = by[("qpa_frozen", "gated")]
    assert (frozen.interval.low, frozen.interval.high) == (-0.06, 0.04)
    line = next(x for x in section.summary if x.startswith("Does the circuit matter"))
    assert f"? {INCONCLUSIVE}:" in line and "0.9998 [0.9997, 0.9999]" in line


def test_qpa_section_tables_figures_and_robustness(tmp_path):
    from quantum_llm.report.plots import DRAW
    qpa = _qpa_section(tmp_path, shots_factor=1.2)
    rows = {r[0]: r for r in qpa.tables[0].rows}
    assert set(rows) >= {"base", "lora_r4", "lora_r2", "lora_r1", "qpa_paper", "qpa_gated", "control_gated",
                         "qpa_frozen", "qpa_gated_qsim_exact", "qpa_gated_shots_100", "qpa_gated_noise_0.01"}
    assert rows["lora_r4"][6] == "reference" and "521 (52.1 %)" in rows["qpa_gated"][3]
    assert "0: 0.001" in rows["qpa_gated"][5]
    diag = {r[0]: r for r in qpa.tables[1].rows}
    assert "base" not in diag and diag["qpa_gated"][-1].startswith("0.050")
    by = _qpa_verdicts(qpa)
    assert by[("qpa_shots", "gated")].verdict == NOT_CLAIMED and "100 shots" in by[("qpa_shots", "gated")].measured
    assert "by the rule: does not hold" in by[("qpa_shots", "gated")].interval_text  # ratio 1.2 to qsim exact
    assert by[("qpa_params", "paper's")].verdict == HOLDS  # 52 % of LoRA r4, an exact count
    assert {v.verdict for v in qpa.verdicts} <= set(VERDICTS) and all(v.lineage == ["L1"] for v in qpa.verdicts)
    assert [t.caption.split(",")[0] for t in qpa.tables][2] == "Gated QPA vs qubits"
    for f in qpa.figures:
        DRAW[f.kind](f.data, tmp_path / f.name)
        assert (tmp_path / f.name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
    assert "../" not in text   # it names no file outside the checkout
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
