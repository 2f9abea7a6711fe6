"""The QPA summary (metrics/qpa/summary.json), its Markdown table and the PPL-vs-shots plot.

summary.json holds verdict inputs, not verdicts: per row the perplexity Summary over seeds,
the per-seed values, the comparison with the reference (per-seed differences with a t interval,
a bootstrap interval over test lines of the perplexity ratio) and the per-run diagnostics;
``comparisons`` adds the gated QPA against its frozen-angle ablation and the classical control.
"""

from __future__ import annotations

import numpy as np

from .. import stats
from .evaluate import compare, perplexity
from .train import REFERENCE

CIRCUIT_CHECKS = ("qpa_frozen", "control_gated")


def row_entry(meta: dict, nll: dict[int, np.ndarray], tokens: np.ndarray, ref: dict | None,
              n_resamples: int) -> tuple[dict, dict[int, float]]:
    """meta: kind, label, trainable_params, lr_per_seed, diagnostics; nll: seed -> per-line NLL sums."""
    ppl = {s: perplexity(v, tokens) for s, v in nll.items()}
    out = {**meta, "ppl": stats.summarize(list(ppl.values())).to_dict(),
           "ppl_per_seed": {str(s): v for s, v in ppl.items()}}
    if ref is not None:
        out["vs_reference"] = compare(ppl, ref["ppl"], nll, ref["nll"], tokens, n_resamples)
    return out, ppl


def build_summary(protocol: str, seeds: list[int], tokens: np.ndarray, metas: dict[str, dict],
                  nll: dict[str, dict[int, np.ndarray]], n_resamples: int) -> dict:
    """metas / nll keyed by row name (nll: seed -> per-line sums); the reference row must be there."""
    ref_ppl = {s: perplexity(v, tokens) for s, v in nll[REFERENCE].items()}
    ref = {"ppl": ref_ppl, "nll": nll[REFERENCE]}
    rows, ppls = {}, {}
    for name, meta in metas.items():
        rows[name], ppls[name] = row_entry(meta, nll[name], tokens, None if name == REFERENCE else ref, n_resamples)
    ref_params = metas[REFERENCE]["trainable_params"]
    for r in rows.values():
        r["trainable_pct_of_reference"] = 100 * r["trainable_params"] / ref_params
    comparisons = {}
    if "qpa_gated" in nll:
        for other in CIRCUIT_CHECKS:
            if other in nll:
                comparisons[f"qpa_gated_vs_{other}"] = compare(ppls["qpa_gated"], ppls[other], nll["qpa_gated"],
                                                               nll[other], tokens, n_resamples)
    return {"protocol": protocol, "reference": REFERENCE, "seeds": seeds, "test_lines": int(len(tokens)),
            "test_tokens": int(tokens.sum()), "rows": rows, "comparisons": comparisons}


def markdown_table(doc: dict) -> str:
    lines = [f"Protocol: {doc['protocol']}", "",
             f"Test: {doc['test_lines']} lines, {doc['test_tokens']:,} target tokens; seeds {doc['seeds']}; "
             f"reference: {doc['reference']}. Intervals: 95 %; ratio: paired bootstrap over test lines.", "",
             "| row | kind | trainable params (% of ref) | PPL (mean ± std) | PPL - ref (t interval over seeds) "
             "| PPL / ref (bootstrap over lines) |",
             "|---|---|---:|---:|---:|---:|"]
    for name, r in doc["rows"].items():
        s = stats.Summary(**r["ppl"])
        cmp = r.get("vs_reference")
        diff = stats.format_interval(stats.Interval.from_dict(cmp["diff_interval"])) if cmp else "reference"
        ratio = stats.format_interval(stats.Interval.from_dict(cmp["ratio_interval"]), 4) if cmp else "1"
        lines.append(f"| {name} | {r['kind']} | {r['trainable_params']:,} ({r['trainable_pct_of_reference']:.1f} %) | "
                     f"{stats.format_summary(s)} | {diff} | {ratio} |")
    for name, c in doc["comparisons"].items():
        lines.append("")
        lines.append(f"- {name}: PPL difference {stats.format_interval(stats.Interval.from_dict(c['diff_interval']))}; "
                     f"PPL ratio {stats.format_interval(stats.Interval.from_dict(c['ratio_interval']), 4)}")
    return "\n".join(lines) + "\n"
