"""`rlkd <command> --config PATH --set key.sub=value ... --out DIR` — wiring only."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

from rlkd.config import load_config
from rlkd.errors import RlkdError
from rlkd.models.imported import import_from_working_dir
from rlkd.stages import STAGES, execute


def error_message(exc: RlkdError | OSError) -> str:
    """What the user reads after `error:`. An OSError (permission denied, disk full, a missing file) is a fact
    about a file, told as `<file>: <reason>` like shell tools do; its traceback would only point into rlkd."""
    if not isinstance(exc, OSError):
        return str(exc)
    reason = exc.strerror or str(exc) or type(exc).__name__
    files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{' -> '.join(files)}: {reason}" if files else reason


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="experiment YAML (default: tune_configs/digits.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. --set teacher.epochs=5 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlkd", description="Knowledge distillation with an RL-chosen curriculum.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in STAGES.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        add_config_args(p)
        p.add_argument("--out", default=None, help="output folder (default: runs/<command>-<timestamp>/)")
        for flag, text in command.flags:
            p.add_argument(f"--{flag}", action="store_true", help=text)
        for name, text, _ in command.options:
            p.add_argument(f"--{name}", default=None, help=text)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    command = STAGES[args.command]
    import_from_working_dir()
    out = Path(args.out or f"runs/{command.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        shorthand = [o for name, _, convert in command.options if getattr(args, name) is not None
                     for o in convert(getattr(args, name))]
        cfg = load_config(args.config, args.overrides + shorthand)
        execute(command, cfg, out, **{flag: getattr(args, flag) for flag, _ in command.flags})
    except (RlkdError, OSError) as exc:
        print(f"rlkd {command.name}: error: {error_message(exc)}", file=sys.stderr)
        return 2
    print(f"rlkd {command.name}: wrote {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
