"""The bad-input matrix: every CLI flag, connection field and operator argument, given bad values.

Each row records the one line the user gets. Checked for every row (a broken one fails the run):

- no traceback reaches a CLI user, and an error is exactly one line;
- input rejected as bad input (exit 2, or an OACConfigError in a task) made no network call (the
  emulator's counters did not move);
- fields that can be checked locally (URLs, ids, numbers, names of things we define) are rejected
  locally, whatever the bad value.

CLI commands run in this process through ``airflow_provider_oac.cli.main.main`` (the same code the
``airflow-oac`` script runs); operator arguments run in real DAG runs (``dag.test()``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

#: One bad value of each kind (text: the CLI and connections only have text).
BAD_TEXT: dict[str, str] = {
    "empty": "",
    "wrong type (text for a number)": "ten",
    "negative": "-5",
    "wrong scheme": "ftp://oac.example.com",
    "non-loopback http": "http://oac.example.com",
    "trailing spaces": "value  ",
    "unicode": "snäpshot-✓",
    "huge (5,000 chars)": "x" * 5000,
    "id of another kind (an OCID)": "ocid1.tenancy.oc1..aaaaaaaabbbbbbbbcccc",
    "JSON that is HTML": "<html><body>Sign in</body></html>",
    "truncated JSON": '{"id": "3f2c',
}
#: Operators also take Python values of the wrong type.
BAD_PYTHON: dict[str, Any] = {**BAD_TEXT, "wrong type (a number)": 42, "wrong type (a list)": ["a"]}

PASSWORD_ENV = "OAC_BAD_INPUT_PASSWORD"
PASSWORD = "Bad-Input-Pa55word"
NETWORK_COUNTERS = ("oac_requests", "token_requests", "device_authorizations", "revocations")

#: Per kind of field, the values above that are legitimate (OAC or IAM decides, or they are fine).
#: Every other value must be refused locally, before any network call.
_LEGIT_NAME = {
    "wrong type (text for a number)",
    "negative",
    "unicode",
    "id of another kind (an OCID)",
    "wrong scheme",
    "non-loopback http",
    "JSON that is HTML",
    "truncated JSON",
}
LEGIT: dict[str, set[str]] = {
    "url": set(),
    "scope": set(),
    "enum": set(),
    "json": set(),
    "time": set(),
    "number": {"wrong type (a number)"},
    "id": {"wrong type (text for a number)", "id of another kind (an OCID)"},
    # Which characters IAM allows in client ids, and which BAR URI forms OAC takes beyond
    # file:///, are unconfirmed: one line of text passes (with a warning), IAM or OAC decides.
    "client id": _LEGIT_NAME,
    "uri": _LEGIT_NAME,
    "name": _LEGIT_NAME,
    # Optional settings: empty means "not set" (the default or the connection's value applies).
    "optional name": _LEGIT_NAME | {"empty"},
    "optional enum": {"empty"},
    "optional url": {"empty"},
    # An existing BAR's password (restore, register): OAC judges it; a weak one is only warned about.
    "secret": _LEGIT_NAME,
    # A new snapshot's password must meet Oracle's rule (14-50 characters, a number, an uppercase and
    # a lowercase letter, a special character): none of the bad values does.
    "new secret": set(),
    "refresh token": set(BAD_TEXT) - {"trailing spaces"},  # only IAM can judge the rest
    "other": set(BAD_PYTHON),  # checked elsewhere (a path, a variable name, another connection)
    # Arguments an operator does not take (the waiting ones of list/delete/prune/keep-alive):
    # every value, good or bad, is refused when the DAG is parsed.
    "not taken": set(),
}

CLI_KINDS = {
    "--conn-id": "name",
    "--oac-url": "url",
    "--iam-url": "url",
    "--api-url": "url",
    "--client-id": "client id",
    "--scope": "scope",
    "--storage-auth-type": "optional enum",
    "--refresh-token-lifetime": "number",
    "--timeout": "number",
    "--poll-interval": "number",
    "--bucket": "optional name",
    "--bucket-namespace": "optional name",
    "--bucket-region": "optional name",
    "--name": "name",
    "--name-pattern": "name",
    "SNAPSHOT_ID": "id",
    "WORK_REQUEST_ID": "id",
}


def must_refuse(kind: str, label: str) -> bool:
    return label not in LEGIT[kind]


@dataclass(slots=True)
class Row:
    surface: str  # "airflow-oac login", "connection", "OACCreateSnapshotOperator"
    field: str
    value: str
    message: str
    network_calls: int
    local: bool
    broken: list[str] = field(default_factory=list)


def network(counters: dict[str, int]) -> int:
    return sum(counters[name] for name in NETWORK_COUNTERS)


def _one_line(text: str, limit: int = 240) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- the CLI ---------------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``airflow-oac ARGV`` in this process: (exit code, stdout, stderr)."""
    from airflow_provider_oac.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def cli_flags() -> dict[str, list[str]]:
    """Every command's flags and positionals that take a value, read from the parser itself."""
    from airflow_provider_oac.cli.main import build_parser

    found: dict[str, list[str]] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}".strip())
            elif action.nargs != 0 and action.dest not in ("help",) and prefix:
                flag = action.option_strings[-1] if action.option_strings else action.dest.upper()
                found.setdefault(prefix, []).append(flag)

    walk(build_parser(), "")
    found.pop("emulator", None)  # the emulator's own options are for tests and demos
    return found


