"""The report's figures, drawn from the metrics JSON (one drawing function per figure kind).

Conventions on every figure: one colour per method everywhere (:data:`COLORS`: LoRA and QPA never
share one), legends outside the axes (they never cover data), accuracy plots carry the chance
line and the paper's reference, and error bars are the sample std over seeds (n printed in the
label; a single seed has no bar). Reference values (chance, the paper's number) come in each
figure's data from the section builder. The ``pqc_energy`` stage draws its plot with :func:`energy`
too, so this module imports nothing of the report beyond ``stats`` (a report change does not
re-run the energy timing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..io import pyplot, save_png
from ..stats import summarize

SIZE = (7.2, 3.8)
DPI = 110
# PNG metadata: no software version, so the image bytes depend only on the data.
META = {"Software": None}
COLORS = {"lora": "#1f77b4", "qpa": "#d62728", "qpa_exact": "#d62728", "base": "#7f7f7f", "control": "#2ca02c",
          "csa": "#1f77b4", "qisa": "#d62728", "qisa_paper": "#ff7f0e", "quantum": "#d62728",
          "quantum_full": "#9467bd", "qpa_shots": "#9467bd", "chance": "#000000", "paper": "#8c564b"}
CLASSICAL = ("#17becf", "#bcbd22", "#e377c2", "#1f77b4", "#2ca02c", "#9467bd")  # never the paper's brown


def _plt():
    return pyplot()


def legend_outside(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)


def _save(fig, out: Path) -> None:
    fig.tight_layout()
    save_png(fig, out, dpi=DPI, metadata=META, bbox_inches="tight")


def _mean_std(values: list[float]) -> tuple[float, float]:
    s = summarize(values)
    return s.mean, (s.std or 0.0)


def chance_line(ax, chance: float) -> None:
    ax.axhline(chance, ls="-.", lw=1, color=COLORS["chance"], label=f"chance ({chance:.1f} %)")


def qisa_curves(curves: dict[str, list[list[dict]]], out: Path) -> None:
    fig, ax = _plt().subplots(figsize=SIZE)
    for variant, runs in sorted(curves.items()):
        n = min(len(r) for r in runs)
        steps = [p["step"] for p in runs[0][:n]]
        vals = np.array([[p["val_loss"] for p in r[:n]] for r in runs])
        ax.plot(steps, vals.mean(0), color=COLORS.get(variant), label=f"{variant} (n = {len(runs)})")
        ax.fill_between(steps, vals.min(0), vals.max(0), color=COLORS.get(variant), alpha=0.2)
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss (nats / char)")
    ax.set_title("QISA vs CSA: training curves")
    legend_outside(ax)
    _save(fig, out)


QPA_LINES = (("qpa_gated_qsim_exact", "-", "#d62728", "gated QPA, qsim exact"), ("lora_r4", "--", "#1f77b4", "LoRA r4"),
             ("base", ":", "#7f7f7f", "base model"))


def qpa_shots(ppl: dict[str, dict], out: Path) -> None:
    """Gated-QPA PPL vs shots; ``ppl``: row -> Summary dict (mean, std, n); qsim exact, LoRA r4, base as lines."""
    fig, ax = _plt().subplots(figsize=SIZE)
    prefix = "qpa_gated_shots_"
    shots = sorted(int(v.removeprefix(prefix)) for v in ppl if v.startswith(prefix))
    if shots:
        ss = [ppl[f"{prefix}{s}"] for s in shots]
        ax.errorbar(shots, [s["mean"] for s in ss], yerr=[s["std"] or 0.0 for s in ss], marker="o", capsize=3,
                    color=COLORS["qpa_shots"], label=f"gated QPA, sampled probabilities (n = {ss[0]['n']})")
        ax.set_xscale("log")
    for name, style, color, label in QPA_LINES:
        if name in ppl:
            ax.axhline(ppl[name]["mean"], ls=style, color=color, label=f"{label} (n = {ppl[name]['n']})")
    ax.set_xlabel("shots per weight generation")
    ax.set_ylabel("test perplexity")
    ax.set_title("Gated QPA: perplexity vs shots")
    legend_outside(ax)
    _save(fig, out)


def qpa_qubits(data: dict[str, Any], out: Path) -> None:
    """``data``: metrics/qpa/qubits.json (points with qubits, ppl, ratio_to_lora; lora_ppl, base_ppl)."""
    points = sorted(data["points"], key=lambda p: p["qubits"])
    fig, ax = _plt().subplots(figsize=SIZE)
    ax.plot([p["qubits"] for p in points], [p["ppl"] for p in points], "o-", color=COLORS["qpa"],
            label="gated QPA, seed 0 (n = 1)")
    for p in points:
        ax.annotate(f"{100 * p['ratio_to_lora']:.0f} %", (p["qubits"], p["ppl"]), fontsize=7,
                    textcoords="offset points", xytext=(0, 6), ha="center")
    ax.axhline(data["lora_ppl"], ls="--", color=COLORS["lora"], label="LoRA r4, seed 0")
    ax.axhline(data["base_ppl"], ls=":", color=COLORS["base"], label="base model")
    ax.margins(y=0.15)  # room for the point labels
    ax.set_xticks([p["qubits"] for p in points])
    ax.set_xlabel("qubits N")
    ax.set_ylabel("test perplexity")
    ax.set_title("Gated QPA vs qubits (labels: trainable params, % of LoRA r4)")
    legend_outside(ax)
    _save(fig, out)


QUANTUM_COLORS = {"faithful": "#d62728", "pca_front": "#9467bd", "linear_front": "#ff7f0e"}


def _mean(summary: dict) -> float:
    return summary["test_acc"]["summary"]["mean"]


def pqc_qubits_data(summary: dict[str, Any]) -> dict[str, Any]:
    """The accuracy-vs-qubits figure's data from ``metrics/pqc/summary.json`` (the stage and the report
    draw the same figure): the sweep, every classical head's and the sweep variant's mean test
    accuracy (5 data seeds), the paper's quantum head and chance (majority class)."""
    sweep, heads = summary["sweep"], summary["heads"]
    variant = (sweep.get("qubits") or [{}])[0].get("variant")
    refs = [{"label": f"{name} (classical, n = {h['test_acc']['summary']['n']})", "acc": _mean(h)}
            for name, h in heads.items() if h["kind"] == "classical"]
    full = heads.get(f"pqc_{variant}")
    if full:
        refs.append({"label": f"pqc_{variant}, searched budget (n = {full['test_acc']['summary']['n']})",
                     "acc": _mean(full)})
    return {"points": sweep.get("qubits", []), "variant": variant, "references": refs,
            "paper": summary["paper"]["quantum"], "chance": summary["chance"]["summary"]["mean"]}


