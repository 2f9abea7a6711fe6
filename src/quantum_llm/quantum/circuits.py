"""Circuit builders for the paper's quantum parts, in Cirq with sympy parameters.

Qubits are ``cirq.LineQubit(0..n-1)``; qubit 0 is the most significant bit of a basis index
(Cirq's big-endian convention), so ``probabilities[i]`` is ``|<i|psi>|**2`` with the same
ordering in every backend.

* :func:`qpa_ansatz` -- QPA's QNN (docs/qpa.md): L times an RY column then a CNOT
  chain (``ring`` adds CNOT(N-1, 0)). Symbols ``theta_{l}_{q}``.
* :func:`pqc_encoder` -- the PQC head's first module (docs/pqc_head.md): n = ceil(log2 d)
  qubits for a d-dimensional embedding (:func:`encoder_qubits`: 9 for MiniLM's 384, 10 for
  mpnet's 768), amplitude-encoded input (the caller passes the normalised, zero-padded
  2**n-dimensional state), sPQC = ``layers``
  times an RY column then a CNOT chain (``chain``) or times the long-range block (``long_range``),
  Z readout on the first ``Q_c`` qubits.
* :func:`pqc_main` -- the second module: R re-uploading blocks, each an RY(x_j) angle encoding
  followed by PQC1(theta_q) with the same theta_q in every block (or separate angles per block),
  then PQC2(phi), Z readout on
  the first ``Q_m`` qubits. Input j goes to qubit ``j mod Q`` (several inputs on one qubit are
  consecutive RY rotations, i.e. their angles add). Symbols ``x_{j}``, ``pqc1_{d}_{k}``,
  ``pqc2_{d}_{k}``.

Long-range layer (Fig. 2-3; the figure is ambiguous, this is the documented choice): for
c = 1..C and i = 0..Q-1: CNOT(i -> (i + c) mod Q) then RY on qubit (i + c) mod Q; then an RY
column on every qubit. Ranges with c mod Q == 0 would be a CNOT onto its own control and are
skipped. One layer has ``C' * Q + Q`` angles (C' the ranges kept). PQC1 and PQC2 both have
``depth`` such layers (independent angles).
"""

from __future__ import annotations

from dataclasses import dataclass

import cirq
import sympy

ENCODER_QUBITS = 9          # the default body's: 384-d MiniLM embedding zero-padded to 512 = 2**9 amplitudes
EMBEDDING_DIM = 384


def encoder_qubits(embedding_dim: int) -> int:
    """Qubits of the amplitude-encoded encoder for a d-dimensional embedding: ceil(log2 d), at least 1."""
    if embedding_dim < 1:
        raise ValueError(f"embedding dimension {embedding_dim} is invalid: must be >= 1")
    return max(1, (embedding_dim - 1).bit_length())


@dataclass(frozen=True)
class CircuitSpec:
    """A circuit with its parameter symbols in a fixed order and the qubits read out with Z.

    ``data_symbols`` are per-sample inputs (angle encoding); ``weight_symbols`` are trained.
    ``amplitude_input`` says the caller provides the initial state (amplitude encoding).
    """

    name: str
    circuit: cirq.Circuit
    qubits: tuple[cirq.LineQubit, ...]
    weight_symbols: tuple[sympy.Symbol, ...]
    data_symbols: tuple[sympy.Symbol, ...] = ()
    readout: tuple[cirq.LineQubit, ...] = ()
    amplitude_input: bool = False

    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        """All symbols: data first, then weights (the column order of a parameter array)."""
        return self.data_symbols + self.weight_symbols


def _check_positive(**kw: int) -> None:
    for k, v in kw.items():
        if v < 1:
            raise ValueError(f"{k} = {v} is invalid: must be an integer >= 1")


def ry_column(qubits, prefix: str) -> tuple[list[cirq.Operation], list[sympy.Symbol]]:
    """RY(symbol) on every qubit; symbols ``{prefix}_{q}``."""
    syms = [sympy.Symbol(f"{prefix}_{i}") for i in range(len(qubits))]
    return [cirq.ry(s).on(q) for s, q in zip(syms, qubits, strict=False)], syms


def cnot_chain(qubits, ring: bool = False) -> list[cirq.Operation]:
    """CNOT(0,1), CNOT(1,2), ..., CNOT(n-2,n-1); ``ring`` closes it with CNOT(n-1, 0)."""
    ops = [cirq.CNOT(a, b) for a, b in zip(qubits[:-1], qubits[1:], strict=False)]
    if ring and len(qubits) > 2:
        ops.append(cirq.CNOT(qubits[-1], qubits[0]))
    return ops


def qpa_ansatz(n_qubits: int, layers: int = 8, connectivity: str = "chain") -> CircuitSpec:
    """QPA's QNN: ``layers`` x (RY column, CNOT chain or ring) on ``n_qubits`` qubits."""
    _check_positive(n_qubits=n_qubits, layers=layers)
    if connectivity not in ("chain", "ring"):
        raise ValueError(f"connectivity = {connectivity!r} is invalid: chain or ring")
    qs = tuple(cirq.LineQubit.range(n_qubits))
    circuit, syms = cirq.Circuit(), []
    for layer in range(layers):
        ops, s = ry_column(qs, f"theta_{layer}")
        circuit.append(ops, strategy=cirq.InsertStrategy.NEW_THEN_INLINE)
        circuit.append(cnot_chain(qs, ring=connectivity == "ring"))
        syms += s
    return CircuitSpec("qpa", circuit, qs, tuple(syms), readout=qs)


ENCODER_ANSATZE = ("chain", "long_range")