class CLIMatrix:
    def __init__(self, emulator: Any, conn_id: str, snapshot_id: str, work_request_id: str):
        from airflow_provider_oac.testing import cli_login_args

        self.emulator = emulator
        self.conn_id = conn_id
        self.created = 0
        os.environ[PASSWORD_ENV] = PASSWORD
        self.base: dict[str, list[str]] = {
            "login": [*cli_login_args(emulator, f"{conn_id}_login"), "--bucket", "bad-input-bucket"],
            "status": ["status", "--conn-id", conn_id],
            "logout": ["logout", "--conn-id", f"{conn_id}_logout"],
            "snapshots list": ["snapshots", "list", "--conn-id", conn_id],
            "snapshots create": [
                *("snapshots", "create", "--name", "bad-input-new", "--password-env", PASSWORD_ENV),
                *("--conn-id", conn_id, "--poll-interval", "0.2"),
            ],
            "snapshots restore": [
                *("snapshots", "restore", snapshot_id, "--password-env", PASSWORD_ENV, "--yes"),
                *("--conn-id", conn_id, "--poll-interval", "0.2"),
            ],
            "snapshots delete": ["snapshots", "delete", "no-such-snapshot", "--yes", "--conn-id", conn_id],
            "snapshots wait": [
                "snapshots",
                "wait",
                work_request_id,
                "--conn-id",
                conn_id,
                "--poll-interval",
                "0.2",
            ],
        }

    def argv(self, command: str, flag: str, value: str) -> list[str]:
        argv = list(self.base[command])
        if command == "snapshots create":  # a new name per row: an accepted value creates one
            self.created += 1
            argv[argv.index("--name") + 1] = f"bad-input-new-{self.created}"
        if not flag.startswith("--"):  # a positional: replace the one in the base command
            position = {"SNAPSHOT_ID": 2, "WORK_REQUEST_ID": 2}[flag]
            argv[position] = value
            return argv
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
        return argv

    def row(self, command: str, flag: str, label: str, value: str) -> Row:
        from airflow_provider_oac.testing import login

        if command == "logout":
            login(self.emulator, f"{self.conn_id}_logout")
        before = network(self.emulator.control.counters())
        code, out, err = run_cli(self.argv(command, flag, value))
        calls = network(self.emulator.control.counters()) - before
        errors = [line for line in err.splitlines() if "error:" in line]
        if code == 0:
            message = f"accepted (exit 0): {_one_line(_last(out))}"
        else:
            message = f"exit {code}: {_one_line(errors[-1] if errors else _last(err) or _last(out))}"
        row = Row(f"airflow-oac {command}", flag, label, message, calls, code == 2)
        if "Traceback" in out + err:
            row.broken.append("a traceback reached the user")
        if code != 0 and len(errors) != 1:
            row.broken.append(f"{len(errors)} error lines")
        if code == 2 and calls:
            row.broken.append(f"refused as bad input after {calls} network calls")
        if must_refuse(CLI_KINDS.get(flag, "other"), label) and code != 2:
            row.broken.append("not refused locally")
        if value and len(value) > 100 and value in out + err:
            row.broken.append("the huge value is echoed back")
        return row

    def rows(self, commands: dict[str, list[str]] | None = None) -> list[Row]:
        result = []
        for command, flags in (commands or cli_flags()).items():
            if command not in self.base:
                continue
            for flag in flags:
                for label, value in BAD_TEXT.items():
                    result.append(self.row(command, flag, label, value))
        return result


