"""Every module of the science code that a stage script imports is one of the stage's DVC deps,
so changing it re-runs the stage (and its lineage says dirty): the static import graph of each
`python stages/<x>.py` command, followed through `quantum_llm` (module-level imports, including
package `__init__` files, which Python runs on any submodule import), against the stage's deps
in dvc.yaml (a declared folder covers its files).

Infrastructure modules that do not change what a stage computes are exempt: reading params
(config), atomic writes (io), manifests (lineage), the stage runner (stage), the device choice
(device; by design out of the params hash) and the CLI. Imports inside functions are not
followed (a lazy import such as report/__init__'s builders only runs when asked for)."""

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
EXEMPT = {f"src/quantum_llm/{n}.py" for n in ("config", "io", "lineage", "stage", "device", "cli", "profiles")}
EXEMPT.add("src/quantum_llm/__init__.py")


def _module_file(name: str) -> Path | None:
    p = SRC.joinpath(*name.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def _top_level_imports(path: Path) -> set[str]:
    """quantum_llm modules imported by module-level statements (not inside functions)."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(SRC).with_suffix("").parts if path.is_relative_to(SRC) else ()
    package = list(rel[:-1]) if rel and rel[-1] != "__init__" else list(rel[:-1])
    found: set[str] = set()
    nodes = [n for n in tree.body]
    while nodes:
        n = nodes.pop()
        if isinstance(n, (ast.If, ast.Try)):   # `if TYPE_CHECKING:` / try-import blocks at module level
            nodes += n.body + n.orelse + getattr(n, "finalbody", []) + [b for h in getattr(n, "handlers", []) for b in h.body]
        elif isinstance(n, ast.Import):
            found |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                base = ".".join(package[: len(package) - (n.level - 1)] + ([n.module] if n.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in n.names}
    return {m for m in found if m.startswith("quantum_llm")}


def _closure(script: Path) -> set[str]:
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for name in _top_level_imports(todo.pop()):
            parts = name.split(".")
            for k in range(1, len(parts) + 1):   # importing a.b.c runs a/__init__ and a/b/__init__ too
                f = _module_file(".".join(parts[:k]))
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return {str(f.relative_to(ROOT)) for f in seen}


def _stages():
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        m = re.search(r"python (stages/\S+\.py)", stage["cmd"])
        if m:
            yield pytest.param(name, m[1], [str(d) for d in stage.get("deps", [])], id=name)


def _c_sources(files: set[str]) -> set[str]:
    """The C kernels those modules compile and load (``Path(__file__).with_name("<name>.c")``)."""
    out = set()
    for f in files:
        for name in re.findall(r'with_name\("([\w.]+\.c)"\)', (ROOT / f).read_text()):
            out.add(str(Path(f).parent / name))
    return out


@pytest.mark.parametrize(("stage", "script", "deps"), list(_stages()))
def test_every_imported_science_module_is_a_dep(stage, script, deps):
    assert script in deps, f"{stage}: its script {script} is not a dep"
    closure = _closure(ROOT / script)
    missing = sorted(f for f in (closure | _c_sources(closure)) - EXEMPT
                     if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps))
    assert not missing, f"stage {stage} imports {missing} but dvc.yaml does not list them (or their folder) in its deps"


def test_the_c_kernels_are_found_beside_their_modules():
    # oracle: the QISA and QPA-circuit kernels, loaded by fused.py and c_sim.py
    assert _c_sources({"src/quantum_llm/qisa/fused.py", "src/quantum_llm/quantum/c_sim.py"}) == {
        "src/quantum_llm/qisa/fused_attention.c", "src/quantum_llm/quantum/real_circuit.c"}


def test_the_import_walk_sees_package_inits_and_relative_imports():
    # oracle: stages/circuits.py builds circuits through quantum_llm.quantum, whose __init__ imports
    # the backends; a walk that missed package __init__ files or relative imports would not list them
    found = _closure(ROOT / "stages" / "circuits.py")
    assert {"src/quantum_llm/quantum/__init__.py", "src/quantum_llm/quantum/backends.py",
            "src/quantum_llm/quantum/circuits.py"} <= found
