"""Stage report: reports/index.html (+ index.md, img/) from the metrics files alone."""

import argparse
from pathlib import Path

from quantum_llm.report import build_report
from quantum_llm.stage import run_stage


def main(args: argparse.Namespace) -> None:
    build_report(args.metrics, args.out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True, help="metrics folder (metrics)")
    parser.add_argument("--out", type=Path, required=True, help="report folder (reports)")
    run_stage(main, parser)
