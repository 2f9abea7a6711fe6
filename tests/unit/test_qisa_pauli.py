"""Pauli strings and their matrix-free quadratic forms, against the dense Kronecker-product oracle."""

import numpy as np
import pytest
import torch

from quantum_llm.qisa.pauli import (
    PauliString,
    PauliValueMap,
    dense_pauli_matrix,
    index_sign_tables,
    n_qubits_for,
    pauli_forms_gather,
    pauli_pair_table,
    sample_pauli_strings,
)

TOL = 1e-5


def dense_forms(u: torch.Tensor, strings: list[str]) -> torch.Tensor:
    """Oracle: Re(u^T O u) with O the dense 2**n x 2**n Kronecker product; u zero-padded."""
    n = len(strings[0])
    pad = torch.zeros(u.shape[0], 2**n, dtype=torch.complex128)
    pad[:, : u.shape[1]] = u.to(torch.complex128)
    return torch.stack([torch.einsum("bi,ij,bj->b", pad, dense_pauli_matrix(s), pad).real for s in strings], -1)


@pytest.mark.parametrize("dim", [2, 5, 8, 13, 16])
def test_fast_forms_match_dense_matrices(dim):
    rng = np.random.default_rng(dim)
    n = n_qubits_for(dim)
    # every string on few qubits, plus seeded samples: covers X/Y/Z masks, padding and phases
    strings = sample_pauli_strings(24, n, rng)
    if n <= 3:
        import itertools
        strings += ["".join(p) for p in itertools.product("IXYZ", repeat=n) if set(p) != {"I"}]
    u = torch.randn(7, dim, dtype=torch.float64)
    want = dense_forms(u, strings)
    idx, sign = index_sign_tables(strings, dim)
    got_gather = pauli_forms_gather(u, idx, sign.double())
    got_pairs = PauliValueMap(strings, dim).double()(u)
    assert torch.allclose(got_gather, want, atol=TOL), (got_gather - want).abs().max()
    assert torch.allclose(got_pairs, want, atol=TOL), (got_pairs - want).abs().max()


def test_odd_number_of_y_gives_zero_identically():
    u = torch.randn(5, 8)
    for s in ("YII", "IYZ", "XYX", "YYY", "ZZY"):
        assert PauliString.parse(s).real_phase == 0
        assert torch.equal(PauliValueMap([s], 8)(u), torch.zeros(5, 1))
        _, sign = index_sign_tables([s], 8)
        assert not sign.any()
    assert PauliValueMap(["YYI"], 8)(u).abs().sum() > 0  # an even number of Y's does not vanish


def test_no_large_matrix_in_the_fast_form():
    strings = sample_pauli_strings(16, 4, np.random.default_rng(0))
    left, right, table = pauli_pair_table(strings, 16)
    assert table.shape[1] == 16 and table.shape[0] == left.numel() == right.numel() <= 16 * 17 // 2
    assert (left <= right).all()


def test_sampling_is_seeded_never_all_identity_and_mostly_identity():
    a = sample_pauli_strings(500, 4, np.random.default_rng(3))
    assert a == sample_pauli_strings(500, 4, np.random.default_rng(3))
    assert a != sample_pauli_strings(500, 4, np.random.default_rng(4))
    assert all(set(s) != {"I"} and len(s) == 4 for s in a)
    # conditioned on not all-I, about 0.9**3 of strings have 3 I's and a single non-I character
    share_single = np.mean([s.count("I") == 3 for s in a])
    assert 0.75 < share_single < 0.95


def test_parse_rejects_bad_strings():
    with pytest.raises(ValueError, match="not a Pauli string"):
        PauliString.parse("IXA")
    assert PauliString.parse("XYZI") == PauliString(x_mask=0b1100, z_mask=0b0110, n_y=1, n_qubits=4)
