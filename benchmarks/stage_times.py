"""Wall time of every stage of a `dvc repro`, as DVC runs them.

Runs ``dvc repro`` (extra arguments are passed through, e.g. ``-f`` to re-run everything or a
target), timestamps each line DVC prints and attributes the time between one
"Running stage '<name>':" line and the next (or the end) to that stage; stages DVC skips
("didn't change, skipping") get no row. Prints the stages by wall time, longest first, and the
total; ``--json`` also writes them to a file.

DVC records no durations of its own (``dvc.lock`` holds hashes only), and a stage's own clock
would miss its interpreter start and imports, so the time is taken from outside, per stage.

    python benchmarks/stage_times.py            # the default pipeline, then the table
    python benchmarks/stage_times.py -f --top 10 --json stage_times.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

RUNNING = re.compile(r"^Running stage '([^']+)'")


def time_stages(lines, clock=time.monotonic) -> tuple[list[tuple[str, float]], float]:
    """(stage, seconds) in run order, and the total, from DVC's output lines as they arrive."""
    start = last = clock()
    current: str | None = None
    rows: list[tuple[str, float]] = []
    for line in lines:
        sys.stdout.write(line)
        m = RUNNING.match(line)
        if m:
            now = clock()
            if current is not None:
                rows.append((current, now - last))
            current, last = m.group(1), now
    end = clock()
    if current is not None:
        rows.append((current, end - last))
    return rows, end - start


def table(rows: list[tuple[str, float]], total: float, top: int | None) -> str:
    ranked = sorted(rows, key=lambda r: -r[1])[:top]
    width = max([len(s) for s, _ in ranked] + [5])
    out = [f"{'stage':<{width}}  {'seconds':>8}  {'share':>6}", "-" * (width + 18)]
    out += [f"{s:<{width}}  {t:8.1f}  {t / total:6.1%}" for s, t in ranked]
    out.append(f"{'total (' + str(len(rows)) + ' stages ran)':<{width}}  {total:8.1f}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=None, help="list only the N longest stages")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args, dvc_args = ap.parse_known_args(argv)
    proc = subprocess.Popen(["dvc", "repro", *dvc_args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    assert proc.stdout is not None
    rows, total = time_stages(proc.stdout)
    rc = proc.wait()
    print()
    print(table(rows, total, args.top))
    if args.json:
        args.json.write_text(json.dumps({"total_s": round(total, 1), "returncode": rc,
                                         "stages": [{"stage": s, "seconds": round(t, 1)} for s, t in rows]},
                                        indent=2) + "\n")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
