"""Aggregating QPA evaluations over seeds into the table and plot the issue asks for."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from ..io import pyplot, save_png


def mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def aggregate(rows: list[dict]) -> list[dict]:
    """rows: one per (variant, seed) with ppl_masked, ppl_padded, trainable -> one per variant."""
    by = defaultdict(list)
    for r in rows:
        by[r["variant"]].append(r)
    lora_params = next((r["trainable"] for r in rows if r["variant"] == "lora"), None)
    out = []
    for variant, rs in by.items():
        m, s = mean_std([r["ppl_masked"] for r in rs])
        pm, ps = mean_std([r["ppl_padded"] for r in rs])
        trainable = rs[0]["trainable"]
        out.append({
            "variant": variant, "seeds": sorted(r["seed"] for r in rs),
            "ppl_masked_mean": m, "ppl_masked_std": s, "ppl_padded_mean": pm, "ppl_padded_std": ps,
            "trainable": trainable,
            "trainable_pct_of_lora": (100 * trainable / lora_params) if lora_params and trainable is not None else None,
        })
    return out


def markdown_table(summary: list[dict], protocol: str) -> str:
    lines = [
        f"Protocol: {protocol}",
        "",
        "| method | trainable params (% of LoRA) | PPL masked | PPL padded (paper's protocol) | seeds |",
        "|---|---:|---:|---:|---|",
    ]
    for r in summary:
        pct = f" ({r['trainable_pct_of_lora']:.1f} %)" if r["trainable_pct_of_lora"] is not None else ""
        params = f"{r['trainable']:,}{pct}" if r["trainable"] is not None else "0"
        lines.append(f"| {r['variant']} | {params} | {r['ppl_masked_mean']:.3f} ± {r['ppl_masked_std']:.3f} | "
                     f"{r['ppl_padded_mean']:.4f} ± {r['ppl_padded_std']:.4f} | {','.join(map(str, r['seeds']))} |")
    return "\n".join(lines) + "\n"


def plot_shots(summary: list[dict], out: Path) -> None:
    """Masked PPL vs shots for QPA (exact as a line), with LoRA and base for reference."""
    plt = pyplot()
    by = {r["variant"]: r for r in summary}
    shots = sorted(int(v.split("_")[-1]) for v in by if v.startswith("qpa_shots_"))
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if shots:
        ys = [by[f"qpa_shots_{s}"]["ppl_masked_mean"] for s in shots]
        es = [by[f"qpa_shots_{s}"]["ppl_masked_std"] for s in shots]
        ax.errorbar(shots, ys, yerr=es, marker="o", label="QPA, weights from sampled probabilities")
        ax.set_xscale("log")
    for name, style in (("qpa_exact", "-"), ("lora", "--"), ("base", ":")):
        if name in by:
            ax.axhline(by[name]["ppl_masked_mean"], linestyle=style, color="gray" if name == "base" else None,
                       label=name.replace("_", " "))
    ax.set_xlabel("shots per weight generation")
    ax.set_ylabel("test perplexity (padding masked)")
    ax.set_title("QPA: perplexity vs shots (mean ± std over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, out, dpi=120)
