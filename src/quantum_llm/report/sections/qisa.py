"""QISA section: QISA (causal, and the published leaky variant) vs CSA, paired by seed.

Reads ``metrics/qisa/summary.json`` (protocol texts, the variant list) and the per-run files
``metrics/qisa/runs/<variant>-<seed>.json``; every factor is computed per seed (CSA's value over
the variant's, the same seed) and judged on its t interval over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..claims import PAPERS, claim
from ..load import LineageBook, lineage_record, load_json, need, summary
from ..model import Figure, Section, Table, Verdict
from ..verdicts import verdict

VARIANTS = ("csa", "qisa", "qisa_paper")
PAPER, CORRECTED = "paper's", "corrected"
PROTOCOLS = ((PAPER, "qisa_paper"), (CORRECTED, "qisa"))
# claim key -> (metric path in a run file, words); "x better" = CSA / variant (lower is better)
FACTORS = {"qisa_ce": (("cross_entropy_nats",), "cross-entropy"),
           "qisa_cer": (("paper", "cer"), "CER"),
           "qisa_wer": (("paper", "wer"), "WER"),
           "qisa_free_cer": (("free_running", "cer"), "free-running CER")}


@dataclass
class QisaData:
    summary: dict
    runs: dict[str, dict[int, dict]]     # variant -> seed -> run metrics
    refs: dict[str, list[str]]           # variant -> lineage refs
    curves: dict[str, list[list[dict]]]  # variant -> per-seed validation curves
    book: LineageBook
    timings: dict[str, dict[int, dict]] | None = None  # variant -> seed -> *.timing.json (page only)


def load_timings(metrics: Path, runs: dict[str, dict[int, dict]]) -> dict[str, dict[int, dict]] | None:
    """The per-run inference timings (``runs/<run>.timing.json``: DVC-cached, not in git), or None
    when any is absent (a checkout whose stages have not run here: ``dvc pull`` or ``dvc repro``)."""
    paths = {v: {seed: metrics / "qisa" / "runs" / f"{r['run']}.timing.json" for seed, r in by_seed.items()}
             for v, by_seed in runs.items()}
    if not all(p.is_file() for by_seed in paths.values() for p in by_seed.values()):
        return None
    return {v: {seed: load_json(p, f"evaluate_qisa@{p.name.removesuffix('.timing.json')}")
                for seed, p in by_seed.items()} for v, by_seed in paths.items()}


def load(metrics: Path) -> QisaData:
    path = metrics / "qisa" / "summary.json"
    s = load_json(path, "qisa_summary")
    variants = need(s, "variants", path)
    book, runs, refs, curves = LineageBook(), {}, {}, {}
    for v in VARIANTS:
        rec = need(variants, v, path)
        runs[v], refs[v], curves[v] = {}, [], []
        for run in rec["runs"]:
            rpath = metrics / "qisa" / "runs" / f"{run}.json"
            r = load_json(rpath, f"evaluate_qisa@{run}")
            runs[v][int(run.rsplit("-", 1)[1])] = r
            ref = book.add(f"metrics/qisa/runs/{run}.json", lineage_record(need(r, "lineage", rpath), circuit=None))
            if ref not in refs[v]:
                refs[v].append(ref)
            curves[v].append(load_json(metrics / "qisa" / "curves" / f"{run}.json", f"train_qisa@{run}"))
    return QisaData(s, runs, refs, curves, book)


def _get(run: dict, path: tuple[str, ...]) -> float:
    for k in path:
        run = run[k]
    return float(run)


def per_seed(d: QisaData, variant: str, path: tuple[str, ...]) -> dict[int, float]:
    return {seed: _get(r, path) for seed, r in sorted(d.runs[variant].items())}


def factor_verdicts(d: QisaData) -> list[Verdict]:
    out = []
    for key, (path, words) in FACTORS.items():
        csa = per_seed(d, "csa", path)
        for protocol, variant in PROTOCOLS:
            ours = per_seed(d, variant, path)
            factors = {s: csa[s] / ours[s] for s in ours if s in csa}
            measured = (f"{words}: CSA {summary(list(csa.values()), 3)}, {variant} "
                        f"{summary(list(ours.values()), 3)}")
            out.append(verdict(claim(key), protocol, measured, factors,
                               sorted(set(d.refs["csa"] + d.refs[variant]))))
    for protocol, variant in PROTOCOLS if d.timings is not None else ():
        ratio = {seed: _get(t, ("inference", "ratio_vs_csa")) for seed, t in sorted(d.timings[variant].items())}
        out.append(verdict(claim("qisa_slower"), protocol, f"{variant}: time per token / CSA's (same machine)",
                           ratio, sorted(set(d.refs["csa"] + d.refs[variant]))))
    return out


def absolute_table(d: QisaData) -> Table:
    rows = []
    for v in VARIANTS:
        first = next(iter(d.runs[v].values()))
        causal = all(r["causality_audit"]["causal"] for r in d.runs[v].values())
        rows.append([v, f"{first['parameters']:,}"]
                    + [summary(list(per_seed(d, v, path).values()), 3) for path, _ in FACTORS.values()]
                    + ["yes" if causal else "no: leaks the next character"])
    return Table("Absolute numbers (mean ± std over seeds, n; cross-entropy in nats per character)",
                 ["variant", "params", "cross-entropy", "CER (teacher-forced)", "WER (teacher-forced)",
                  "CER (free-running)", "causal (audit)"], rows)


def build(metrics: Path, timings: bool = False) -> Section:
    """``timings``: judge the inference-time claim from the runs' ``*.timing.json`` where they are
    present (the report page after `dvc repro`); without them (README, docs) a note says where it is."""
    d = load(metrics)
    if timings:
        d.timings = load_timings(metrics, d.runs)
    p = PAPERS["qisa"]
    verdicts = factor_verdicts(d)
    leak_causal = all(r["causality_audit"]["causal"] for r in d.runs["qisa_paper"].values())
    ce = {v.protocol: v for v in verdicts if v.key == "qisa_ce"}
    summary_lines = [
        f"Under the paper's protocol with the published attention (A^T v), the cross-entropy factor is "
        f"{ce[PAPER].interval_text} -> {ce[PAPER].verdict}; "
        f"that variant {'is causal' if leak_causal else 'reads the next character (causality audit)'}.",
        f"With the causal product (A v) the factor is {ce[CORRECTED].interval_text} -> {ce[CORRECTED].verdict}.",
    ]
    protocols = d.summary.get("protocols", {})
    return Section(
        "qisa", p.title, p.citation, p.source,
        {"paper": "the published attention (softmax(A)^T v, variant qisa_paper); metrics " + protocols.get("paper", ""),
         "corrected": "the causal product softmax(A) v (variant qisa), the same metrics; the model is checked "
                      "for causality automatically"},
        summary_lines, verdicts,
        notes=["x better = CSA's value / the variant's value on the same seed (higher is better); CSA has the "
               "same shape, data, steps and seeds.",
               "Intervals: Student t over seeds of the per-seed factor (the run files hold one number per seed, "
               "no per-window data).",
               f"Inference: {protocols.get('inference', '')}",
               *([] if d.timings is not None else ["The inference-time claim is judged on the report page "
                                     "(reports/index.html): wall-clock timings vary run to run, so they live in "
                                     "DVC-cached *.timing.json files, not in git-tracked metrics."])],
        tables=[absolute_table(d)],
        figures=[Figure("qisa_curves.png", "Validation loss during training per attention variant "
                        "(mean over seeds, band = min to max).", "qisa_curves", d.curves)],
        lineage=d.book.entries)
