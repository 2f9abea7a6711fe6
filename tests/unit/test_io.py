"""Atomic outputs: all or nothing at the target path."""

import os

import pytest

from quantum_llm.io import atomic_dir, atomic_file, sha256_path


def test_atomic_dir_replaces_target_on_success(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()  # nothing visible until done
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~mask  # not mkdtemp's private 0700
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.bin").write_bytes(b"x" * 10)
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_failure_keeps_previous_content(tmp_path):
    target = tmp_path / "m.json"
    target.write_text("previous")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as fh:
        fh.write("partial")
        raise KeyboardInterrupt
    assert target.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_sha256_path_of_folder_depends_on_names_and_content(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a/x").write_text("1")
    h1 = sha256_path(tmp_path / "a")
    (tmp_path / "a/x").write_text("2")
    h2 = sha256_path(tmp_path / "a")
    (tmp_path / "a/x").rename(tmp_path / "a/y")
    assert len({h1, h2, sha256_path(tmp_path / "a")}) == 3


def test_atomic_dir_restores_the_previous_version_if_the_final_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_replace = os.replace

    def failing(src, dst):
        if ".tmp-old-" not in str(src) and ".tmp-old-" not in str(dst):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="disk full"), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert (target / "old.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out"]


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_scratch_of_a_killed_writer_is_removed_by_the_next_write(tmp_path, kind):
    dead = _dead_pid()
    target = tmp_path / "metrics"
    litter = [tmp_path / f".metrics.tmp-{dead}-abc123", tmp_path / ".metrics.tmp-q8x_y2zz",  # also an untagged one
              tmp_path / f".metrics.tmp-old-{dead}"]
    for d in litter:
        d.mkdir()
        (d / "metrics.json").write_text('{"half": ')  # a partial file, as a killed stage leaves it
    alive = tmp_path / f".metrics.tmp-{os.getpid()}-zzz"  # a running writer's scratch is kept
    alive.mkdir()
    other = tmp_path / ".other.tmp-1-x"  # another target's scratch is not ours to judge
    other.mkdir()
    if kind == "dir":
        with atomic_dir(target) as tmp:
            (tmp / "metrics.json").write_text("{}")
    else:
        with atomic_file(target) as fh:
            fh.write("{}")
    assert not any(d.exists() for d in litter)
    assert alive.exists() and other.exists() and target.exists()


def test_outputs_get_umask_permissions_even_when_a_library_writes_0600(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "model") as tmp:
            f = tmp / "model.safetensors"
            f.write_bytes(b"x")
            os.chmod(f, 0o600)  # what safetensors/huggingface writers leave
            (tmp / "sub").mkdir(mode=0o700)
            (tmp / "sub" / "w.bin").write_bytes(b"y")
            os.chmod(tmp / "sub" / "w.bin", 0o600)
        with atomic_file(tmp_path / "m.json") as fh:
            fh.write("{}")
    finally:
        os.umask(old)
    mode = lambda p: oct(p.stat().st_mode & 0o777)  # noqa: E731
    assert mode(tmp_path / "model") == "0o755" and mode(tmp_path / "model/sub") == "0o755"
    assert mode(tmp_path / "model/model.safetensors") == "0o644" and mode(tmp_path / "model/sub/w.bin") == "0o644"
    assert mode(tmp_path / "m.json") == "0o644"
