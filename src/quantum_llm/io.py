"""Atomic outputs: a stage writes into a scratch folder beside the target and renames it into
place only when everything succeeded, so an interrupted stage never leaves a half-written
artifact at a path DVC would cache.

Scratch entries are named ``.<target>.tmp-<pid>-<random>``. A stage killed with SIGKILL cannot
clean up, so the next write of the same target removes the scratch entries of processes that
no longer run (:func:`remove_stale_scratch`)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask_mode(base: int) -> int:
    """mkdtemp/mkstemp create private 0700/0600 entries; outputs get the usual umask permissions."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _scratch_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's live process (or a pid we cannot judge): leave it alone
    return True


def remove_stale_scratch(target: str | Path) -> list[Path]:
    """Remove ``.<target>.tmp-*`` entries left beside ``target`` by processes that are gone
    (killed stages); entries of running processes are kept. Returns what was removed."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    prefix = _scratch_prefix(target)
    for entry in target.parent.iterdir():
        if not entry.name.startswith(prefix):
            continue
        tag = entry.name[len(prefix):].removeprefix("old-").split("-", 1)[0]
        if tag.isdigit() and _pid_alive(int(tag)):
            continue
        _remove(entry)  # a dead writer's scratch, or an untagged one from an older version
        removed.append(entry)
    return removed


def _publish_modes(root: Path) -> None:
    """Some libraries write private 0600 files (e.g. through their own temp files); outputs get
    the usual umask permissions (0644 files, 0755 folders under umask 022) like any other file."""
    os.chmod(root, _umask_mode(0o777))
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, _umask_mode(0o777))
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                mode = 0o777 if os.stat(p).st_mode & 0o111 else 0o666
                os.chmod(p, _umask_mode(mode))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield an empty scratch folder; on success it replaces ``target``, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(target)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_scratch_prefix(target)}{os.getpid()}-", dir=target.parent))
    os.chmod(tmp, _umask_mode(0o777))
    try:
        yield tmp
        _publish_modes(tmp)
        old = None
        if target.exists() or target.is_symlink():
            old = target.with_name(f"{_scratch_prefix(target)}old-{os.getpid()}")
            _remove(old)
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None:  # put the previous version back rather than leave nothing
                os.replace(old, target)
            raise
        if old is not None:
            _remove(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(target: str | Path, mode: str = "w") -> Iterator[Any]:
    """Open a scratch file for writing; it is renamed onto ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(target)
    fd, name = tempfile.mkstemp(prefix=f"{_scratch_prefix(target)}{os.getpid()}-", dir=target.parent)
    os.chmod(name, _umask_mode(0o666))
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


def timing_path(metrics: str | Path) -> Path:
    """``x/run.json`` -> ``x/run.timing.json``: where a stage's wall-clock timings go, beside its
    science metrics and declared as a DVC-cached out, so reruns leave git-tracked metrics unchanged."""
    metrics = Path(metrics)
    return metrics.with_name(f"{metrics.name.removesuffix('.json')}.timing.json")


def write_json(target: str | Path, obj: Any) -> None:
    with atomic_file(target) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


@functools.cache
def pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend (selected once, on the first call)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | Path, **savefig_kw: Any) -> None:
    """Write ``fig`` as a PNG at ``path`` via :func:`atomic_file` (a crash never leaves a
    half-written image), then close it. ``savefig_kw`` go to ``fig.savefig`` (dpi, metadata...)."""
    try:
        with atomic_file(path, "wb") as fh:
            fig.savefig(fh, **{"format": "png", **savefig_kw})
    finally:
        plt = sys.modules.get("matplotlib.pyplot")  # a figure made without pyplot has nothing to close
        if plt is not None:
            plt.close(fig)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_path(path: str | Path) -> str:
    """sha256 of a file, or of a folder's sorted (relative path, file sha256) list."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def read_parquet(path: str | Path, columns: list[str] | None = None, *, stage: str):
    """A Parquet file written by ``stage`` as a ``pyarrow.Table``; a missing, truncated or
    corrupted file, or one without ``columns``, is one :class:`InputError` line naming the file
    and the fix (rebuild it), not a pyarrow traceback. The one reader every stage uses."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .stage import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found (run `dvc repro {stage}`)")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(f"{path}: not a readable Parquet file with columns {columns} ({first}); "
                         f"rebuild it with `dvc repro -f {stage}`") from None


def hub_revision(repo_id: str, repo_type: str) -> str:
    """The commit sha a Hugging Face hub repo (``model`` or ``dataset``) resolves to now."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().repo_info(repo_id, repo_type=repo_type)
    except Exception as e:  # noqa: BLE001 - offline, unknown id, gated...: one line for the user
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        from .stage import InputError

        raise InputError(f"hf:{repo_id}: cannot resolve the hub revision ({type(e).__name__}: {first}); "
                         "check the id and that the hub is reachable, or use a local source") from None
    return info.sha
