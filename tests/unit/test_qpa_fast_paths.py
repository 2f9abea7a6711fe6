"""The QPA step's hand-written shortcuts against the plain autograd computation they replace
(oracle: autograd through generate_from_probs + factors(flat)). Tolerance: 1e-6 relative (the
same expressions in the same order; they agree bit for bit here, the margin allows another
vector width)."""

import pytest
import torch

from quantum_llm.qpa import generator as G

RTOL = 1e-6


def _close(x: torch.Tensor, y: torch.Tensor) -> None:
    assert (x - y).abs().max() <= RTOL * y.abs().max().clamp_min(1e-30)


@pytest.mark.parametrize("gate", [False, True])
@pytest.mark.parametrize("targets", [(G.LoraTarget("lm_head", 24, 300),),
                                     (G.LoraTarget("q", 16, 16), G.LoraTarget("v", 16, 40))])
def test_centred_factors_match_autograd(gate, targets):
    torch.manual_seed(0)
    spec = G.GeneratorSpec(4, 2, 3, targets)
    assert spec.n_b * spec.n_mlp >= spec.m   # with padding past m in the second case
    gen = G.QPAGenerator(spec, "circuit", gate=gate)
    if gate:
        gen.gate.data.fill_(0.7)
    params = [p for p in gen.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(1)
    upstream = {t.name: (torch.randn(spec.rank, t.d_in, generator=g), torch.randn(t.d_out, spec.rank, generator=g))
                for t in targets}

    def run(fast: bool):
        gen.zero_grad(set_to_none=True)
        f = gen.factors() if fast else gen.factors(gen.generate_from_probs(gen.probs()))
        outs = [x for t in targets for x in f[t.name]]
        torch.autograd.backward(outs, [u for t in targets for u in upstream[t.name]])
        return [x.detach().clone() for x in outs], [p.grad.clone() for p in params]

    (fo, fg), (ro, rg) = run(True), run(False)
    for x, y in zip(fo + fg, ro + rg, strict=True):
        _close(x, y)


def test_frozen_circuit_is_simulated_once_per_value_of_theta():
    torch.manual_seed(0)
    src = G.CircuitProbabilities(G.GeneratorSpec(4, 2, 2, (G.LoraTarget("lm_head", 8, 8),)))
    src.theta.requires_grad_(False)
    p1 = src()
    assert src() is p1                                   # cached while theta is unchanged
    assert torch.equal(p1, src.sim.probabilities(src.theta)[0])
    with torch.no_grad():
        src.theta.add_(0.5)                              # an in-place change (as a checkpoint restore does)
    p2 = src()
    assert p2 is not p1 and torch.equal(p2, src.sim.probabilities(src.theta)[0])
    src.theta.requires_grad_(True)                       # trainable again: simulated every call, with a graph
    assert src().requires_grad
