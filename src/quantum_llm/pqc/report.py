"""Summary of the PQC-head runs (verdict inputs, no verdicts): every head's per-seed accuracies and
summaries, paired differences of each quantum variant vs each classical head over data seeds with
t intervals, chance, grid sizes, probes, shots/noise paired differences, the qubit sweep; plus the
plain Markdown table and the plots."""

from __future__ import annotations

import json
from pathlib import Path

from ..stats import (
    Interval,
    Summary,
    format_interval,
    format_summary,
    paired_differences,
    summarize,
    t_interval,
)

PAPER = {"quantum": 92.70, "classical": 89.56, "quantum_qubits": 14, "quantum_params": 886,
         "source": "Kim et al., arXiv 2504.08732 (best quantum head vs best classical head, an SVC)"}
PROTOCOL_SHORT = ("SST-2 few-shot (prepare_sst2), one sample and train/validation split per data seed, test = GLUE dev; "
                  "frozen sentence-transformer embeddings; first module exact (torch), main module on qsim: exact / "
                  "finite shots (every test row) / depolarising noise (seeded rows), each paired with exact on the same rows")
CLASSICAL_LABELS = {
    "majority": "majority class of the training split (chance)",
    "logreg": "logistic regression on the full sentence embedding",
    "mlp": "one-hidden-layer MLP on the full sentence embedding",
    "svc": "SVC (rbf) on the full sentence embedding",
    "logreg_pca": "size-matched: logistic regression on the same k PCA inputs as pca_front",
    "mlp_pca": "size-matched: MLP on the k PCA inputs with about the quantum head's parameter count",
}
QUANTUM_LABELS = {
    "faithful": "faithful head: amplitude-encoded encoder circuit -> main module -> linear (the paper's)",
    "pca_front": "deviation: fixed PCA-k front end -> quantum main module -> linear",
    "linear_front": "trained Linear(d -> k) + tanh front end -> quantum main module -> linear (as third parties ran it)",
}


def per_seed_block(values: dict[int, float]) -> dict:
    """{per_seed, summary (Summary.to_dict), interval (t over seeds, Interval.to_dict)}."""
    v = [values[s] for s in sorted(values)]
    return {"per_seed": {str(s): values[s] for s in sorted(values)}, "summary": summarize(v).to_dict(),
            "interval": t_interval(v).to_dict()}


def quantum_heads(ev: dict, train: dict) -> dict:
    out = {}
    for v, e in ev["variants"].items():
        recs = {r["seed"]: r for r in train["runs"] if r["variant"] == v}
        runs = {r["seed"]: r for r in e["runs"]}
        out[f"pqc_{v}"] = {
            "kind": "quantum", "variant": v, "label": QUANTUM_LABELS[v],
            "test_acc": per_seed_block({s: r["acc_exact"] for s, r in runs.items()}),
            "test_acc_torch": per_seed_block({s: r["acc_torch"] for s, r in runs.items()}),
            "val_acc": per_seed_block({s: r["val_acc"] for s, r in runs.items()}),
            "params": per_seed_block({s: r["params"] for s, r in runs.items()}),
            "grid_size": recs[min(recs)]["grid_size"],
            "selected_points": {str(s): r["selected_point"] for s, r in sorted(recs.items())},
            "max_abs_z_qsim_vs_torch": e["max_abs_z_qsim_vs_torch"]}
    return out


def classical_heads(cl: dict) -> dict:
    seeds = sorted(int(s) for s in cl["seeds"])
    names = list(cl["seeds"][str(seeds[0])])
    out = {}
    for name in names:
        recs = {s: cl["seeds"][str(s)][name] for s in seeds}
        h = {"kind": "chance" if name == "majority" else "classical", "label": CLASSICAL_LABELS[name],
             "test_acc": per_seed_block({s: r["test_acc"] for s, r in recs.items()}),
             "params": per_seed_block({s: r["params"] for s, r in recs.items()}),
             "grid_size": recs[seeds[0]]["grid_size"]}
        if name != "majority":
            h["val_acc"] = per_seed_block({s: r["val_acc"] for s, r in recs.items()})
            h["selected_points"] = {str(s): r["selected_point"] for s, r in recs.items()}
        out[name] = h
    return out


def paired_vs_classical(heads: dict) -> dict:
    """quantum head -> classical head -> paired per-seed differences (quantum - classical) in points."""
    out = {}
    for q, qh in heads.items():
        if qh["kind"] != "quantum":
            continue
        qa = {int(s): a for s, a in qh["test_acc"]["per_seed"].items()}
        out[q] = {}
        for c, ch in heads.items():
            if ch["kind"] == "quantum":
                continue
            d = paired_differences(qa, {int(s): a for s, a in ch["test_acc"]["per_seed"].items()})
            out[q][c] = per_seed_block(d)
    return out