def pqc_qubits(data: dict[str, Any], out: Path) -> None:
    """Sweep accuracy (mean ± std over its seeds) vs main-module qubits, with reference lines."""
    pts = sorted(data["points"], key=lambda p: p["qubits"])
    fig, ax = _plt().subplots(figsize=SIZE)
    n = pts[0]["acc"]["n"] if pts else 0
    ax.errorbar([p["qubits"] for p in pts], [p["acc"]["mean"] for p in pts],
                yerr=[p["acc"]["std"] or 0.0 for p in pts], marker="o", capsize=3, color=COLORS["quantum"],
                label=f"pqc_{data['variant']}, sweep budget (n = {n})")
    for color, ref in zip(CLASSICAL, data["references"], strict=False):
        ax.axhline(ref["acc"], ls="--", lw=1, color=color, label=ref["label"])
    ax.axhline(data["paper"], ls=":", lw=1, color=COLORS["paper"], label=f"paper, quantum head ({data['paper']:.2f} %)")
    chance_line(ax, data["chance"])
    ax.set_xlabel("main-module qubits Q")
    ax.set_ylabel("test accuracy (%)")
    legend_outside(ax)
    _save(fig, out)


def pqc_noise_data(summary: dict[str, Any]) -> dict[str, Any]:
    """The shots/noise figure's data from ``metrics/pqc/summary.json``."""
    return {"shots_noise": summary["shots_noise"], "chance": summary["chance"]["summary"]["mean"]}


