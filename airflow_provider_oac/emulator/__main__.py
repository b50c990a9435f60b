"""``python -m airflow_provider_oac.emulator``: run the emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from airflow_provider_oac.emulator.cli import DESCRIPTION, add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_oac.emulator", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
