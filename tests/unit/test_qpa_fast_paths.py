"""The QPA step's hand-written shortcuts against the plain autograd computation they replace
(oracle: autograd through generate_from_probs + factors(flat), the gate on B). Tolerances,
relative to the largest value: 1e-10 in float64 (the same function; the centring's mean is
summed in another order) and 1e-5 in float32 (what training uses: rounding only)."""

import pytest
import torch

from quantum_llm.qpa import generator as G

RTOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _close(x: torch.Tensor, y: torch.Tensor) -> None:
    assert (x - y).abs().max() <= RTOL[y.dtype] * y.abs().max().clamp_min(1e-30)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("gate", [False, True])
@pytest.mark.parametrize("targets", [(G.LoraTarget("lm_head", 24, 300),),
                                     (G.LoraTarget("q", 16, 16), G.LoraTarget("v", 16, 40))])
@pytest.mark.parametrize("activation", ["none", "relu"])
def test_centred_factors_match_autograd(gate, targets, dtype, activation):
    """activation none: the mapping model's affine layers composed into one map (products from
    the input side); relu: layer by layer. Both against the published order."""
    torch.manual_seed(0)
    spec = G.GeneratorSpec(4, 2, 3, targets, activation=activation)
    assert spec.n_b * spec.n_mlp > spec.m   # padding past m: the centring's mean leaves the last row's tail out
    gen = G.QPAGenerator(spec, "circuit", gate=gate).to(dtype)
    if gate:
        gen.gate.data.fill_(0.7)
    params = [p for p in gen.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(1)
    upstream = {t.name: (torch.randn(spec.rank, t.d_in, generator=g, dtype=dtype),
                         torch.randn(t.d_out, spec.rank, generator=g, dtype=dtype)) for t in targets}

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


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_the_training_step_with_the_gate_on_the_input_side_equals_autograd_with_the_gate_on_b(dropout):
    # oracle: one autograd pass through the reference factors (gate on B) and PyTorch's cross-entropy
    # of the full logits, with the same dropout mask (the run's generator rewound); checked: Run.step's
    # loss and every generator gradient it leaves (its hand-written loss backward into the chunk's
    # gradient, the gate applied to x A^T, then the generator's backward), before the optimizer moves anything
    from quantum_llm.qpa.train import Run, TrainConfig, rows

    g = torch.Generator().manual_seed(2)
    v, d = 300, 24
    weight = torch.randn(v, d, generator=g) * 0.3
    h, y = torch.randn(32, d, generator=g), torch.randint(0, v, (32,), generator=g)
    cfg = TrainConfig(steps=4, batch_tokens=32, lrs=(0.0,), seed=0, scaling=2.0, dropout=dropout, n_qubits=4,
                      layers=2)
    # learning rate 0: the optimizer step moves nothing and the gradients stay until the next step
    run = Run(next(r for r in rows(3, [3]) if r.name == "qpa_gated"), 0.0, cfg, weight)
    gen = run.generator
    with torch.no_grad():
        gen.gate.fill_(0.7)
    base = h @ weight.T
    state = run.rng.get_state()
    loss = run.step(h, base, y)
    fast = {n: p.grad.clone() for n, p in gen.named_parameters()}

    run.rng.set_state(state)
    hd = run.dropped(h, True)
    assert torch.equal(hd, h) == (dropout == 0.0)
    gen.zero_grad(set_to_none=True)
    a, b = gen.factors(gen.generate_from_probs(gen.probs()))["lm_head"]
    ref = torch.nn.functional.cross_entropy(base + cfg.scaling * (hd @ a.T) @ b.T, y)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-6)
    for n, p in gen.named_parameters():
        _close(fast[n], p.grad)
    assert fast["gate"].abs() > 0


@pytest.mark.parametrize("n_qubits,n_b", [(3, 8), (4, 11)])
def test_transform_backward_equals_autograd_through_the_formula(n_qubits, n_b):
    """Transform's hand-written backward against autograd through the published formula
    (tanh, clamped power, where, centring, first n_b), float64 to 1e-12, with exact zeros and
    tiny probabilities below the clamp among the inputs."""
    g = torch.Generator().manual_seed(3)
    p = torch.rand(2**n_qubits, generator=g, dtype=torch.float64)
    p[1], p[2] = 0.0, 1e-33
    p = (p / p.sum()).requires_grad_()
    up = torch.randn(n_b, generator=g, dtype=torch.float64)

    def formula(q):
        t = G.BETA * torch.tanh(G.GAMMA * 2 ** (n_qubits - 1) * q)
        x = torch.where(t > 0, t.clamp_min(1e-30) ** G.ALPHA, torch.zeros_like(t))
        return (x - x.mean())[:n_b]

    want = formula(p)
    (gw,) = torch.autograd.grad(want @ up, p)
    got = G.transform(p, n_qubits, n_b)
    (gg,) = torch.autograd.grad(got @ up, p)
    _close(got, want)
    _close(gg, gw)
    assert RTOL[torch.float64] == 1e-10 and (got - want).abs().max() <= 1e-12


def test_composed_mapping_in_c_equals_its_pytorch_path_and_runs_in_float32(monkeypatch):
    """float32 on the CPU takes the C kernel (composed_mapping.c): its chunk and every gradient
    equal the PyTorch path's (the same Function with the kernel off) to 1e-5 of the largest, at
    the default shape's structure (8 layers, n_mlp > 1024, a tail past m)."""
    from quantum_llm import cbuild

    if G._mapping_kernel() is None:
        pytest.skip("no C compiler here (or QUANTUM_LLM_KERNELS=0)")
    calls = []
    real = G._mapping_kernel().qpa_mapping_forward
    torch.manual_seed(0)
    spec = G.GeneratorSpec(5, 2, 4, (G.LoraTarget("lm_head", 48, 9001),))
    gen = G.QPAGenerator(spec, "circuit", gate=True)
    assert spec.n_b * spec.n_mlp > spec.m and spec.n_mlp > 1024
    params = [*gen.mapping.parameters(), gen.probs.theta]     # (the gate is not in the chunk)
    up = torch.randn(spec.n_b, spec.n_mlp)

    def run():
        for p in params:
            p.grad = None
        chunk = gen.centred_chunk(gen.probs())
        chunk.backward(up)
        return [chunk.detach()] + [p.grad.clone() for p in params]

    lib = G._mapping_kernel()
    monkeypatch.setattr(lib, "qpa_mapping_forward", lambda *a: calls.append(1) or real(*a))
    fast = run()
    assert calls == [1]
    monkeypatch.setattr(G, "_mapping_kernel", lambda: None)
    slow = run()
    for x, y in zip(fast, slow, strict=True):
        assert (x - y).abs().max() <= 1e-5 * y.abs().max()
    assert cbuild.ENV_SWITCH == "QUANTUM_LLM_KERNELS"
