"""Every test here needs a CUDA device: marked ``gpu`` and skipped, with the reason, without one.
They never fall back to the CPU (a skipped test says so; nothing is faked)."""

import pytest
import torch

CUDA_REASON = (f"needs a CUDA device: torch {torch.__version__} (CUDA build: {torch.version.cuda or 'none'}) "
               "sees none; see docs/gpu.md")


def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.gpu)
            if not torch.cuda.is_available():
                item.add_marker(pytest.mark.skip(reason=CUDA_REASON))
