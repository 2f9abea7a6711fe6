"""Aggregation of the per-run metrics into the comparison table (mean +- std over seeds), with
the paper's claimed ratios beside the measured ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# Kuznetsov et al. (arXiv 2603.03318), abstract: QISA vs CSA. "x better" = CSA value / QISA value.
PAPER_CLAIMS = {"cer_x_better": 15.5, "wer_x_better": 4.7, "ce_x_better": 13.0, "slower_x": 2.6,
                "source": "arXiv 2603.03318 abstract (code README: ~8x lower CE, ~2.1x slower with precomputation)"}

METRICS = {  # summary name -> path in a run's metrics JSON
    "ce_nats": ("cross_entropy_nats",),
    "paper_cer": ("paper", "cer"),
    "paper_wer": ("paper", "wer"),
    "free_cer": ("free_running", "cer"),
    "free_wer": ("free_running", "wer"),
}
TIMING = {  # timing summary name -> path in a run's *.timing.json (varies run to run: kept out of git)
    "inference_ratio_vs_csa": ("inference", "ratio_vs_csa"),
    "seconds_per_token": ("inference", "seconds_per_token"),
}


def _get(d: dict, path: tuple[str, ...]):
    for k in path:
        d = d[k]
    return d


def _mean_std(vals: list[float]) -> dict:
    a = np.array(vals, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


def _by_variant(runs: list[dict]) -> dict[str, list[dict]]:
    by_variant: dict[str, list[dict]] = {}
    for r in runs:
        by_variant.setdefault(r["variant"], []).append(r)
    return dict(sorted(by_variant.items()))


def summarise(runs: list[dict]) -> dict:
    """Per variant: mean and std (ddof=1; 0 for one seed) of every metric, causal flag of all
    seeds, and x-better factors vs CSA (CSA mean / variant mean) next to the paper's claims."""
    out: dict = {"paper_claims": PAPER_CLAIMS, "variants": {}}
    for v, rs in _by_variant(runs).items():
        row: dict = {"seeds": len(rs), "runs": sorted(r.get("run", "") for r in rs),
                     "parameters": int(rs[0]["parameters"]),
                     "causal": all(r["causality_audit"]["causal"] for r in rs),
                     "max_leak": max(r["causality_audit"]["model"]["max_leak"] for r in rs)}
        for name, path in METRICS.items():
            row[name] = _mean_std([_get(r, path) for r in rs])
        out["variants"][v] = row
    csa = out["variants"].get("csa")
    if csa:
        for row in out["variants"].values():
            row["x_better_than_csa"] = {k: csa[m]["mean"] / row[m]["mean"] if row[m]["mean"] else None
                                        for k, m in (("ce", "ce_nats"), ("paper_cer", "paper_cer"),
                                                     ("paper_wer", "paper_wer"), ("free_cer", "free_cer"),
                                                     ("free_wer", "free_wer"))}
    out["protocols"] = runs[0]["protocols"] if runs else {}
    return out


def summarise_timing(timings: list[dict]) -> dict:
    """Per variant: mean and std of the inference timings (``*.timing.json`` of evaluate_qisa)."""
    return {"variants": {v: {"seeds": len(ts), **{name: _mean_std([_get(t, path) for t in ts])
                                                   for name, path in TIMING.items()}}
                         for v, ts in _by_variant(timings).items()}}


def markdown_table(summary: dict) -> str:
    def ms(x: dict, digits: int = 3) -> str:
        return f"{x['mean']:.{digits}f} ± {x['std']:.{digits}f}"

    lines = [
        "| variant | seeds | CE (nats/char) | paper CER | paper WER | free-running CER | free-running WER "
        "| causal | CE / CER / WER x better than CSA (paper protocol) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v, r in summary["variants"].items():
        xb = r.get("x_better_than_csa", {})
        xs = " / ".join(f"{xb[k]:.2f}x" if xb.get(k) else "n/a" for k in ("ce", "paper_cer", "paper_wer"))
        lines.append(f"| {v} | {r['seeds']} | {ms(r['ce_nats'])} | {ms(r['paper_cer'])} | {ms(r['paper_wer'])} | "
                     f"{ms(r['free_cer'])} | {ms(r['free_wer'])} | "
                     f"{'yes' if r['causal'] else 'NO (leaks the future)'} | {xs} |")
    c = summary["paper_claims"]
    lines.append(f"| paper's claim (QISA) | | | | | | | not checked | "
                 f"{c['ce_x_better']}x / {c['cer_x_better']}x / {c['wer_x_better']}x |")
    notes = ["", "Mean ± sample std over seeds. " + c["source"] + ". Inference time (paper: "
             f"{c['slower_x']}x slower than CSA) varies run to run: it is in summary.timing.json, not here.", "",
             *(f"- **{k}**: {t}" for k, t in summary.get("protocols", {}).items())]
    return "\n".join(lines + notes) + "\n"


def load_runs(files: list[str | Path]) -> list[dict]:
    return [json.loads(Path(f).read_text()) for f in files]
