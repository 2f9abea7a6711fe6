"""The library's small C kernels: compiled on first use with the system's C compiler, loaded with ctypes.

Three hot spots have no fused PyTorch op: QISA's Gaussian-kernel attention at inference
(``qisa/fused_attention.c``), and in a QPA training step the generator's small real circuit
with its adjoint gradient (``quantum/real_circuit.c``) and its composed mapping model with the
gradient (``qpa/composed_mapping.c``). Each is one C file of plain loops, built here with
``$CC`` (else ``cc``, ``gcc`` or ``clang``) and ``-O3 -march=native`` (plain ``-O3`` where the
compiler rejects that) in well under a second, into ``$XDG_CACHE_HOME/quantum-llm/kernels``
(default ``~/.cache``; the temp folder when that is not writable), under a name that hashes the
source, the compiler and the CPU, so a change of any of them builds anew. Written with ctypes
rather than as torch C++ extensions: those compile the torch headers, about a minute per
kernel on two cores.

No compiler, a failed build or ``QUANTUM_LLM_KERNELS=0`` leave each caller on its PyTorch path
(the same numbers to float rounding, slower), with one log line saying why.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

ENV_SWITCH = "QUANTUM_LLM_KERNELS"   # "0" turns every C kernel off
FLAG_SETS = (["-O3", "-march=native"], ["-O3"])   # the second where the compiler rejects -march=native


def compiler() -> list[str] | None:
    """The compiler command: ``$CC`` (may carry arguments, e.g. ``ccache gcc``), else the first of
    ``cc``, ``gcc``, ``clang`` on the PATH; None where there is none."""
    cc = shlex.split(os.environ.get("CC", ""))
    if cc:
        exe = shutil.which(cc[0]) or (cc[0] if Path(cc[0]).is_file() else None)
        return [exe, *cc[1:]] if exe else None
    return next(([p] for p in (shutil.which(c) for c in ("cc", "gcc", "clang")) if p), None)


def _cpu_id() -> str:
    """What -march=native compiles for: the CPU's model and feature flags (Linux), else its name."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "|".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags", "Features"))}))
    except OSError:
        return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "quantum-llm" / "kernels"


def _private_temp_dir() -> Path | None:
    """A per-user folder in the shared temp folder, or None when it cannot be trusted: its name is
    predictable, so it must be ours and writable by nobody else before a library from it is loaded."""
    folder = Path(tempfile.gettempdir()) / f"quantum-llm-kernels-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        return None
    return folder


def _build(source: Path, cc: list[str]) -> Path:
    """Compile ``source`` (cached); raises RuntimeError with the compiler's message."""
    version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    errors = []
    for flags in FLAG_SETS:
        key = hashlib.sha256("\0".join([source.read_text(), " ".join(cc), version, " ".join(flags),
                                        platform.machine(), _cpu_id()]).encode()).hexdigest()[:16]
        for folder in (_cache_dir(), _private_temp_dir()):
            if folder is None:
                errors.append("no private temp folder")
                continue
            target = folder / f"{source.stem}-{key}.so"
            if target.is_file():
                return target
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
                os.close(fd)
            except OSError as e:       # an unwritable cache: try the next folder
                errors.append(f"{folder}: {e}")
                continue
            try:
                try:
                    r = subprocess.run([*cc, *flags, "-shared", "-fPIC", "-o", tmp, str(source), "-lm"],
                                       capture_output=True, text=True, timeout=120)
                except subprocess.TimeoutExpired:
                    errors.append(f"{' '.join(flags)}: the compiler took over 120 s")
                    break
                if r.returncode == 0:
                    os.replace(tmp, target)     # atomic: a concurrent build writes the same bytes
                    return target
                errors.append(f"{' '.join(flags)}: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
                break                  # this flag set does not compile here: try the next one
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    raise RuntimeError("; ".join(errors))


@functools.cache
def load(source: Path, what: str) -> ctypes.CDLL | None:
    """The compiled ``source`` (a path beside its Python module), or None with one log line saying
    why; ``what`` names the kernel and the path used instead, for that line. Decided once per
    process (``$CC`` and ``QUANTUM_LLM_KERNELS`` are read on the first call; tests that change
    them clear this cache and the callers' own)."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        log.info("%s: C kernel off (%s=0)", what, ENV_SWITCH)
        return None
    cc = compiler()
    if cc is None:
        log.warning("%s: C kernel unavailable, no C compiler found (set CC); the same numbers, slower", what)
        return None
    try:
        return ctypes.CDLL(str(_build(source, cc)))
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log.warning("%s: C kernel unavailable, building it with %s failed (%s); the same numbers, slower",
                    what, " ".join(cc), e)
        return None
