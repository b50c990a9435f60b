"""What every ``airflow-oac`` command shares: the parser class, the errors and exit codes, and
the formatters of its output.

Every error is one line on stderr (no traceback unless ``--debug``). Exit codes: 0 success,
1 the operation failed (IAM or OAC said no, network), 2 bad input, 130 cancelled (Ctrl-C).
Output for people and scripts goes to stdout; progress, warnings and errors to stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone
from typing import Any

from airflow_provider_oac.errors import CLIError as CLIError  # the commands raise it
from airflow_provider_oac.login.new_login import utc_minute
from airflow_provider_oac.validation import require_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """Every parser of ``airflow-oac``: a bad flag is one line and exit 2, like any bad input."""

    def error(self, message: str) -> Any:
        # prog is "airflow-oac" for the top level and "airflow-oac login" etc. for a command.
        self.exit(EXIT_USAGE, f"airflow-oac: error: {shorten_values(message)} (see {self.prog} --help)\n")


def shorten_values(message: str) -> str:
    """Error messages name the bad value ("invalid float value: '...'", "No connection '...'"): a
    pasted 5,000-character value would fill the terminal, so long ones are cut, saying how long
    they were."""

    def cut(match: re.Match[str]) -> str:
        value = match.group(1)
        return f"'{value[:40]}...' ({len(value)} characters)"

    def cut_word(match: re.Match[str]) -> str:
        value = match.group(0)
        return f"{value[:40]}... ({len(value)} characters)"

    message = re.sub(r"'([^'\n]{80,})'", cut, " ".join(message.split()))
    # Values our own messages name unquoted (an environment variable, a URL) are cut too.
    return re.sub(r"[^\s']{120,}", cut_word, message)


def first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else "(no message)"


def error_line(message: str) -> str:
    """The one line an error is shown as."""
    return f"airflow-oac: error: {shorten_values(first_line(message))}"


def conn_id_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--conn-id", default="oac_default", help="Airflow connection id (default: oac_default)"
    )


def conn_id_of(args: argparse.Namespace) -> str:
    """``--conn-id``, checked."""
    return require_text(args.conn_id, "--conn-id", "give a connection id such as oac_default", max_length=250)


# --- formatters ----------------------------------------------------------------------------------


def say(*parts: object) -> None:
    """A line for the person, on stdout."""
    print(*parts, flush=True)


def progress(message: str) -> None:
    """Progress, notes and warnings, on stderr (stdout stays for what scripts read)."""
    print(message, file=sys.stderr, flush=True)


#: A login's times: ``2026-12-02 20:10 UTC`` (the UI page shows them the same way).
when = utc_minute


def clock(epoch: float) -> str:
    """A time of day: ``20:10:05 UTC`` (an access token's expiry)."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))


def when_datetime(moment: datetime | None) -> str:
    """An OAC time to the second: ``2026-12-02 20:10:05 UTC``; ``?`` when OAC gave none."""
    if moment is None:
        return "?"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: datetime | None) -> str | None:
    """An OAC time for JSON output: RFC 3339 in UTC with ``Z``."""
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(header)] + [len(row[index]) for row in rows]) for index, header in enumerate(headers)]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
