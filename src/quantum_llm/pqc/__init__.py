"""PQC head (docs/pqc_head.md): a parameterised-quantum-circuit classification head on frozen
sentence embeddings, its classical baselines, qsim evaluation (exact, shots, noise), sweeps,
ablations and the simulator-vs-QPU energy estimate. See docs/pqc_head.md."""