def pqc_noise(data: dict[str, Any], out: Path) -> None:
    """Accuracy with finite shots / gate noise (mean ± std over seeds) beside exact on the same rows,
    per quantum variant; chance for reference."""
    fig, axes = _plt().subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, kind, xlabel in zip(axes, ("shots", "noise"), ("shots", "depolarising p (seeded test rows)"),
                                strict=True):
        for variant, e in sorted(data["shots_noise"].items()):
            levels = sorted(e.get(kind) or {}, key=float)
            if not levels:
                continue
            xs, recs, color = [float(k) for k in levels], [e[kind][k] for k in levels], QUANTUM_COLORS.get(variant)
            ax.errorbar(xs, [r["acc"]["mean"] for r in recs], yerr=[r["acc"]["std"] or 0.0 for r in recs],
                        marker="o", capsize=3, color=color, label=f"{variant}, {kind} (n = {recs[0]['acc']['n']})")
            ax.plot(xs, [r["reference_acc"]["mean"] for r in recs], ls="--", marker="x", lw=1, color=color,
                    label=f"{variant}, exact on the same rows")
        chance_line(ax, data["chance"])
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("test accuracy (%)")
    handles = {lab: h for ax in axes for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)}
    axes[1].legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7,
                   frameon=False)
    _save(fig, out)


def _crossing(curve: list[dict], key: str, n: int | None) -> float | None:
    """``key`` of the curve at ``n`` qubits, interpolated in log space (the curve may skip ``n``)."""
    if not n:
        return None
    xs = [r["qubits"] for r in curve]
    return float(np.exp(np.interp(n, xs, [np.log(r[key]) for r in curve])))


def energy(report: dict[str, Any], out: Path) -> None:
    """Measured simulator time, its 2^N fit, the energy curves and every cross-over marked."""
    fig, (a1, a2) = _plt().subplots(1, 2, figsize=(10, 3.6))
    m, c = report["measured"], report["curve"]
    a1.semilogy([r["qubits"] for r in m], [r["seconds"] for r in m], "o", color=COLORS["quantum"],
                label="measured (qsim)")
    a1.semilogy([r["qubits"] for r in c if r["qubits"] <= 30],
                [r["sim_cpu_joules"] / report["assumptions"]["sim_watts"] for r in c if r["qubits"] <= 30],
                "-", color=COLORS["base"], label=f"fit a*gates*2^N, a = {report['fit']['a_seconds']:.2g} s")
    a1.set_xlabel("qubits N")
    a1.set_ylabel("seconds per simulation")
    a1.legend(fontsize=7, loc="upper left")
    gpu = "measured" if str(report["assumptions"].get("gpu_times", "")).startswith("measured") else "assumed"
    for key, lab, col in (("sim_cpu_joules", "CPU simulator", "#1f77b4"),
                          ("sim_gpu_joules", f"GPU simulator ({gpu})", "#2ca02c"), ("qpu_joules", "QPU model", "#d62728")):
        a2.semilogy([r["qubits"] for r in c], [r[key] for r in c], color=col, label=lab)
    for n, lab, col in ((report.get("crossover_qubits"), "CPU", "#1f77b4"),
                        (report.get("crossover_qubits_gpu"), "GPU", "#2ca02c")):
        y = _crossing(c, "qpu_joules", n)
        if y is not None:
            a2.axvline(n, ls="--", lw=1, color=col)
            a2.plot([n], [y], "o", ms=7, mfc="none", mec=col, label=f"cross-over, {lab}: N = {n}")
    if report.get("paper_crossover"):
        a2.axvline(report["paper_crossover"], ls=":", color=COLORS["paper"], lw=1,
                   label=f"paper: N = {report['paper_crossover']}")
    a2.set_xlabel("qubits N")
    a2.set_ylabel("joules per inference")
    legend_outside(a2)
    _save(fig, out)


DRAW: dict[str, Callable[[Any, Path], None]] = {
    "qisa_curves": qisa_curves, "qpa_shots": qpa_shots, "qpa_qubits": qpa_qubits, "pqc_qubits": pqc_qubits,
    "pqc_noise": pqc_noise, "energy": energy}