def _last(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- connection fields -----------------------------------------------------------------------------

CONNECTION_FIELDS = ("host", "login", "password", "extra (whole)")
CONNECTION_KINDS = {
    "host": "url",
    "login": "client id",
    "password": "refresh token",
    "extra (whole)": "json",
    "(unknown key)": "json",
    "iam_url": "url",
    "device_url": "optional url",
    "token_url": "optional url",
    "revoke_url": "optional url",
    "scope": "scope",
    "storage_auth_type": "optional enum",
    "refresh_token_lifetime": "number",
    "timeout": "number",
    "bucket": "optional name",
    "bucket_namespace": "optional name",
    "bucket_region": "optional name",
}


def connection_rows(emulator: Any, conn_id: str, fields: tuple[str, ...] | None = None) -> list[Row]:
    """``airflow-oac status`` on a connection with one bad field (the hook reads it the same way).

    Each row logs in afresh (a refresh token is one-time) and then spoils one field in the
    metadata database, as a hand edit in the UI would."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    from airflow_provider_oac.hooks.config import KNOWN_EXTRAS
    from airflow_provider_oac.testing import login

    rows = []
    extras = sorted(KNOWN_EXTRAS - {"login_at", "subject", "store"}) + ["(unknown key)"]
    for index, field_name in enumerate(fields or (*CONNECTION_FIELDS, *extras)):
        for label_index, (label, value) in enumerate(BAD_TEXT.items()):
            row_conn = f"{conn_id}_c{index}_{label_index}"
            login(emulator, row_conn)
            with create_session() as session:
                conn = session.query(Connection).filter(Connection.conn_id == row_conn).one()
                extra = json.loads(conn.extra or "{}")
                if field_name == "extra (whole)":
                    # Airflow's setter refuses non-JSON; a hand edit of the database does not.
                    conn._extra, conn.is_extra_encrypted = value, False
                elif field_name == "(unknown key)":
                    conn.extra = json.dumps({**extra, "iam_ulr": value})
                elif field_name in ("host", "login", "password"):
                    setattr(conn, field_name, value)
                else:
                    conn.extra = json.dumps({**extra, field_name: value})
            before = network(emulator.control.counters())
            code, out, err = run_cli(["status", "--conn-id", row_conn])
            calls = network(emulator.control.counters()) - before
            errors = [line for line in err.splitlines() if "error:" in line]
            message = (
                f"accepted (exit 0): {_one_line(_last(out))}"
                if code == 0
                else f"exit {code}: {_one_line(errors[-1] if errors else _last(err))}"
            )
            row = Row("connection (airflow-oac status, hook)", field_name, label, message, calls, code == 2)
            if "Traceback" in out + err:
                row.broken.append("a traceback reached the user")
            if code != 0 and len(errors) != 1:
                row.broken.append(f"{len(errors)} error lines")
            if code == 2 and calls:
                row.broken.append(f"refused as bad input after {calls} network calls")
            if must_refuse(CONNECTION_KINDS.get(field_name, "other"), label) and code != 2:
                row.broken.append("not refused locally")
            if len(value) > 100 and value in out + err:
                row.broken.append("the huge value is echoed back")
            rows.append(row)
    return rows


# --- operator arguments ----------------------------------------------------------------------------

#: A well-formed snapshot id that names no snapshot.
SOME_ID = "3f2c0d1e-0000-4000-8000-000000000001"
#: (operator, argument, the other arguments it needs, the argument's kind)
OPERATOR_ARGUMENTS: list[tuple[str, str, str, str]] = [
    ("OACCreateSnapshotOperator", "name", "password=PASSWORD", "name"),
    ("OACCreateSnapshotOperator", "password", "name='bad-input-pw'", "new secret"),
    ("OACCreateSnapshotOperator", "bar_uri", "name='bad-input-uri', password=PASSWORD", "uri"),
    ("OACCreateSnapshotOperator", "bucket", "name='bad-input-bucket', password=PASSWORD", "optional name"),
    ("OACCreateSnapshotOperator", "if_exists", "name='bad-input-ie', password=PASSWORD", "enum"),
    ("OACCreateSnapshotOperator", "poll_interval", "name='bad-input-pi', password=PASSWORD", "number"),
    ("OACCreateSnapshotOperator", "timeout", "name='bad-input-to', password=PASSWORD", "number"),
    ("OACCreateSnapshotOperator", "oac_conn_id", "name='bad-input-conn', password=PASSWORD", "name"),
    ("OACRestoreSnapshotOperator", "snapshot_id", "password=PASSWORD", "id"),
    ("OACRestoreSnapshotOperator", "snapshot_name", "password=PASSWORD", "name"),
    ("OACRestoreSnapshotOperator", "password", "snapshot_name='bad-input-source'", "secret"),
    (
        "OACRestoreSnapshotOperator",
        "safety_snapshot_name",
        "snapshot_name='bad-input-source', password=PASSWORD",
        "name",
    ),
    ("OACWorkRequestSensor", "work_request_id", "poke_interval=0.2", "id"),
    ("OACDeleteSnapshotOperator", "snapshot_id", "", "id"),
    ("OACPruneSnapshotsOperator", "name_pattern", "keep_last=3", "name"),
    ("OACPruneSnapshotsOperator", "keep_last", "name_pattern='bad-*'", "number"),
    ("OACPruneSnapshotsOperator", "max_age", "name_pattern='bad-*'", "number"),
    ("OACRegisterSnapshotOperator", "bar_uri", "name='bad-input-reg'", "uri"),
    ("OACListSnapshotsOperator", "created_after", "", "time"),
    # Single calls wait for nothing: the waiting arguments are refused, not silently ignored.
    ("OACListSnapshotsOperator", "timeout", "", "not taken"),
    ("OACListSnapshotsOperator", "deferrable", "", "not taken"),
    ("OACDeleteSnapshotOperator", "timeout", f"snapshot_id={SOME_ID!r}", "not taken"),
    ("OACDeleteSnapshotOperator", "deferrable", f"snapshot_id={SOME_ID!r}", "not taken"),
    ("OACPruneSnapshotsOperator", "timeout", "name_pattern='bad-*', keep_last=3", "not taken"),
    ("OACPruneSnapshotsOperator", "deferrable", "name_pattern='bad-*', keep_last=3", "not taken"),
    ("OACKeepAliveOperator", "timeout", "", "not taken"),
    ("OACKeepAliveOperator", "deferrable", "", "not taken"),
]

OPERATOR_IMPORTS = """
from airflow_provider_oac.operators.lifecycle import (
    OACDeleteSnapshotOperator, OACListSnapshotsOperator, OACPruneSnapshotsOperator, OACRegisterSnapshotOperator,
)
from airflow_provider_oac.operators.keepalive import OACKeepAliveOperator
from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator
from airflow_provider_oac.sensors.work_request import OACWorkRequestSensor
from tests.faults.bad_input import PASSWORD, after_task, before_task
"""

#: Emulator network counters seen by the DAG's callbacks, per task id (dag.test runs in-process).
TASK_COUNTERS: dict[str, list[int]] = {}
#: The exception each failed task raised (what its log shows), per task id.
TASK_ERRORS: dict[str, str] = {}
_EMULATOR: list[Any] = []


def before_task(context: Any) -> None:
    TASK_COUNTERS[context["ti"].task_id] = [network(_EMULATOR[0].control.counters())]


def after_task(context: Any) -> None:
    task_id = context["ti"].task_id
    TASK_COUNTERS[task_id].append(network(_EMULATOR[0].control.counters()))
    exception = context.get("exception")
    if exception is not None:
        TASK_ERRORS[task_id] = f"{type(exception).__name__}: {exception}"


def operator_rows(
    emulator: Any, conn_id: str, chosen: list[tuple[str, str, str, bool]] | None = None
) -> list[Row]:
    """Each bad value as one task of one DAG run; constructor errors (DAG-parse time) apart."""
    from airflow_provider_oac.testing import write_dag
    from tests.faults.matrix import captured_fds

    _EMULATOR[:] = [emulator]
    TASK_COUNTERS.clear()
    TASK_ERRORS.clear()
    arguments = chosen or OPERATOR_ARGUMENTS
    rows: dict[str, Row] = {}
    tasks: list[str] = []
    namespace: dict[str, Any] = {}
    exec(OPERATOR_IMPORTS, namespace)  # noqa: S102 - our own constant source
    for index, (operator, argument, others, _kind) in enumerate(arguments):
        for label_index, (label, value) in enumerate(BAD_PYTHON.items()):
            task_id = f"t{index}_{label_index}"
            # A name of its own per task: an accepted value makes a snapshot of that name.
            unique = re.sub(r"(?<![a-z_])name='([^']*)'", rf"name='\1-{task_id}'", others)
            call = f"{operator}(task_id={task_id!r}, oac_conn_id={conn_id!r}, {unique}{', ' if unique else ''}{argument}={value!r})"
            if argument == "oac_conn_id":
                call = call.replace(f"oac_conn_id={conn_id!r}, ", "", 1)
            row = Row(operator, argument, label, "", 0, False)
            rows[task_id] = row
            try:
                eval(call.replace(f"task_id={task_id!r}", "task_id='probe'"), namespace)  # noqa: S307
            except Exception as exc:
                row.message = f"at DAG parse: {type(exc).__name__}: {_one_line(str(exc))}"
                row.local = True
                if "\n" in str(exc).strip():
                    row.broken.append("a multi-line message")
                continue
            tasks.append(
                f"{call[:-1]}, on_execute_callback=before_task, on_failure_callback=after_task, on_success_callback=after_task)"
            )
    instances = []
    if tasks:  # else every value was refused at DAG parse: nothing to run
        dag = write_dag("oac_bad_input", "\n".join(tasks), retries=0, imports=OPERATOR_IMPORTS)
        with captured_fds():
            instances = dag.test().get_task_instances()
    for instance in instances:
        row = rows[instance.task_id]
        counters = TASK_COUNTERS.get(instance.task_id, [0, 0])
        row.network_calls = counters[-1] - counters[0] if len(counters) == 2 else 0
        if instance.state == "success":
            row.message = "accepted (task succeeded)"
            continue
        error = TASK_ERRORS.get(instance.task_id, "")
        row.message = f"task {instance.state}: {_one_line(error)}"
        if "\n" in error.strip():
            row.broken.append("a multi-line message")
        # Bad input fails the task without retries (AirflowFailException), before any call.
        row.local = "AirflowFailException" in error and not row.network_calls
    kinds = {(operator, argument): kind for operator, argument, _others, kind in arguments}
    for row in rows.values():
        parsed = row.message.startswith("at DAG parse")
        if row.local and row.network_calls and not parsed:
            row.broken.append(f"refused as bad input after {row.network_calls} network calls")
        if must_refuse(kinds[(row.surface, row.field)], row.value) and not row.local:
            row.broken.append("not refused locally")
        if not row.message:
            row.broken.append("no message")
    return list(rows.values())
