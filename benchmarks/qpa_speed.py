"""QPA speed on the training path the pipeline uses (lm_head only, cached base logits), in one run:

- the speed-up of the cached-base-logit step (base logits of the batch given, the run adds its
  rank-r delta; exact) over the full step (the 49152 x 576 output product recomputed, as PEFT's
  LoRA layer does), per run and per step of the whole grid (rows x learning rates sharing one
  batch: the full path pays the output product once per run, the cached path once per batch);
- the gated-QPA step / LoRA r4 step ratio on the cached path (target <= 1.10), as the pipeline
  steps its grid (``GridStepper``: with two or more torch threads, runs step side by side on one
  thread each; ``--grid-runs-timed`` runs of each kind per grid step), and, for comparison, one
  run at a time on all threads;
- the time to generate all LoRA weights on qsim (exact probabilities + mapping model + gate;
  target < 10 ms).

    python benchmarks/qpa_speed.py [--qubits 7] [--batch-tokens N] [--repeats 15] [--threads 1]

Steps are interleaved (full, cached LoRA, cached QPA, ...) and the median of each is reported,
so load on a noisy machine affects all of them alike; the minima are printed beside the medians.
``--threads 1`` runs everything on one thread (the vocabulary-sized products too): on a loaded
machine, where a second OpenMP thread is often descheduled, that ratio reflects the work done. Uses models/base's lm_head and the cached
features in data/features/qpa when present, else random tensors of the same shape.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from quantum_llm.qpa.train import GridStepper, Run, TrainConfig, base_logits, one_thread, rows


def median_ms(f, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def full_step(run: Run, weight: torch.Tensor, h: torch.Tensor, y: torch.Tensor) -> None:
    """The same update with the output product recomputed (autograd, PEFT's LoRA forward)."""
    a, b = run.factors()
    logits = h @ weight.T + run.cfg.scaling * run.xa(h, a, True) @ b.T
    loss = F.cross_entropy(logits, y)
    run.flat.grad.zero_()      # the run's gradients are views of one flat buffer (quantum_llm.qpa.train)
    loss.backward()
    run.opt.step()


def inputs(args):
    if (args.base / "config.json").is_file():
        from quantum_llm.qpa.io import output_weight
        weight = output_weight(args.base)
    else:
        weight = torch.randn(49152, 576) * 0.02
    if args.features.is_file():
        from safetensors.torch import load_file
        f = load_file(str(args.features))
        return weight, f["h"][: args.batch_tokens], f["y"][: args.batch_tokens]
    return weight, torch.randn(args.batch_tokens, weight.shape[1]), torch.randint(0, weight.shape[0], (args.batch_tokens,))


def qsim_generation_ms(run: Run, repeats: int) -> float:
    from quantum_llm.quantum.backends import make_backend

    gen = run.generator
    cs = gen.probs.circuit_spec
    theta = gen.probs.theta.detach().double().numpy()
    backend = make_backend("qsim", cpu_threads=1)

    @torch.no_grad()
    def once():
        p = backend.probabilities(cs.circuit, theta, cs.weight_symbols, qubits=cs.qubits)[0]
        with one_thread():   # as in training: the mapping model's small products on one thread
            return gen.factors(gen.generate_from_probs(torch.as_tensor(p, dtype=torch.float32)))

    once()
    return median_ms(once, repeats)


def interleaved(jobs: dict, repeats: int) -> tuple[dict, dict]:
    """Medians and minima (ms) of each job, run in turn ``repeats`` times after one warm-up call each."""
    for f in jobs.values():
        f()
    times = {k: [] for k in jobs}
    for _ in range(repeats):
        for k, f in jobs.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return ({k: 1e3 * statistics.median(v) for k, v in times.items()}, {k: 1e3 * min(v) for k, v in times.items()})


def grid_ratio(args, cfg, weight, h, base, y, by) -> tuple[float, float, int, tuple[float, float]]:
    """Per-run step time of gated QPA over LoRA r4 when the grid's runs step as in training."""
    grids = {name: [Run(by[name], 1e-4, cfg, weight) for _ in range(args.grid_runs_timed)]
             for name in ("lora_r4", "qpa_gated")}
    with GridStepper(weight.device, args.grid_runs_timed) as stepper:
        med, mins = interleaved({k: (lambda runs=runs: stepper.step(runs, h, base, y)) for k, runs in grids.items()},
                                args.repeats)
    per_run = (med["lora_r4"] / args.grid_runs_timed, med["qpa_gated"] / args.grid_runs_timed)
    return med["qpa_gated"] / med["lora_r4"], mins["qpa_gated"] / mins["lora_r4"], stepper.workers, per_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qubits", type=int, default=7)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch-tokens", type=int, default=None,
                    help="tokens per step (default: qpa.batch_tokens of params.yaml, the default profile's)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--grid-runs", type=int, default=21, help="runs sharing a batch (rows x learning rates)")
    ap.add_argument("--grid-runs-timed", type=int, default=4,
                    help="runs of each kind (LoRA r4, gated QPA) in the timed grid steps (default 4)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    ap.add_argument("--base", type=Path, default=Path("models/base"))
    ap.add_argument("--features", type=Path, default=Path("data/features/qpa/train.safetensors"))
    args = ap.parse_args()
    if args.batch_tokens is None:
        from quantum_llm.config import load_section

        args.batch_tokens = load_section("qpa").batch_tokens
    if args.threads:
        torch.set_num_threads(args.threads)
    weight, h, y = inputs(args)
    cfg = TrainConfig(steps=10**6, batch_tokens=args.batch_tokens, lrs=(1e-4,), seed=0, scaling=2.0, dropout=0.05,
                      n_qubits=args.qubits, layers=args.layers)
    by = {r.name: r for r in rows(4, [4])}
    lora, qpa, full = Run(by["lora_r4"], 1e-4, cfg, weight), Run(by["qpa_gated"], 1e-4, cfg, weight), \
        Run(by["lora_r4"], 1e-4, cfg, weight)
    base = base_logits(h, weight)
    # two interleaved loops: the full path's and the base product's big fresh allocations change how
    # the C allocator serves a QPA step's own buffers right after them, which is not a QPA cost
    med, mins = interleaved({"full LoRA r4 (output product recomputed)": lambda: full_step(full, weight, h, y),
                             "cached base logits (once per batch)": lambda: base_logits(h, weight),
                             "cached LoRA r4": lambda: lora.step(h, base, y)}, args.repeats)
    med2, mins2 = interleaved({"cached LoRA r4, beside gated QPA": lambda: lora.step(h, base, y),
                               "cached gated QPA": lambda: qpa.step(h, base, y)}, args.repeats)
    f_ms, b_ms, l_ms = med.values()
    l2_ms, q_ms = med2.values()
    med, mins = {**med, **med2}, {**mins, **mins2}
    print(f"QPA speed: N = {args.qubits} qubits, L = {args.layers}, lm_head {tuple(weight.shape)}, batch "
          f"{args.batch_tokens} tokens, median of {args.repeats} interleaved repeats, {torch.get_num_threads()} threads")
    print(f"  {'':<45}{'median':>9}{'min':>9}")
    for k, v in med.items():
        print(f"  {k:<45}{v:>9.1f}{mins[k]:>9.1f} ms")
    grid_full, grid_cached = args.grid_runs * f_ms, b_ms + args.grid_runs * l_ms
    print(f"cached-path speed-up per run step: {f_ms / l_ms:.2f}x; per grid step ({args.grid_runs} runs on one batch): "
          f"{grid_full / grid_cached:.2f}x ({grid_full:.0f} ms -> {grid_cached:.0f} ms)")
    ql_min = mins["cached gated QPA"] / mins["cached LoRA r4, beside gated QPA"]
    print(f"one run at a time on {torch.get_num_threads()} threads: QPA step / LoRA step = {q_ms / l2_ms:.3f} (medians), "
          f"{ql_min:.3f} (minima)")
    g_med, g_min, workers, (l_run, q_run) = grid_ratio(args, cfg, weight, h, base, y, by)
    print(f"as the pipeline trains (GridStepper, {workers} run(s) side by side, {args.grid_runs_timed} runs of each kind "
          f"per grid step, {args.repeats} interleaved grid steps each): {l_run:.1f} ms per LoRA r4 run step, "
          f"{q_run:.1f} ms per gated-QPA run step (medians)")
    print(f"QPA step / LoRA step (cached path) = {g_med:.3f} (medians), {g_min:.3f} (minima)  target <= 1.10: "
          f"{'met' if max(g_med, g_min) <= 1.10 else 'NOT met'}")
    print(f"qsim weight generation (all {qpa.generator.spec.m:,} LoRA weights, exact probabilities + mapping + gate): "
          f"{qsim_generation_ms(qpa, max(args.repeats, 30)):.2f} ms  target < 10 ms")


if __name__ == "__main__":
    main()
