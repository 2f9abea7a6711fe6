"""Stage generate_qpa: quantum-weight generation on qsim (exact, each shot count, each noise
level) for one seed's trained QPA generator, plus the classical control's weights; every
variant is written as a PEFT adapter folder stamped with the circuit hash."""

import argparse
from pathlib import Path

import torch
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
    seed = sim.seed if sim.seed is not None else shared.seed  # shot sampling and noise trajectories
    chash = circuit_hash(args.circuits, "qpa")
    qpa, qpa_meta = load_generator(args.qpa)
    control, _ = load_generator(args.control)
    if qpa_meta.get("circuit_hash") != chash:
        raise RuntimeError(f"{args.qpa} was trained on circuit {qpa_meta.get('circuit_hash')}, "
                           f"models/circuits now holds {chash}: re-run train_qpa")

    def qsim(noise_p: float = 0.0):
        return make_backend("qsim", noise_p=noise_p, seed=seed, cpu_threads=sim.cpu_threads,
                            use_gpu=sim.use_gpu, trajectories=sim.trajectories)

    out = generate(qpa, qsim(), qsim(), {q: qsim(q) for q in p.noise if q > 0}, p.shots)
    if out.max_abs_weight_diff > WEIGHT_ATOL:
        raise RuntimeError(f"qsim-generated weights differ from the torch-trained ones by "
                           f"{out.max_abs_weight_diff:.3g} > {WEIGHT_ATOL}")
    with torch.no_grad():
        variants = {**out.flat, "control": control()}
    spec = qpa.spec
    # the adapters get exactly the LoRA configuration the generator was trained with
    trained = LoraConfig.from_pretrained(str(args.qpa / "adapter"))
    # lm_head only: a zero HeadOnly; any other modules: the base model (needs --base to hold it)
    targets = sorted(trained.target_modules) if not isinstance(trained.target_modules, str) else [trained.target_modules]
    head = skeleton(args.base, targets, trained.r, trained.lora_alpha, trained.lora_dropout,
                    (spec.targets[0].d_out, spec.targets[0].d_in))
    with atomic_dir(args.out) as tmp:
        for name, flat in variants.items():
            gen = control if name == "control" else qpa
            save_adapter(tmp / name, head, gen.factors(flat), base_model=str(args.base))
            stamp = {"variant": name, "circuit_hash": chash if name != "control" else None}
            probs = out.probs[name].tolist() if name in out.probs else None
            write_json(tmp / name / "generation.json", {**stamp, "probabilities": probs})
        used = {"seed": seed, "qpa.shots": p.shots, "qpa.noise": p.noise, "simulator": {
            k: getattr(sim, k) for k in ("cpu_threads", "use_gpu", "trajectories", "seed")}}
        write_manifest(tmp, "generate_qpa", used,
                       [args.qpa / "generator.safetensors", args.control / "generator.safetensors"],
                       extra={"circuit_hash": chash, "qsim_vs_torch_max_abs_prob_diff": out.max_abs_prob_diff,
                              "qsim_vs_torch_max_abs_weight_diff": out.max_abs_weight_diff,
                              "variants": sorted(variants)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qpa", type=Path, required=True, help="models/qpa/train/qpa-<seed>")
    parser.add_argument("--control", type=Path, required=True, help="models/qpa/train/control-<seed>")
    parser.add_argument("--circuits", type=Path, required=True, help="models/circuits")
    parser.add_argument("--base", required=True, help="models/base, recorded as the adapters' base model")
    parser.add_argument("--out", required=True, help="models/qpa/generated/<seed>")
    run_stage(main, parser)
