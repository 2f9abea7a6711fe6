"""QPA training and evaluation honour an explicit device: on the CPU, ``device="cpu"`` gives
exactly (bit for bit) what the default (QUANTUM_LLM_DEVICE=cpu) gives; a CUDA device that is
absent is one clear error. The CUDA-vs-CPU agreement is in tests/gpu/test_qpa_cuda.py."""

import pytest
import torch

from quantum_llm.config import ParamsError
from quantum_llm.qpa.evaluate import line_nll
from quantum_llm.qpa.train import Split, TrainConfig, rows, train_rows

V, D = 300, 24


def tiny_problem():
    """A random output layer (V, D) and train / val splits of cached final hidden states."""
    g = torch.Generator().manual_seed(123)
    weight = torch.randn(V, D, generator=g) * 0.3

    def split(n, lines):
        return Split(torch.randn(n, D, generator=g), torch.randint(0, V, (n,), generator=g), torch.arange(n) % lines)

    return weight, split(200, 10), split(60, 6)


def tiny_cfg(**kw) -> TrainConfig:
    base = dict(steps=6, batch_tokens=16, lrs=(1e-3, 3e-2), seed=0, scaling=2.0, dropout=0.1, n_qubits=4, layers=2,
                eval_every=2, eval_chunk=25)
    return TrainConfig(**{**base, **kw})


def summary(results) -> dict:
    """Everything a trained grid reports: chosen lr, factors, per-lr curves and diagnostics."""
    out = {}
    for name, res in results.items():
        a, b = res.run.factors()
        out[name] = (res.lr, a.detach().cpu(), b.detach().cpu(),
                     {lr: (d["best_val_loss"], d["best_step"], d["curve"], d["start"], d["end"]) for lr, d in res.by_lr.items()})
    return out


def assert_identical(x: dict, y: dict) -> None:
    assert x.keys() == y.keys()
    for k in x:
        (lx, ax, bx, dx), (ly, ay, by, dy) = x[k], y[k]
        assert lx == ly and dx == dy, k
        assert torch.equal(ax, ay) and torch.equal(bx, by), k


def test_explicit_cpu_device_equals_the_default(monkeypatch):
    monkeypatch.setenv("QUANTUM_LLM_DEVICE", "cpu")
    weight, train, val = tiny_problem()
    grid = rows(2, [2])
    default = summary(train_rows(weight, train, val, grid, tiny_cfg()))
    for dev in ("cpu", torch.device("cpu")):
        res = train_rows(weight, train, val, grid, tiny_cfg(), device=dev)
        assert all(p.device.type == "cpu" for r in res.values() for p in r.run.params)
        assert_identical(summary(res), default)


def test_line_nll_on_an_explicit_cpu_device_equals_the_default(monkeypatch):
    monkeypatch.setenv("QUANTUM_LLM_DEVICE", "cpu")
    weight, _, test = tiny_problem()
    g = torch.Generator().manual_seed(5)
    adapters = {"base": None, "ad": (torch.randn(2, D, generator=g), torch.randn(V, 2, generator=g), 2.0)}
    sums, tokens = line_nll(weight, test, adapters, chunk=7)
    sums_cpu, tokens_cpu = line_nll(weight, test, adapters, chunk=7, device="cpu")
    assert (tokens == tokens_cpu).all()
    assert all((sums[k] == sums_cpu[k]).all() for k in adapters)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_an_absent_cuda_device_is_one_clear_error():
    weight, train, val = tiny_problem()
    with pytest.raises(ParamsError, match="sees no CUDA device"):
        train_rows(weight, train, val, rows(2, [2])[:1], tiny_cfg(), device="cuda")
    with pytest.raises(ParamsError, match="sees no CUDA device"):
        line_nll(weight, val, {"base": None}, device="cuda:0")


def test_runs_stepped_side_by_side_equal_runs_stepped_one_after_the_other(monkeypatch):
    # oracle: the same grid with every run stepped in turn on one thread (what each pool thread
    # does); the validation passes run on the same threads in both. Bit for bit: runs share nothing
    # they write, so the thread pool's schedule cannot change a result
    from quantum_llm.qpa import train as T

    class OneAfterTheOther(T.GridStepper):
        def step(self, runs, h, base, y):
            with T.one_thread():
                return [self._timed(r, h, base, y) for r in runs]

    weight, train, val = tiny_problem()
    grid = rows(2, [2, 1])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with T.GridStepper(torch.device("cpu"), len(grid)) as stepper:
            assert stepper.workers == 2
        side_by_side = summary(train_rows(weight, train, val, grid, tiny_cfg(steps=8)))
        monkeypatch.setattr(T, "GridStepper", OneAfterTheOther)
        in_turn = summary(train_rows(weight, train, val, grid, tiny_cfg(steps=8)))
    finally:
        torch.set_num_threads(threads)
    assert_identical(side_by_side, in_turn)


def test_each_thread_has_its_own_loss_buffers():
    # the pool's runs must never share the (T, V) buffers a loss keeps for its backward
    import threading

    from quantum_llm.qpa.train import train_scratch

    def ptrs():
        return tuple(b.data_ptr() for b in train_scratch((4, 8), torch.float32, torch.device("cpu")))

    here = ptrs()
    assert ptrs() == here                       # reused on the same thread
    other = []
    t = threading.Thread(target=lambda: other.append(ptrs()))
    t.start()
    t.join()
    assert not set(other[0]) & set(here)


def test_a_gradient_set_to_none_is_one_clear_error():
    weight, train, _ = tiny_problem()
    from quantum_llm.qpa.train import Run

    run = Run(rows(2, [2])[0], 1e-2, tiny_cfg(), weight)
    h, y = train.h[:8], train.y[:8]
    run.step(h, h @ weight.T, y)
    run.owner.zero_grad()                       # sets every .grad to None: detached from the flat buffer
    with pytest.raises(RuntimeError, match="zero run.flat.grad instead"):
        run.step(h, h @ weight.T, y)
