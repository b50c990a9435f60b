"""``airflow-oac``: build the parser and dispatch to the command's module.

Commands: ``login`` (:mod:`.login`), ``status`` (:mod:`.status`), ``logout`` (:mod:`.logout`),
``snapshots`` (:mod:`.snapshots`), ``emulator`` (:mod:`airflow_provider_oac.emulator.cli`). What
they share (errors, exit codes, output) is :mod:`.common`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_oac import __version__
from airflow_provider_oac.cli import login, logout, snapshots, status
from airflow_provider_oac.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    Parser,
    error_line,
    first_line,
)
from airflow_provider_oac.errors import OACConfigError, OACError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="airflow-oac",
        description="Log in to Oracle Analytics Cloud for Airflow, and manage that login.",
    )
    parser.add_argument("--version", action="version", version=f"airflow-provider-oac {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    login.add_parser(commands)
    status.add_parser(commands)
    logout.add_parser(commands)
    emulator = commands.add_parser("emulator", help="run the local OAC + IAM emulator (for demos and tests)")
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.emulator.cli import add_arguments

    add_arguments(emulator)
    emulator.set_defaults(handler=cmd_emulator)
    snapshots.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("\nCancelled; nothing was changed.", file=sys.stderr)
        return EXIT_CANCELLED
    except CLIError as exc:
        return _fail(args, exc, str(exc), exc.exit_code)
    except OACConfigError as exc:
        return _fail(args, exc, str(exc), EXIT_USAGE)
    except OACError as exc:
        return _fail(args, exc, str(exc), EXIT_FAILED)
    except Exception as exc:
        return _fail(
            args,
            exc,
            f"unexpected {type(exc).__name__}: {first_line(exc)} (run again with --debug)",
            EXIT_FAILED,
        )


def _fail(args: argparse.Namespace, exc: BaseException, message: str, code: int) -> int:
    if getattr(args, "debug", False):
        # lazy: only when a command crashes
        import traceback

        traceback.print_exception(exc)
    print(error_line(message), file=sys.stderr)
    return code


def cmd_emulator(args: argparse.Namespace) -> int:
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.emulator.cli import run

    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
