"""Numbers quoted in ``docs/*.md`` and the README, filled from ``metrics/``.

Prose may quote a measured number only through a marker, ``<!-- m:KEY -->value<!-- /m -->``;
``quantum-llm readme`` rewrites every marked value from the metrics (the same sections the report
renders), and ``quantum-llm readme --check`` (and the test suite) fails when a marked value
disagrees with them. Keys name a claim, a protocol and a field, e.g. ``qisa_ce.paper.interval``:

* ``<claim>.<protocol>.estimate`` / ``.interval`` / ``.verdict`` / ``.answer`` (the rule's outcome,
  also for a question the paper does not claim) / ``.measured``, for every
  verdict on the page (``protocol``: ``paper``, ``corrected`` or ``same``);
* ``docs.keys()`` lists them all (``python -c "from quantum_llm.report import docs; ..."``).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..io import atomic_file
from ..stage import InputError
from ..stats import format_interval
from .claims import CLAIMS
from .collect import collect
from .model import Section
from .verdicts import rule_outcome

# keys are lower case (``KEY`` in prose that explains the markers is not one); a value is one line
MARK = re.compile(r"<!-- m:(?P<key>[a-z0-9_.]+) -->(?P<value>[^\n]*?)<!-- /m -->")


def protocol_slug(protocol: str) -> str:
    return protocol.split()[0].removesuffix("'s")


def numbers(sections: list[Section]) -> dict[str, str]:
    """Every quotable value, by key."""
    out: dict[str, str] = {}
    for s in sections:
        for v in s.verdicts:
            c = CLAIMS[v.key]
            base = f"{c.key}.{protocol_slug(v.protocol)}"
            unit = c.rule.unit
            out[f"{base}.estimate"] = f"{v.interval.estimate:,.2f}{unit}"
            out[f"{base}.interval"] = format_interval(v.interval, 2, unit)
            out[f"{base}.verdict"] = v.verdict
            out[f"{base}.answer"] = rule_outcome(c, v.interval)  # the rule's outcome, also for our own questions
            out[f"{base}.measured"] = v.measured
    return out


OPEN = re.compile(r"<!-- m:[a-z0-9_.]+ -->")


def fill(text: str, values: dict[str, str], where: str | Path) -> str:
    if len(OPEN.findall(text)) != len(MARK.findall(text)):
        raise InputError(f"{where}: a <!-- m:KEY --> marker has no <!-- /m --> on the same line: close it")
    def sub(m: re.Match) -> str:
        key = m["key"]
        if key not in values:
            raise InputError(f"{where}: unknown number key {key!r} in a <!-- m:... --> marker: use one of "
                             f"quantum_llm.report.docs.numbers() (e.g. {next(iter(values))})")
        return f"<!-- m:{key} -->{values[key]}<!-- /m -->"
    return MARK.sub(sub, text)


def refresh_numbers(files: list[Path], metrics: str | Path, check: bool = False) -> list[Path]:
    """Fill every marker in ``files`` from ``metrics``; returns the files that were (with
    ``check``: would be) changed."""
    values = numbers(collect(metrics))
    stale = []
    for f in files:
        text = f.read_text()
        new = fill(text, values, f)
        if new != text:
            stale.append(f)
            if not check:
                with atomic_file(f) as fh:
                    fh.write(new)
    return stale


def doc_files(readme: str | Path, docs: str | Path) -> list[Path]:
    return [Path(readme), *sorted(Path(docs).glob("*.md"))] if Path(docs).is_dir() else [Path(readme)]
