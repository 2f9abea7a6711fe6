"""The report page renders in a real browser: headless Chromium (Debian's package, installed
here if missing) loads reports/index.html built from the repository's metrics; the test fails
on a broken image, a missing claims table, a verdict cell that is not one of the four verdicts,
or any console error."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from quantum_llm.report import build_report
from quantum_llm.stats import VERDICTS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def chromium() -> str:
    """Path of a Chromium binary; installs Debian's `chromium` package when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            subprocess.run(cmd, check=True, env=env, capture_output=True)
        found = shutil.which("chromium")
    if not found:
        pytest.fail("Chromium is not installed and could not be installed: run `apt-get install chromium` "
                    "(Debian) or put a chromium binary on PATH")
    return found


def inspect(page_file: Path) -> dict:
    """Open the page; return console errors, failed requests, broken images and tables found."""
    from playwright.sync_api import sync_playwright

    errors, failed = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(page_file.as_uri(), wait_until="load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => ({src: e.getAttribute('src'), ok: e.complete && e.naturalWidth > 0}))")
        sections = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
        claims = page.eval_on_selector_all(
            "section table.claims", "els => els.map(t => t.querySelectorAll('tbody tr').length)")
        # the text of every cell in the column headed "Verdict", found by its header
        verdicts = page.eval_on_selector_all("section table.claims", """tables => tables.flatMap(t => {
            const col = [...t.querySelectorAll('thead th')].findIndex(th => th.textContent.trim() === 'Verdict');
            return [...t.querySelectorAll('tbody tr')].map(r => col < 0 ? null : r.cells[col].textContent.trim());
        })""")
        browser.close()
    return {"errors": errors, "failed": failed, "images": images, "sections": sections, "claims": claims,
            "verdicts": verdicts}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "reports"
    build_report(ROOT / "metrics", out)
    return out


def test_page_renders_with_every_image_table_and_no_console_error(built):
    seen = inspect(built / "index.html")
    assert seen["sections"] == ["qpa", "qisa", "pqc"]
    assert len(seen["claims"]) == 3 and all(n >= 3 for n in seen["claims"]), seen["claims"]
    assert len(seen["images"]) >= 6
    assert [i["src"] for i in seen["images"] if not i["ok"]] == []
    assert seen["failed"] == [] and seen["errors"] == []
    assert len(seen["verdicts"]) == sum(seen["claims"])
    assert [v for v in seen["verdicts"] if v not in VERDICTS] == [], seen["verdicts"]


def test_the_check_catches_a_bad_verdict_cell(built, tmp_path):
    """The verdict check can fail: the same page with one verdict replaced by a bare 'yes'."""
    bad = tmp_path / "reports"
    shutil.copytree(built, bad)
    page = (bad / "index.html").read_text()
    (bad / "index.html").write_text(page.replace(f">{VERDICTS[0]}</td>", ">yes</td>", 1))
    assert "yes" in [v for v in inspect(bad / "index.html")["verdicts"] if v not in VERDICTS]


def test_the_check_catches_a_broken_image(built, tmp_path):
    """The browser check can fail: the same page with one image removed is reported broken."""
    broken = tmp_path / "reports"
    shutil.copytree(built, broken)
    victim = next((broken / "img").glob("*.png"))
    victim.unlink()
    seen = inspect(broken / "index.html")
    assert [i["src"] for i in seen["images"] if not i["ok"]] == [f"img/{victim.name}"]
    assert seen["failed"], "the missing file should show up as a failed request"
