"""QPA speed: training-step time of QPA over the LoRA baseline on the same batch, and the time
to generate all LoRA weights (circuit + mapping model), in one run.

    python benchmarks/qpa_speed.py [--qubits 7] [--batch-tokens 256] [--repeats 15]

The two methods' steps are interleaved (lora, qpa, control, lora, ...) and the median of each is
reported, so load on a noisy machine affects all of them alike. Uses models/base's lm_head and
the cached features in data/features/qpa when present, else random features of the same shape.
Targets (issue #4): QPA step / LoRA step <= 1.15; weight generation < 10 ms on CPU.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch

from quantum_llm.qpa.train import TrainConfig, Trainer


def median_ms(f, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qubits", type=int, default=7)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--base", type=Path, default=Path("models/base"))
    ap.add_argument("--features", type=Path, default=Path("data/features/qpa/train.safetensors"))
    args = ap.parse_args()
    torch.manual_seed(0)
    if (args.base / "config.json").is_file():
        from quantum_llm.qpa.io import output_weight
        weight = output_weight(args.base)
    else:
        weight = torch.randn(49152, 576) * 0.02
    if args.features.is_file():
        from safetensors.torch import load_file
        f = load_file(str(args.features))
        h, y = f["h"][: args.batch_tokens], f["y"][: args.batch_tokens]
    else:
        h, y = torch.randn(args.batch_tokens, weight.shape[1]), torch.randint(0, weight.shape[0], (args.batch_tokens,))
    trainers = {m: Trainer(weight, TrainConfig(method=m, steps=10**6, batch_tokens=args.batch_tokens, lr=1e-4, seed=0,
                                               rank=4, alpha=8.0, dropout=0.05, n_qubits=args.qubits, layers=args.layers))
                for m in ("lora", "qpa", "control")}
    for t in trainers.values():  # warm-up
        t.step(h, y)
    times = {m: [] for m in trainers}
    for _ in range(args.repeats):
        for m, t in trainers.items():
            t0 = time.perf_counter()
            t.step(h, y)
            times[m].append(time.perf_counter() - t0)
    med = {m: 1e3 * statistics.median(v) for m, v in times.items()}
    gen = trainers["qpa"].generator
    with torch.no_grad():
        gen_ms = median_ms(gen, max(args.repeats, 30))
        probs_ms = median_ms(gen.probs, max(args.repeats, 30))
    print(f"QPA speed: N = {args.qubits} qubits, L = {args.layers}, lm_head {tuple(weight.shape)}, "
          f"batch {args.batch_tokens} tokens, median of {args.repeats} interleaved steps, "
          f"{torch.get_num_threads()} threads")
    print(f"{'method':<10}{'step ms':>10}{'/ LoRA':>10}")
    for m in trainers:
        print(f"{m:<10}{med[m]:>10.1f}{med[m] / med['lora']:>10.3f}")
    print(f"weight generation (all {gen.spec.m:,} LoRA weights): {gen_ms:.2f} ms "
          f"(circuit on the torch simulator: {probs_ms:.2f} ms)  target < 10 ms")
    print(f"QPA step / LoRA step = {med['qpa'] / med['lora']:.3f}  target <= 1.15")


if __name__ == "__main__":
    main()