def probes_block(train: dict, probes: dict) -> dict:
    enc = {}
    for when in ("init", "trained"):
        recs = {r["seed"]: r["encoder_probe"][when] for r in train["runs"] if r["variant"] == "faithful"}
        if recs:
            enc[when] = {**per_seed_block({s: r["test_acc"] for s, r in recs.items()}),
                         "features": recs[min(recs)]["features"],
                         "z_std_across_sentences": summarize([r["z_std_across_sentences"] for r in recs.values()]).to_dict()}
    body = {}
    for s, rows in probes.get("seeds", {}).items():
        for r in rows:
            body.setdefault(str(r["max_body"]), {"features": r["features"], "acc": {}})["acc"][int(s)] = r["test_acc"]
    pauli = {k: {"features": b["features"], **per_seed_block(b["acc"])} for k, b in body.items()}
    return {"encoder_output": enc, "pauli_body": pauli,
            "note": "logistic regression (C on validation) on standardised features; test accuracy in percent"}


def sweep_json(points: list[dict]) -> dict:
    qub = sorted((p for p in points if p["ablation"] is None), key=lambda p: p["qubits"])
    abl = [p for p in points if p["ablation"] is not None]
    keep = ("qubits", "params", "acc", "acc_interval", "minus_chance", "variant")
    return {"qubits": [{k: p[k] for k in keep} | {"per_seed": {str(r["seed"]): r["test_acc"] for r in p["runs"]},
                                                 "chance": {str(r["seed"]): r["chance"] for r in p["runs"]}} for p in qub],
            "ablations": [{"name": p["name"]} | {k: p[k] for k in keep} for p in abl], "units": "percent"}


def _s(d: dict | None) -> str:
    return "-" if d is None else format_summary(Summary(**d))


def _i(d: dict | None) -> str:
    return "-" if d is None else format_interval(Interval.from_dict(d))


def markdown(summary: dict) -> str:
    heads, seeds = summary["heads"], summary["data_seeds"]
    lines = ["# PQC head vs classical heads (generated by stage pqc_summary)", "",
             f"Protocol: {summary['protocol']}", "",
             f"Model selection: quantum: {summary['selection_rule']['quantum']}; classical: "
             f"{summary['selection_rule']['classical']}", "",
             f"Test accuracy in percent over data seeds {seeds} (mean ± std, n; 95 % t interval over seeds).", "",
             "| head | kind | params | grid | test acc | 95 % interval |", "|---|---|---|---|---|---|"]
    for name, h in heads.items():
        lines.append(f"| {name} | {h['kind']} | {h['params']['summary']['mean']:.0f} | {h['grid_size']} | "
                     f"{_s(h['test_acc']['summary'])} | {_i(h['test_acc']['interval'])} |")
    lines += ["", "## Paired differences, quantum - classical (points, per data seed; 95 % t interval over seeds)", "",
              "| quantum | vs | mean diff [interval] |", "|---|---|---|"]
    for q, rows in summary["paired"].items():
        for c, b in rows.items():
            lines.append(f"| {q} | {c} | {_i(b['interval'])} |")
    pr = summary["probes"]
    lines += ["", "## Probes (logistic regression on what a module can read out; test accuracy)", ""]
    for when, b in pr["encoder_output"].items():
        lines.append(f"- faithful encoder's <Z> outputs ({b['features']} features), {when}: {_s(b['summary'])}; "
                     f"their std across sentences {_s(b['z_std_across_sentences'])}")
    for k, b in pr["pauli_body"].items():
        lines.append(f"- Pauli expectations of the amplitude-encoded state up to {k}-body ({b['features']} features): "
                     f"{_s(b['summary'])}")
    lines += ["", "## Shots and noise vs exact on the same rows (points; 95 % intervals)", "",
              "| variant | evaluation | acc | minus exact [t over seeds] | pooled rows [bootstrap] | SE | rows/seed |",
              "|---|---|---|---|---|---|---|"]
    for v, e in summary["shots_noise"].items():
        for kind in ("shots", "noise"):
            for k, b in e.get(kind, {}).items():
                lines.append(f"| {v} | {kind} {k} | {_s(b['acc'])} | {_i(b['over_seeds'])} | {_i(b['pooled_rows'])} | "
                             f"{b['pooled_se']:.2f} | {b['rows_per_seed']} |")
    sw = summary["sweep"]
    lines += ["", f"## Qubit sweep ({sw['protocol']})", "",
              "| point | qubits | params | acc | minus chance [t over seeds] |", "|---|---|---|---|---|"]
    for r in sw["qubits"]:
        lines.append(f"| q{r['qubits']} | {r['qubits']} | {r['params']} | {_s(r['acc'])} | {_i(r['minus_chance'])} |")
    for r in sw["ablations"]:
        lines.append(f"| {r['name']} | {r['qubits']} | {r['params']} | {_s(r['acc'])} | {_i(r['minus_chance'])} |")
    p = summary["paper"]
    lines += ["", f"Paper's claim: quantum head {p['quantum']:.2f} % ({p['quantum_qubits']} qubits, "
              f"{p['quantum_params']} parameters) vs best classical {p['classical']:.2f} % (an SVC)."]
    e = summary.get("energy")
    if e:
        lines += ["", f"Energy estimate: cross-over at N = {e['crossover_qubits']} qubits (CPU model), "
                  f"{e.get('crossover_qubits_gpu')} (GPU scenario); paper: {e['paper_crossover']}. Assumptions in energy.json."]
    return "\n".join(lines) + "\n"


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
