"""The published claims the report puts beside our measurements, with where each comes from.

One place for every paper number the report quotes (the specs in ``specs/`` give the full
context). Numbers are copied, not derived; the ``source`` says from where.
"""

from __future__ import annotations

QPA = {
    "title": "QPA: quantum-generated LoRA weights",
    "paper": 'Liu et al., "A Quantum Circuit-Based Compression Perspective for Parameter-Efficient '
             'Learning", ICLR 2025 (arXiv 2410.09846)',
    "source": "paper Table 2 as quoted by reviews; official training log (specs/qpa.md)",
    # GPT-2, lm_head only, LoRA r = 4: QPA-LoRA 1.583 vs LoRA 1.595 test PPL, padded protocol.
    "lora_ppl_padded": 1.595,
    "qpa_ppl_padded": 1.583,
    "params_pct_of_lora": 52.06,
    "qubits_range": "4 to 11",
}

QISA = {
    "title": "QISA: quantum-inspired self-attention",
    "paper": 'Kuznetsov, Ismagilov, Campos, "Quantum-Inspired Self-Attention in a Large Language '
             'Model", arXiv 2603.03318 (2026)',
    "source": "abstract and the authors' public code (specs/qisa.md)",
    "ce_x_better": 13.0,
    "cer_x_better": 15.5,
    "wer_x_better": 4.7,
    "slower_x": 2.6,
}

PQC = {
    "title": "PQC head: a circuit classifier on a frozen sentence transformer",
    "paper": 'Kim et al., "Quantum Large Language Model Fine-Tuning", IEEE QCE 2025 (arXiv 2504.08732)',
    "source": "abstract and figures; third-party reproductions (specs/pqc_head.md)",
    "quantum_acc": 92.70,
    "classical_acc": 89.56,
    "advantage_points": 3.14,
    "quantum_qubits": 14,
    "quantum_params": 886,
    "crossover_qubits": 46,
    "third_party_classical": "88.3-89.6 %",
}