def pqc_encoder(layers: int = 2, readout_qubits: int = 8, ansatz: str = "chain", conn_range: int = 2,
                n_qubits: int = ENCODER_QUBITS) -> CircuitSpec:
    """First module: amplitude-encoded ``n_qubits``-qubit input, sPQC x layers, Z readout on the first Q_c qubits.

    ``chain`` (this project's first choice): a layer is an RY column then a CNOT chain; symbols
    ``enc_{l}_{q}``. ``long_range`` (the paper's Fig. 2 block, as third-party gate-based
    reproductions use it): a layer is :func:`long_range_layer` with ranges c = 1..``conn_range``;
    symbols ``enc_{l}_{k}`` and ``enc_{l}_c_{q}``."""
    _check_positive(layers=layers, readout_qubits=readout_qubits, conn_range=conn_range, n_qubits=n_qubits)
    if readout_qubits > n_qubits:
        raise ValueError(f"readout_qubits = {readout_qubits} is invalid: at most the {n_qubits} encoder qubits")
    if ansatz not in ENCODER_ANSATZE:
        raise ValueError(f"encoder ansatz {ansatz!r} is invalid: {' or '.join(ENCODER_ANSATZE)}")
    qs = tuple(cirq.LineQubit.range(n_qubits))
    circuit, syms = cirq.Circuit(), []
    for layer in range(layers):
        if ansatz == "chain":
            ops, s = ry_column(qs, f"enc_{layer}")
            circuit.append(ops, strategy=cirq.InsertStrategy.NEW_THEN_INLINE)
            circuit.append(cnot_chain(qs))
        else:
            ops, s = long_range_layer(qs, f"enc_{layer}", conn_range)
            circuit.append(ops)
        syms += s
    return CircuitSpec("pqc_encoder", circuit, qs, tuple(syms), readout=qs[:readout_qubits],
                       amplitude_input=True)


def long_range_layer(qubits, prefix: str, conn_range: int) -> tuple[list[cirq.Operation], list[sympy.Symbol]]:
    """One PQC1/PQC2 layer: for c in 1..C, i in 0..Q-1: CNOT(i -> i+c mod Q), RY on the target; then an RY column."""
    n, ops, syms = len(qubits), [], []
    for c in range(1, conn_range + 1):
        if c % n == 0:
            continue  # a CNOT onto its own control does not exist
        for i in range(n):
            t = (i + c) % n
            s = sympy.Symbol(f"{prefix}_{len(syms)}")
            ops += [cirq.CNOT(qubits[i], qubits[t]), cirq.ry(s).on(qubits[t])]
            syms.append(s)
    col, s = ry_column(qubits, f"{prefix}_c")
    return ops + col, syms + s


def pqc_main(n_qubits: int, n_inputs: int, reuploads: int = 2, depth: int = 1, conn_range: int = 2,
             readout_qubits: int = 1, separate_blocks: bool = False) -> CircuitSpec:
    """Second module: R x (RY(x_j) on qubit j mod Q, PQC1), PQC2(phi), Z on the first Q_m qubits.

    PQC1 has the same angles theta_q in every block (the spec), or, with ``separate_blocks``,
    its own angles per block (symbols ``pqc1_r{r}_{d}_{k}``; as the third-party reproduction ran it)."""
    _check_positive(n_qubits=n_qubits, n_inputs=n_inputs, reuploads=reuploads, depth=depth,
                    conn_range=conn_range, readout_qubits=readout_qubits)
    if readout_qubits > n_qubits:
        raise ValueError(f"readout_qubits = {readout_qubits} is invalid: at most qubits = {n_qubits}")
    qs = tuple(cirq.LineQubit.range(n_qubits))
    xs = tuple(sympy.Symbol(f"x_{j}") for j in range(n_inputs))
    n_pqc1 = reuploads if separate_blocks else 1
    pqc1 = [[long_range_layer(qs, f"pqc1_r{r}_{d}" if separate_blocks else f"pqc1_{d}", conn_range)
             for d in range(depth)] for r in range(n_pqc1)]
    pqc2 = [long_range_layer(qs, f"pqc2_{d}", conn_range) for d in range(depth)]
    circuit = cirq.Circuit()
    for r in range(reuploads):
        circuit.append(cirq.ry(x).on(qs[j % n_qubits]) for j, x in enumerate(xs))
        for ops, _s in pqc1[r if separate_blocks else 0]:
            circuit.append(ops)
    for ops, _s in pqc2:
        circuit.append(ops)
    weights = tuple(s for block in pqc1 for _o, syms in block for s in syms) + \
        tuple(s for _o, syms in pqc2 for s in syms)
    return CircuitSpec("pqc_main", circuit, qs, weights, data_symbols=xs, readout=qs[:readout_qubits])


def pipeline_circuits(qubits: int, p, enc_qubits: int = ENCODER_QUBITS) -> dict[str, CircuitSpec]:
    """Every circuit the pipeline uses, by file name, from ``qubits``, a ``CircuitsParams`` and the
    PQC encoder's width ``enc_qubits`` (:func:`encoder_qubits` of the SST-2 embedding dimension).

    The E encoders share one circuit definition (each has its own angles), so the main module
    takes ``encoders * encoder_readout`` inputs.
    """
    return {
        "qpa": qpa_ansatz(qubits, p.qpa_layers, p.qpa_connectivity),
        "pqc_encoder": pqc_encoder(p.encoder_layers, p.encoder_readout, p.encoder_ansatz, p.encoder_range,
                                   enc_qubits),
        "pqc_main": pqc_main(qubits, p.encoders * p.encoder_readout, p.reuploads, p.main_depth,
                             p.main_range, p.main_readout, p.reupload_blocks == "separate"),
    }
