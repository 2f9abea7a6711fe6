"""QISA: quantum-inspired self-attention (Kuznetsov et al., arXiv 2603.03318) in a character GPT.

``model`` (CSA / QISA / the published leaky QISA), ``pauli`` (seeded Pauli strings and their
matrix-free quadratic forms), ``audit`` (causality check), ``train`` and ``evaluate``.
"""
