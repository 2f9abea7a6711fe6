"""QPA section: QPA vs LoRA (and a classical control, finite shots, gate noise), paired by seed.

Reads ``metrics/qpa/eval/runs.json`` (one row per variant and seed: perplexities and trainable
parameters), its ``manifest.json`` (lineage) and, when present, ``metrics/qpa/qubits.json``.
Every comparison is a per-seed ratio or difference judged on its t interval over seeds; the
QPA rework will add per-line losses, and a paired bootstrap over test lines then replaces the t
interval in :func:`ppl_verdicts` (``verdicts.judged`` takes any ``stats.Interval``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..claims import PAPERS, QPA_LORA_PPL, QPA_QPA_PPL, claim
from ..load import LineageBook, lineage_record, load_json, need, summary
from ..model import Figure, Section, Table, Verdict
from ..verdicts import verdict

PAPER, CORRECTED, SAME = "paper's (padded)", "corrected (padding masked)", "same"


@dataclass
class QpaData:
    runs: dict[str, dict[int, dict]]  # variant -> seed -> row of runs.json
    protocol: str
    ref: str
    qubits: dict | None
    qref: str | None
    book: LineageBook


def load(metrics: Path) -> QpaData:
    eval_dir = metrics / "qpa" / "eval"
    rows = need(load_json(eval_dir / "runs.json", "evaluate_qpa"), "runs", eval_dir / "runs.json")
    ev = load_json(eval_dir / "eval.json", "evaluate_qpa")
    book = LineageBook()
    ref = book.add("metrics/qpa/eval", lineage_record(load_json(eval_dir / "manifest.json", "evaluate_qpa"),
                                                      circuit="qpa"))
    runs: dict[str, dict[int, dict]] = {}
    for r in rows:
        runs.setdefault(r["variant"], {})[int(r["seed"])] = r
    for name in ("base", "lora", "qpa_exact", "control"):
        need(runs, name, eval_dir / "runs.json")
    qubits, qref = None, None
    qfile = metrics / "qpa" / "qubits.json"
    if qfile.is_file():
        qubits = load_json(qfile, "qpa_qubits_summary")
        points = sorted(need(qubits, "points", qfile), key=lambda p: p["qubits"])
        qref = book.add("metrics/qpa/qubits.json", lineage_record(qubits.get("lineage") or qubits)
                        | {"circuit_hash": ", ".join(f"N={p['qubits']}: {str(p.get('circuit_hash'))[:12]}"
                                                     for p in points)})
    return QpaData(runs, ev.get("protocol", ""), ref, qubits, qref, book)


def values(d: QpaData, variant: str, key: str) -> dict[int, float]:
    return {s: float(r[key]) for s, r in sorted(d.runs[variant].items())}


def paired(d: QpaData, a: str, b: str, key: str, op) -> dict[int, float]:
    xa, xb = values(d, a, key), values(d, b, key)
    return {s: op(xa[s], xb[s]) for s in xa if s in xb}


def ratio(x: float, y: float) -> float:
    return x / y


def ppl_verdicts(d: QpaData) -> list[Verdict]:
    ref = [d.ref]
    pct = paired(d, "qpa_exact", "lora", "trainable", lambda a, b: 100 * a / b)
    out = [verdict(claim("qpa_params"), SAME, f"QPA {summary(list(values(d, 'qpa_exact', 'trainable').values()), 0)}"
                   f" vs LoRA {summary(list(values(d, 'lora', 'trainable').values()), 0)} trainable", pct, ref, 1)]
    for protocol, key in ((PAPER, "ppl_padded"), (CORRECTED, "ppl_masked")):
        digits = 0 if key == "ppl_padded" else 2
        out.append(verdict(claim("qpa_ppl"), protocol,
                           f"QPA {summary(list(values(d, 'qpa_exact', key).values()), digits)} vs LoRA "
                           f"{summary(list(values(d, 'lora', key).values()), digits)}",
                           paired(d, "qpa_exact", "lora", key, ratio), ref, 3))
    out.append(verdict(claim("qpa_control"), CORRECTED,
                       f"QPA {summary(list(values(d, 'qpa_exact', 'ppl_masked').values()))} vs control "
                       f"{summary(list(values(d, 'control', 'ppl_masked').values()))}",
                       paired(d, "qpa_exact", "control", "ppl_masked", lambda a, b: a - b), ref))
    return out + robustness_verdicts(d)


def robustness_verdicts(d: QpaData) -> list[Verdict]:
    """Fewest shots and strongest noise vs exact QPA, the same seeds."""
    out = []
    for key, prefix, pick in (("qpa_shots", "qpa_shots_", min), ("qpa_noise", "qpa_noise_", max)):
        levels = [v for v in d.runs if v.startswith(prefix)]
        if not levels:
            continue
        v = pick(levels, key=lambda name: float(name[len(prefix):]))
        label = f"{float(v[len(prefix):]):g} shots" if key == "qpa_shots" else f"depolarising p = {v[len(prefix):]}"
        out.append(verdict(claim(key), CORRECTED,
                           f"{label}: {summary(list(values(d, v, 'ppl_masked').values()))} vs exact "
                           f"{summary(list(values(d, 'qpa_exact', 'ppl_masked').values()))}",
                           paired(d, v, "qpa_exact", "ppl_masked", ratio), [d.ref], 4))
    return out


def _level(name: str) -> tuple[str, float, str]:
    """Sort key: 'qpa_shots_100' -> ('qpa_shots', 100.0, ...); a name without a numeric suffix sorts by name."""
    head, _, tail = name.rpartition("_")
    try:
        return head, float(tail), name
    except ValueError:
        return name, float("-inf"), name


def order(d: QpaData) -> list[str]:
    first = [v for v in ("base", "lora", "qpa_exact") if v in d.runs]
    rest = sorted((v for v in d.runs if v not in first and v != "control"), key=_level)
    return first + rest + (["control"] if "control" in d.runs else [])


def variants_table(d: QpaData) -> Table:
    lora = next(iter(d.runs["lora"].values()))["trainable"]
    rows = [[v.replace("_", " "), f"{next(iter(d.runs[v].values()))['trainable']:,} "
             f"({100 * next(iter(d.runs[v].values()))['trainable'] / lora:.1f} %)",
             summary(list(values(d, v, "ppl_masked").values())),
             summary(list(values(d, v, "ppl_padded").values()), 0)] for v in order(d)]
    return Table(f"Every variant (mean ± std over seeds, n) [{d.ref}]",
                 ["variant", "trainable params (% of LoRA)", "PPL, padding masked (corrected)",
                  "PPL, padded (paper's protocol)"], rows)


def qubits_table(d: QpaData) -> Table:
    points = sorted(d.qubits["points"], key=lambda p: p["qubits"])
    return Table(f"QPA vs qubits, seed 0 only (n = 1 per point) [{d.qref}]",
                 ["qubits", "trainable params (% of LoRA)", "PPL masked (n = 1)"],
                 [[str(p["qubits"]), f"{p['trainable_params']:,}"
                   + (f" ({100 * p['ratio_to_lora']:.1f} %)" if p.get("ratio_to_lora") is not None else ""),
                   f"{p['ppl_masked']:.2f}"] for p in points])


def figures(d: QpaData) -> list[Figure]:
    masked = {v: list(values(d, v, "ppl_masked").values()) for v in d.runs}
    figs = [Figure("qpa_ppl_vs_shots.png", "QPA perplexity (padding masked) vs shots per weight generation; "
                   "exact QPA, LoRA and the base model as lines; mean ± std over seeds.", "qpa_shots", masked)]
    if d.qubits:
        figs.append(Figure("qpa_ppl_vs_qubits.png", "QPA perplexity (padding masked) vs qubits, seed 0 (n = 1 per "
                           "point); LoRA and the base model as lines.", "qpa_qubits",
                           {"points": d.qubits["points"], "lora": masked["lora"], "base": masked["base"]}))
    return figs


def build(metrics: Path) -> Section:
    d = load(metrics)
    p = PAPERS["qpa"]
    verdicts = ppl_verdicts(d)
    par = next(v for v in verdicts if v.key == "qpa_ppl" and v.protocol == CORRECTED)
    summary_lines = [f"Perplexity ratio QPA / LoRA, padding masked: {par.interval_text} -> {par.verdict} "
                     f"(paper: {QPA_QPA_PPL} vs {QPA_LORA_PPL} on GPT-2).",
                     f"Base model without an adapter: {summary(list(values(d, 'base', 'ppl_masked').values()))}."]
    return Section(
        "qpa", p.title, p.citation, p.source,
        {"paper": "padded: every position up to the padded length is a target, pads included (the paper's "
                  "protocol; not comparable across tokenizers, shown only to compare with the paper)",
         "corrected": "padding masked: next-token perplexity over real tokens only"},
        summary_lines, verdicts,
        notes=[d.protocol,
               "Intervals: Student t over seeds of the per-seed ratio or difference (runs.json holds one "
               "perplexity per variant and seed, no per-line losses).",
               "The paper's numbers are for GPT-2 (124M) trained for 3 epochs; ours for SmolLM2-135M on the "
               "default profile (see params.yaml), the same data, steps and seeds for every method."],
        tables=[variants_table(d)] + ([qubits_table(d)] if d.qubits else []),
        figures=figures(d), lineage=d.book.entries)
