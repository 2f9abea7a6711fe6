"""Command line: ``quantum-llm trace PATH``, ``quantum-llm check-params``, ``quantum-llm readme``
and ``quantum-llm exp --profile NAME``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import ParamsError, validate_all
from .lineage import format_trace, trace


def _trace(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        print(f"error: {path} does not exist (run `dvc repro` or `dvc pull` to produce it)", file=sys.stderr)
        return 2
    if not Path("dvc.lock").is_file():
        print("error: no dvc.lock here: run from the repository root after `dvc repro`", file=sys.stderr)
        return 2
    link = trace(path)
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(link), indent=2, default=str))
    else:
        print(format_trace(link))
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        sections = validate_all(args.params)
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.params}: {len(sections)} sections valid ({', '.join(k or 'top level' for k in sections)})")
    return 0


def _readme(args: argparse.Namespace) -> int:
    from .report import refresh_readme
    from .report.docs import doc_files, refresh_numbers
    from .stage import InputError

    try:
        ok = refresh_readme(args.readme, args.metrics, check=args.check)
        stale = refresh_numbers(doc_files(args.readme, args.docs), args.metrics, check=args.check)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check and (not ok or stale):
        bad = ([f"{args.readme} (results section)"] if not ok else []) + [f"{f} (marked numbers)" for f in stale]
        print(f"disagree with {args.metrics}/: {', '.join(bad)}: run `quantum-llm readme`", file=sys.stderr)
        return 1
    print(f"{args.readme}: results section and marked numbers in {args.docs}/ "
          f"{'up to date' if args.check else 'written'} from {args.metrics}/")
    return 0


def _exp(args: argparse.Namespace) -> int:
    import shlex
    import subprocess

    from .profiles import exp_command, profile_path, read_profile, validate_profile

    extra = args.dvc_args[1:] if args.dvc_args[:1] == ["--"] else args.dvc_args
    path = profile_path(args.profile)
    try:
        overrides = read_profile(path)
        validate_profile(overrides, path, args.params)
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cmd = exp_command(overrides, extra)
    print(shlex.join(cmd), flush=True)
    if args.dry_run:
        return 0
    return subprocess.run(cmd).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quantum-llm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("trace", help="print the chain from an artifact back to its params, inputs and commit")
    t.add_argument("path", help="an artifact (folder or file inside one), e.g. data/prepared/lm")
    t.add_argument("--json", action="store_true", help="machine-readable output")
    t.set_defaults(func=_trace)
    c = sub.add_parser("check-params", help="validate every params.yaml section without running anything")
    c.add_argument("--params", default="params.yaml")
    c.set_defaults(func=_check)
    r = sub.add_parser("readme", help="regenerate the README's results section and the numbers marked "
                                      "<!-- m:KEY -->...<!-- /m --> in it and in docs/*.md from metrics/")
    r.add_argument("--readme", default="README.md")
    r.add_argument("--docs", default="docs", help="folder of Markdown docs whose marked numbers to refresh")
    r.add_argument("--metrics", default="metrics")
    r.add_argument("--check", action="store_true", help="exit 1 if the section is out of date; write nothing")
    r.set_defaults(func=_readme)
    e = sub.add_parser("exp", help="run a DVC experiment with a params profile (profiles/NAME.yaml), "
                                   "checked against the params schema first",
                       description="Apply a profile of params overrides through `dvc exp run -S key=value ...`. "
                                   "Arguments after `--` go to `dvc exp run` (e.g. -- --name paper qisa_summary).")
    e.add_argument("--profile", required=True, help="a name in profiles/ (e.g. paper) or a YAML file")
    e.add_argument("--params", default="params.yaml")
    e.add_argument("--dry-run", action="store_true", help="print the dvc command and run nothing")
    e.add_argument("dvc_args", nargs=argparse.REMAINDER, help="passed to `dvc exp run` (after --)")
    e.set_defaults(func=_exp)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
