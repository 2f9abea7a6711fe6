"""Every published claim the report judges, as data: one place for the paper's numbers and the
rules our verdicts apply.

A :class:`Claim` names its source, quotes the paper's value, and carries the rule
(:class:`quantum_llm.stats.Rule`: a comparison of an interval with a threshold) that turns our
interval into a verdict. The rule's prose on the page is generated from the same rule
(:meth:`Claim.rule_text`), so the threshold is never restated by hand. A question the paper does
not claim anything about (e.g. "is the circuit better than a classical control?") is a claim
with ``claimed=False``: its verdict is "not claimed by the paper", and the page still shows
what the rule says about our interval. The docs (``docs/*.md``) describe the papers in words and
link here and to the report for the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..stats import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, Rule


@dataclass(frozen=True)
class Paper:
    key: str       # "qpa", "qisa", "pqc": also the report section's id
    title: str
    citation: str
    source: str    # where the quoted numbers come from


@dataclass(frozen=True)
class Claim:
    key: str
    method: str        # Paper.key
    text: str          # the claim, in words
    paper_value: str   # the paper's number, as quoted
    source: str        # where in the paper (or "our question")
    rule: Rule
    claimed: bool = True  # False: our own question; the verdict is "not claimed by the paper"
    exact: bool = False   # True: a deterministic quantity (a parameter count): a zero-width interval is exact

    def rule_text(self) -> str:
        text = self.rule.prose()
        return text if self.claimed else f"our question, not the paper's; {text}"


PAPERS = {p.key: p for p in (
    Paper("qpa", "QPA: quantum-generated LoRA weights",
          'Liu et al., "A Quantum Circuit-Based Compression Perspective for Parameter-Efficient Learning", '
          "ICLR 2025 (arXiv 2410.09846)",
          "paper Table 2 as quoted by reviews; the official training log (see docs/qpa.md)"),
    Paper("qisa", "QISA: quantum-inspired self-attention",
          'Kuznetsov, Ismagilov, Campos, "Quantum-Inspired Self-Attention in a Large Language Model", '
          "arXiv 2603.03318 (2026)",
          "the abstract and the authors' public code (see docs/qisa.md)"),
    Paper("pqc", "PQC head: a circuit classifier on a frozen sentence transformer",
          'Kim et al., "Quantum Large Language Model Fine-Tuning", IEEE QCE 2025 (arXiv 2504.08732)',
          "the abstract and figures; third-party reproductions (see docs/pqc_head.md)"),
)}

# Paper numbers quoted elsewhere on the page (context, not judged by a rule).
QPA_LORA_PPL = 1.595         # GPT-2, lm_head only, LoRA r = 4, padded protocol
QPA_QPA_PPL = 1.583
QISA_SLOWER_X = 2.6
PQC_QUANTUM_ACC = 92.70
PQC_CROSSOVER_QUBITS = 46
PQC_THIRD_PARTY_CLASSICAL = "88.3-89.6 %"
CHANCE_ACC = 50.0            # two balanced classes (SST-2 sentiment)

_CLAIMS = (
    # ---------------------------------------------------------------- QPA
    Claim("qpa_params", "qpa", "QPA trains about half of LoRA's parameters", "52.06 % (GPT-2, 7 qubits)",
          "paper Table 2", Rule("below", 55.0, quantity="QPA's trainable parameters as % of LoRA's", unit=" %"),
          exact=True),
    Claim("qpa_ppl", "qpa", "QPA's test perplexity is on par with LoRA's",
          f"{QPA_QPA_PPL} vs {QPA_LORA_PPL} (ratio {QPA_QPA_PPL / QPA_LORA_PPL:.3f})", "paper Table 2",
          Rule("within", 1.01, 0.99, quantity="the perplexity ratio QPA / LoRA r4 (paired bootstrap over test lines, "
                                              "every seed's lines)")),
    Claim("qpa_frozen", "qpa", "The circuit matters: QPA beats its frozen-angle ablation",
          "no ablation reported", "our question",
          Rule("below", 0.0, quantity="the test-perplexity difference gated QPA minus gated QPA with frozen "
                                     "circuit angles, paired by seed (t over seeds: training randomness counted)"),
          claimed=False),
    Claim("qpa_control", "qpa", "The circuit matters: QPA beats a classical control of the same size and start",
          "no control reported", "our question",
          Rule("below", 0.0, quantity="the test-perplexity difference gated QPA minus gated classical control, "
                                     "paired by seed (t over seeds: training randomness counted)"), claimed=False),
    Claim("qpa_shots", "qpa", "Finite shots leave QPA's perplexity unchanged", "appendix study, no number quoted",
          "our question", Rule("within", 1.01, 0.99, quantity="the per-seed ratio of perplexity with shots / "
                                                            "qsim exact (t over seeds)"),
          claimed=False),
    Claim("qpa_noise", "qpa", "Gate noise leaves QPA's perplexity unchanged", "not studied", "our question",
          Rule("within", 1.01, 0.99, quantity="the per-seed ratio of perplexity with noise / qsim exact "
                                             "(t over seeds)"), claimed=False),
    # ---------------------------------------------------------------- QISA
    Claim("qisa_ce", "qisa", "QISA's cross-entropy is 13x lower than CSA's", "13x", "abstract",
          Rule("above", 6.5, quantity="the per-seed factor CSA / QISA cross-entropy (half the claimed 13x)",
               unit="x")),
    Claim("qisa_cer", "qisa", "QISA's character error rate is 15.5x better than CSA's", "15.5x", "abstract",
          Rule("above", 7.75, quantity="the per-seed factor CSA / QISA CER (half the claimed 15.5x)", unit="x")),
    Claim("qisa_wer", "qisa", "QISA's word error rate is 4.7x better than CSA's", "4.7x", "abstract",
          Rule("above", 2.35, quantity="the per-seed factor CSA / QISA WER (half the claimed 4.7x)", unit="x")),
    Claim("qisa_free_cer", "qisa", "QISA generates better text than CSA (free-running CER)", "not measured",
          "our question", Rule("above", 1.0, quantity="the per-seed factor CSA / QISA free-running CER", unit="x"),
          claimed=False),
    Claim("qisa_slower", "qisa", "QISA's inference is 2.6x slower than CSA's", f"{QISA_SLOWER_X}x slower", "abstract",
          Rule("within", 2 * QISA_SLOWER_X, QISA_SLOWER_X / 2,
               quantity="the per-seed time ratio QISA / CSA (within a factor 2 of the claimed 2.6x)", unit="x")),
    # ---------------------------------------------------------------- PQC head
    Claim("pqc_quantum_acc", "pqc", "The best quantum head reaches 92.70 % test accuracy",
          "92.70 % (14 qubits, 886 params)", "abstract",
          Rule("within", 94.70, 90.70, quantity="the test accuracy of the quantum head chosen on validation "
                                              "(within 2 points of 92.70)", unit=" %")),
    Claim("pqc_classical_acc", "pqc", "The best classical head reaches 89.56 % (an SVC)", "89.56 %", "abstract",
          Rule("within", 91.56, 87.56, quantity="the test accuracy of the classical head chosen on validation "
                                              "(within 2 points of 89.56)", unit=" %")),
    Claim("pqc_advantage", "pqc", "The quantum head beats the best classical head", "+3.14 points", "abstract",
          Rule("above", 0.0, quantity="quantum minus classical test accuracy (each head chosen on validation), "
                                      "paired by data seed", unit=" points")),
    Claim("pqc_shots", "pqc", "Accuracy holds with finite shots", "yes (ablation)", "ablations",
          Rule("within", 2.0, -2.0, quantity="accuracy with the fewest shots minus exact on the same test rows "
                                            "(paired bootstrap over every seed's rows)", unit=" points")),
    Claim("pqc_noise", "pqc", "Accuracy holds with gate noise", "yes (ablation)", "ablations",
          Rule("within", 2.0, -2.0, quantity="accuracy at the strongest noise minus exact on the same test rows "
                                            "(paired bootstrap over every seed's rows)", unit=" points")),
    Claim("pqc_qubits", "pqc", "Accuracy grows with the number of qubits", "tends to", "figures",
          Rule("above", 0.0, quantity="accuracy at the largest minus the smallest swept width, paired by seed",
               unit=" points")),
    Claim("pqc_front_vs_logreg", "pqc",
          "The classical-front-end quantum head is within 3 points of size-matched logistic regression "
          "on the same inputs", "not studied", "our question",
          Rule("within", 3.0, -3.0, quantity="pqc_pca_front minus logistic regression on the same k PCA inputs, "
                                            "paired by data seed", unit=" points"), claimed=False),
)

CLAIMS: dict[str, Claim] = {c.key: c for c in _CLAIMS}

# "The circuit matters" combines two of the claims above: it holds only if BOTH rules hold (gated
# QPA beats the frozen-angle ablation and the classical control beyond their intervals), does not
# hold if EITHER does not hold (an interval wholly on the wrong side), and is inconclusive otherwise.
CIRCUIT_MATTERS = ("qpa_frozen", "qpa_control")


def all_of(outcomes: list[str]) -> str:
    """Combine rule outcomes: holds iff all hold; does not hold if any does not; else inconclusive."""
    if outcomes and all(o == HOLDS for o in outcomes):
        return HOLDS
    return DOES_NOT_HOLD if DOES_NOT_HOLD in outcomes else INCONCLUSIVE


def claim(key: str) -> Claim:
    return CLAIMS[key]
