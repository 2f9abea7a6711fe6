"""Stage qisa_summary: per-run QISA metrics -> mean +- std per variant, ratios vs CSA and the
paper's claimed ratios (summary.json for DVC metrics, summary.md for the report), and the
inference timings' mean +- std (summary.timing.json)."""

import argparse
from pathlib import Path

from quantum_llm.config import load_section
from quantum_llm.io import atomic_file, timing_path, write_json
from quantum_llm.report.aggregate import load_runs, qisa_markdown, qisa_summary, qisa_timing_summary
from quantum_llm.stage import InputError, run_stage


def main(args: argparse.Namespace) -> None:
    p = load_section("qisa")
    expected = [args.runs / f"{v}-{s}.json" for v in p.variants for s in p.seeds]  # the matrix of params.yaml
    timings = [timing_path(f) for f in expected]
    missing = [str(f) for f in expected + timings if not f.is_file()]
    if missing:
        raise InputError(f"run metrics missing: {', '.join(missing)} (run the evaluate_qisa stages)")
    summary = qisa_summary(load_runs(expected))
    write_json(args.json, summary)
    write_json(timing_path(args.json), qisa_timing_summary(load_runs(timings)))
    with atomic_file(args.md) as fh:
        fh.write(qisa_markdown(summary))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, required=True, help="folder of per-run metrics (metrics/qisa/runs)")
    parser.add_argument("--json", type=Path, required=True, help="summary JSON (metrics/qisa/summary.json)")
    parser.add_argument("--md", type=Path, required=True, help="summary table (metrics/qisa/summary.md)")
    run_stage(main, parser)
