"""Property: whatever one edits in params.yaml (types, ranges, typos, deletions, syntax),
`quantum-llm check-params` accepts it or prints exactly one line and exits 2, never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantum_llm.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def _paths(node, prefix=()):
    """Every key path of the params tree (mappings only; list items count as values)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))


PATHS = sorted(_paths(BASE), key=str)
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["8", "true", "1e-3", "hf:", "path:/nope", "pypi:x", "--index-url=x"]),
    st.lists(st.integers(-3, 40), max_size=4), st.lists(st.text(max_size=4), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=2),
)


def _typo(key: str, i: int, op: int) -> str:
    i = i % (len(key) + 1)
    return [key[:i] + key[i + 1:], key[:i] + "x" + key[i:], key + "s", key.upper()][op % 4] or "x"


@st.composite
def mutated(draw):
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = doc
        for k in path[:-1]:
            if not isinstance(parent, dict) or k not in parent:
                break
            parent = parent[k]
        else:
            if not isinstance(parent, dict) or path[-1] not in parent:
                continue
            kind = draw(st.sampled_from(["value", "delete", "typo"]))
            if kind == "value":
                parent[path[-1]] = draw(VALUES)
            elif kind == "delete":
                del parent[path[-1]]
            else:
                parent[_typo(path[-1], draw(st.integers(0, 30)), draw(st.integers(0, 3)))] = parent.pop(path[-1])
    text = yaml.safe_dump(doc, sort_keys=False)
    if draw(st.booleans()) and draw(st.booleans()):  # a quarter of the files: break the syntax too
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from(["[", ": :", "\t", "{", "'", "\n  - x\n"])) + text[i:]
    return text


@pytest.fixture
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    (d / "data").symlink_to(ROOT / "data")
    return d


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_check_params_accepts_or_says_one_line(workdir, monkeypatch, capsys, text):
    monkeypatch.chdir(workdir)
    (workdir / "params.yaml").write_text(text)
    rc = main(["check-params"])  # in-process: an uncaught exception fails the test with its traceback
    out, err = capsys.readouterr()
    if rc == 0:
        assert not err.strip() and "sections valid" in out
    else:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: params.yaml"), err
        assert "Traceback" not in err
