"""QPA training (every row of the grid) and test scoring on CUDA against the same on the CPU.

The runs start from the same numbers and see the same batches and dropout masks (all drawn from
CPU generators), so the devices differ only by float32 rounding (cuBLAS's and the CPU's
reduction orders), which a few optimizer steps carry forward. Tolerances: validation losses
within 1e-4 relative, the same learning rate chosen (the grid's rates are 30x apart), the
trained factors within 1e-3 relative (Frobenius), per-line test NLL sums within 1e-5 relative."""

import torch

from quantum_llm.qpa.evaluate import line_nll
from quantum_llm.qpa.io import load_generator, save_generator
from quantum_llm.qpa.train import rows, train_rows

from ..unit.test_qpa_device import D, V, summary, tiny_cfg, tiny_problem

LOSS_RTOL = 1e-4
FACTOR_RTOL = 1e-3
NLL_RTOL = 1e-5


def test_qpa_grid_on_cuda_matches_cpu(tmp_path):
    weight, train, val = tiny_problem()
    grid = rows(2, [2, 4])
    on = {dev: train_rows(weight, train, val, grid, tiny_cfg(), device=dev) for dev in ("cpu", "cuda")}
    assert all(p.device.type == "cuda" for r in on["cuda"].values() for p in r.run.params)
    cpu, cuda = summary(on["cpu"]), summary(on["cuda"])
    for name in cpu:
        (lr_c, a_c, b_c, d_c), (lr_g, a_g, b_g, d_g) = cpu[name], cuda[name]
        assert lr_g == lr_c, name
        for lr in d_c:
            for pc, pg in zip(d_c[lr][2], d_g[lr][2], strict=True):
                assert abs(pg["val_loss"] - pc["val_loss"]) <= LOSS_RTOL * abs(pc["val_loss"]), (name, lr, pc["step"])
        for x, y in ((a_g, a_c), (b_g, b_c)):
            assert (x - y).norm() <= FACTOR_RTOL * max(y.norm().item(), 1e-12), name
    # a generator trained on CUDA saves like one trained on the CPU and loads back on the CPU
    gen = on["cuda"]["qpa_gated"].run.generator
    save_generator(tmp_path, gen, {})
    loaded, _ = load_generator(tmp_path)
    for k, v in gen.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v.cpu()), k


def test_line_nll_on_cuda_matches_cpu():
    weight, _, test = tiny_problem()
    g = torch.Generator().manual_seed(5)
    adapters = {"base": None, "ad": (torch.randn(2, D, generator=g), torch.randn(V, 2, generator=g), 2.0)}
    cpu, tok_cpu = line_nll(weight, test, adapters, chunk=7, device="cpu")
    cuda, tok_cuda = line_nll(weight, test, adapters, chunk=7, device="cuda")
    assert (tok_cpu == tok_cuda).all()
    for k in adapters:
        assert abs(cuda[k] - cpu[k]).max() <= NLL_RTOL * abs(cpu[k]).max(), k
