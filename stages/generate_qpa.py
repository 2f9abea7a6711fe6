"""Stage generate_qpa@<seed>: quantum-weight generation on qsim for one seed's trained gated QPA
(the row started at the base; its gate is applied to the generated lora_B): exact, each shot
count, each noise level; every variant is written as a PEFT adapter folder stamped with the
circuit hash."""

import argparse
from pathlib import Path

from peft import LoraConfig

from quantum_llm.config import load_section, load_shared
from quantum_llm.io import atomic_dir, write_json
from quantum_llm.lineage import write_manifest
from quantum_llm.qpa.adapter import save_adapter, skeleton
from quantum_llm.qpa.generate import generate
from quantum_llm.qpa.io import circuit_hash, load_generator
from quantum_llm.quantum.backends import make_backend
from quantum_llm.stage import run_stage

WEIGHT_ATOL = 1e-5  # qsim-generated vs torch-trained weights, exact probabilities


def main(args: argparse.Namespace) -> None:
    shared, p, sim = load_shared(), load_section("qpa"), load_section("simulator")
    # shot sampling and noise trajectories: the base seed plus the training seed, so every seed's
    # generation draws its own shots (a t interval over seeds then includes the sampling randomness)
    seed = (sim.seed if sim.seed is not None else shared.seed) + args.seed
    chash = circuit_hash(args.circuits, "qpa")
    qpa, qpa_meta = load_generator(args.qpa)
    if qpa_meta.get("circuit_hash") != chash:
        raise RuntimeError(f"{args.qpa} was trained on circuit {qpa_meta.get('circuit_hash')}, "
                           f"models/circuits now holds {chash}: re-run train_qpa")

    def qsim(noise_p: float = 0.0):
        return make_backend("qsim", noise_p=noise_p, seed=seed, cpu_threads=sim.cpu_threads,
                            use_gpu=sim.use_gpu, gpu_mode=sim.gpu_mode, trajectories=sim.trajectories)

    out = generate(qpa, qsim(), qsim(), {q: qsim(q) for q in p.noise if q > 0}, p.shots)
    if out.max_abs_weight_diff > WEIGHT_ATOL:
        raise RuntimeError(f"qsim-generated weights differ from the torch-trained ones by "
                           f"{out.max_abs_weight_diff:.3g} > {WEIGHT_ATOL}")
    spec = qpa.spec
    # the adapters get exactly the LoRA configuration the generator was trained with
    trained = LoraConfig.from_pretrained(str(args.qpa / "adapter"))
    head = skeleton(args.base, ["lm_head"], trained.r, trained.lora_alpha, trained.lora_dropout,
                    (spec.targets[0].d_out, spec.targets[0].d_in))
    with atomic_dir(args.out) as tmp:
        for name, flat in out.flat.items():
            save_adapter(tmp / name, head, {k: (a.detach(), b.detach()) for k, (a, b) in qpa.factors(flat).items()},
                         base_model=str(args.base))
            write_json(tmp / name / "generation.json", {"variant": name, "circuit_hash": chash,
                                                        "probabilities": out.probs[name].tolist()})
        used = {"seed": seed, "qpa.shots": p.shots, "qpa.noise": p.noise, "simulator": {
            k: getattr(sim, k) for k in ("cpu_threads", "use_gpu", "gpu_mode", "trajectories", "seed")}}
        write_manifest(tmp, "generate_qpa", used, [args.qpa / "generator.safetensors"],
                       extra={"circuit_hash": chash, "row": "qpa_gated",
                              "qsim_vs_torch_max_abs_prob_diff": out.max_abs_prob_diff,
                              "qsim_vs_torch_max_abs_weight_diff": out.max_abs_weight_diff,
                              "variants": sorted(out.flat)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qpa", type=Path, required=True, help="models/qpa/train/<seed>/qpa_gated")
    parser.add_argument("--seed", type=int, required=True, help="the training seed (offsets the shot/trajectory seed)")
    parser.add_argument("--circuits", type=Path, required=True, help="models/circuits")
    parser.add_argument("--base", required=True, help="models/base, recorded as the adapters' base model")
    parser.add_argument("--out", required=True, help="models/qpa/generated/<seed>")
    run_stage(main, parser)
