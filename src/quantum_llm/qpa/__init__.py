"""QPA (docs/qpa.md): the circuit + mapping-model generator of LoRA weights, its training on cached base logits beside the LoRA baselines, ablations and control, evaluation and reporting."""
