"""Render the sections as an HTML page and its Markdown twin, through Jinja2 templates
(``templates/page.html``, ``templates/page.md``).

The HTML is one self-contained file (inline CSS, no JavaScript, images beside it in ``img/``),
so it opens from disk, in CI artifacts and on any static host.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2

from ..stats import VERDICTS
from .model import Lineage, Section, Table

_HEX = re.compile(r"\b[0-9a-f]{40,64}\b")
TITLE = "quantum-llm: paper claims vs our measurements"
COLUMNS = ["Claim", "Paper", "Protocol", "Ours (mean ± std, n)", "95 % interval", "Rule", "Verdict", "Lineage"]
LINEAGE_COLUMNS = ["ref", "params hash", "circuit hash", "data hash", "commit", "metrics"]


def short(text: str | None) -> str:
    """Full sha256/sha1 values shortened to 12 characters for reading (the full ones are in the files)."""
    if text is None:
        return "not recorded"
    return _HEX.sub(lambda m: m.group(0)[:12], str(text))


def commit(e: Lineage) -> str:
    if not e.commit:
        return "not recorded"
    if not e.dirty:
        return e.commit[:12]
    return e.commit[:12] + " + uncommitted changes" + (f" to {', '.join(e.dirty_deps)}" if e.dirty_deps else "")


def verdict_cells(v) -> list[str]:
    return [v.claim, v.paper, v.protocol, v.measured, v.interval_text, v.rule, v.verdict, ", ".join(v.lineage)]


def lineage_cells(e: Lineage) -> list[str]:
    return [e.ref, short(e.params_hash), short(e.circuit_hash), short(e.data_hash), commit(e), ", ".join(e.sources)]


def md_cell(s: object) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def verdict_class(s: str) -> str:
    return {VERDICTS[0]: "holds", VERDICTS[1]: "fails", VERDICTS[2]: "unsure", VERDICTS[3]: "unclaimed"}.get(s, "")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(md=md_cell, verdict_class=verdict_class, verdict_cells=verdict_cells,
                       lineage_cells=lineage_cells)
    env.globals.update(COLUMNS=COLUMNS, LINEAGE_COLUMNS=LINEAGE_COLUMNS, verdict_cells=verdict_cells,
                       lineage_cells=lineage_cells, VERDICTS=VERDICTS)
    return env


def markdown(sections: list[Section], *, img_prefix: str = "img/", level: int = 1, lineage: bool = True,
             title: str | None = TITLE) -> str:
    text = _env().get_template("page.md").render(sections=sections, img_prefix=img_prefix, h="#" * level,
                                                 lineage=lineage, title=title)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def markdown_table(table: Table) -> str:
    """One table in Markdown (the same macro as the page's tables), caption in bold above it."""
    body = _env().from_string('{% from "table.md" import md_table %}{{ md_table(header, rows) }}').render(
        header=table.header, rows=table.rows)
    return f"**{table.caption}**\n\n{body.strip()}\n"


def to_html(sections: list[Section], *, img_prefix: str = "img/") -> str:
    return _env().get_template("page.html").render(sections=sections, img_prefix=img_prefix, title=TITLE)
