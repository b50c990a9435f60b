"""``airflow-oac snapshots``: find, make, restore, delete snapshots and wait for work requests,
outside Airflow, through the same connection, hook and client as the operators.

Every command takes ``--conn-id`` and ``--json`` (machine output on stdout; progress and errors
stay on stderr). Passwords are read from an environment variable or standard input, never from
the command line, and are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    Parser,
    conn_id_flag,
    iso,
    print_json,
    progress,
    table,
    when_datetime,
)
from airflow_provider_oac.cli.connection import connection_hook, shadow_warning, token_store_problem
from airflow_provider_oac.errors import (
    OACConfigError,
    OACOutcomeUnknownError,
    OACWorkRequestFailed,
    OACWorkRequestTimeout,
)
from airflow_provider_oac.validation import (
    existing_password_warning,
    validate_new_snapshot_password,
    validate_password,
    validate_positive_number,
    validate_resource_id,
    validate_snapshot_name,
)

if TYPE_CHECKING:
    from airflow_provider_oac.client.models import Snapshot, WorkRequest
    from airflow_provider_oac.hooks.oac import OACHook

_PASSWORD_WHY = (
    "There is no flag that takes the password itself: a command line is visible to every user of "
    "this host (ps, /proc) and stays in shell history."
)


def add_parser(commands: Any) -> None:
    """Add ``snapshots list|get|create|restore|delete|copy|wait`` to the ``airflow-oac`` sub-commands."""
    snapshots = commands.add_parser(
        "snapshots",
        help="list, create, restore and delete snapshots; wait for work requests",
        description="Work with OAC snapshots through an Airflow connection (the one airflow-oac login wrote).",
    )
    actions = snapshots.add_subparsers(dest="snapshots_command", metavar="ACTION", parser_class=Parser)
    actions.required = True

    listing = actions.add_parser("list", help="list snapshots, newest first")
    listing.add_argument(
        "--name-pattern", help="only names matching this glob, e.g. 'nightly-*' (case-sensitive)"
    )
    listing.add_argument("--name", help="only this exact name")
    _common(listing)
    listing.set_defaults(handler=cmd_list)

    get = actions.add_parser("get", help="show one snapshot")
    get.add_argument("snapshot_id", metavar="SNAPSHOT_ID")
    _common(get)
    get.set_defaults(handler=cmd_get)

    create = actions.add_parser(
        "create",
        help="take a snapshot into a BAR file in Object Storage",
        description="Take a snapshot of the instance. " + _PASSWORD_WHY,
    )
    create.add_argument("--name", required=True, help="snapshot name (must not exist yet)")
    _password_flags(create)
    create.add_argument("--bucket", help="OCI bucket (default: the connection's bucket extra)")
    _wait_flags(create)
    _common(create)
    create.set_defaults(handler=cmd_create)

    restore = actions.add_parser(
        "restore",
        help="restore the instance from a snapshot (overwrites its content)",
        description="Restore the instance from a snapshot, by id or by name (the newest of that name). "
        "This overwrites the instance's content: it asks first, and needs --yes when standard input is "
        "not a terminal. " + _PASSWORD_WHY,
    )
    restore.add_argument("snapshot_id", metavar="SNAPSHOT_ID", nargs="?", help="the snapshot's id")
    restore.add_argument("--name", help="or its name: the newest snapshot of that name")
    _password_flags(restore)
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _wait_flags(restore)
    _common(restore)
    restore.set_defaults(handler=cmd_restore)

    delete = actions.add_parser(
        "delete",
        help="delete (deregister) a snapshot",
        description="Deregister a snapshot; with --delete-storage also delete its BAR file. Asks first, and "
        "needs --yes when standard input is not a terminal.",
    )
    delete.add_argument("snapshot_id", metavar="SNAPSHOT_ID")
    delete.add_argument(
        "--delete-storage", action="store_true", help="also delete the BAR file (irreversible)"
    )
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _common(delete)
    delete.set_defaults(handler=cmd_delete)

    copy = actions.add_parser(
        "copy",
        help="copy a snapshot to another instance and restore it there (environment refresh, DR drill)",
        description="Copy a snapshot from the instance of --from-conn-id to that of --to-conn-id: make it on "
        "the source (--name) or take an existing one (--existing NAME, --snapshot-id ID), register its BAR "
        "file on the target, optionally take a safety snapshot of the target, restore it there, and remove "
        "the target's registration. The same steps as OACCopySnapshotOperator. The restore overwrites the "
        "target's content: it asks first, and needs --yes when standard input is not a terminal. "
        + _PASSWORD_WHY,
    )
    copy.add_argument("--from-conn-id", required=True, help="the source instance's connection")
    copy.add_argument("--to-conn-id", required=True, help="the target instance's connection")
    source = copy.add_mutually_exclusive_group(required=True)
    source.add_argument("--name", help="make a new snapshot of this name on the source")
    source.add_argument(
        "--existing", metavar="NAME", help="copy the newest existing source snapshot of this name"
    )
    source.add_argument("--snapshot-id", help="copy this existing source snapshot")
    copy.add_argument("--registered-name", help="its name on the target (default: the source snapshot's)")
    copy.add_argument("--safety-snapshot-name", help="first take a snapshot of the target under this name")
    copy.add_argument(
        "--keep-registration", action="store_true", help="leave the BAR registered on the target afterwards"
    )
    copy.add_argument(
        "--delete-bar",
        action="store_true",
        help="delete the snapshot made on the source, with its BAR file, at the end (not with --existing)",
    )
    copy.add_argument("--bucket", help="the source's bucket for a new snapshot (default: its connection's)")
    _password_flags(copy)
    copy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _timing_flags(copy)
    copy.add_argument("--json", action="store_true", help="print JSON on stdout (for scripts)")
    copy.set_defaults(handler=cmd_copy)

    wait = actions.add_parser("wait", help="wait for a work request (a create or restore) to end")
    wait.add_argument("work_request_id", metavar="WORK_REQUEST_ID")
    _timing_flags(wait)
    _common(wait)
    wait.set_defaults(handler=cmd_wait)


def _common(parser: argparse.ArgumentParser) -> None:
    conn_id_flag(parser)
    parser.add_argument("--json", action="store_true", help="print JSON on stdout (for scripts)")


def _password_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the snapshot (BAR) password from environment variable VAR",
    )
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (its first line; asked for without echo on a terminal)",
    )


def _timing_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, help="seconds to wait at most (default: no limit)")
    parser.add_argument(
        "--poll-interval", type=float, default=10.0, help="seconds between polls (default 10)"
    )


def _wait_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="return once OAC accepted the work")
    _timing_flags(parser)


# --- commands ---------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.client.retention import SnapshotFilter, snapshot_as_dict

    selection = SnapshotFilter(name=args.name, name_pattern=args.name_pattern)  # checked before any call
    snapshots = selection.apply(_hook(args).list_snapshots())
    if args.json:
        print_json([snapshot_as_dict(snapshot) for snapshot in snapshots])
        return EXIT_OK
    if not snapshots:
        print("No snapshots match." if args.name or args.name_pattern else "No snapshots.")
        return EXIT_OK
    table(
        ["ID", "NAME", "CREATED", "CREATED BY", "BAR"],
        [
            [s.id, s.name or "", when_datetime(s.time_created), s.created_by or "", s.bar_uri or ""]
            for s in snapshots
        ],
    )
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    snapshot_id = validate_resource_id(args.snapshot_id, "SNAPSHOT_ID")
    snapshot = _hook(args).get_snapshot(snapshot_id)
    if args.json:
        print_json(_snapshot_details(snapshot))
        return EXIT_OK
    for label, value in _snapshot_details(snapshot).items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v) or "-"
        print(f"{label.replace('_', ' ').capitalize() + ':':14}{value if value is not None else '-'}")
    return EXIT_OK


def cmd_create(args: argparse.Namespace) -> int:
    name = validate_snapshot_name(args.name, "--name")
    _check_timing(args)
    password = _read_password(args, new=True)
    hook = _hook(args)
    hook.storage_spec(args.bucket).to_json()  # a bad bucket fails before the name lookup
    existing = hook.list_snapshots(name=name)
    if existing:
        raise OACConfigError(
            f"A snapshot named {name!r} already exists (id {existing[0].id}): choose another --name."
        )
    try:
        accepted = hook.create_snapshot(name, password, bucket=args.bucket)
    except OACOutcomeUnknownError as exc:
        raise CLIError(f"{exc} Check with: airflow-oac snapshots list --name {name!r}") from None
    progress(f"OAC accepted snapshot {name!r}: work request {accepted.work_request_id}.")
    result: dict[str, Any] = {"name": name, "work_request_id": accepted.work_request_id, "snapshot_id": None}
    if args.no_wait:
        return _done(
            args,
            {**result, "status": "ACCEPTED"},
            f"Follow it with: airflow-oac snapshots wait {accepted.work_request_id}",
        )
    work_request = _wait(args, hook, accepted.work_request_id, result)
    snapshot = hook.client.find_created_snapshot(name, work_request)
    return _done(
        args,
        {**result, "status": work_request.status.value, "snapshot_id": snapshot.id},
        f"Snapshot {name!r} created: id {snapshot.id}",
    )


def cmd_restore(args: argparse.Namespace) -> int:
    if (args.snapshot_id is None) == (args.name is None):
        raise CLIError("give either SNAPSHOT_ID or --name (the newest snapshot of that name).", EXIT_USAGE)
    _check_timing(args)
    _require_confirmation_possible(args)
    # A password from the environment is checked before any call; stdin is read once the snapshot is found.
    password = _read_password(args) if args.password_env is not None else None
    hook = _hook(args)
    if args.snapshot_id is not None:
        snapshot = hook.get_snapshot(validate_resource_id(args.snapshot_id, "SNAPSHOT_ID"))
    else:
        name = validate_snapshot_name(args.name, "--name")
        found = hook.list_snapshots(name=name)
        if not found:
            raise CLIError(f"No snapshot named {name!r}: see airflow-oac snapshots list.", EXIT_USAGE)
        snapshot = found[0]
    if password is None:
        password = _read_password(args)
    _confirm(
        args,
        f"Restore {hook.config.oac_url} from snapshot {snapshot.id} ({snapshot.name!r}, created "
        f"{when_datetime(snapshot.time_created)})? This overwrites the instance's content.",
    )
    try:
        accepted = hook.restore_snapshot(snapshot.id, password)
    except OACOutcomeUnknownError as exc:
        raise CLIError(f"{exc} Check the instance before restoring again.") from None
    progress(f"OAC started restoring snapshot {snapshot.id}: work request {accepted.work_request_id}.")
    result: dict[str, Any] = {"snapshot_id": snapshot.id, "work_request_id": accepted.work_request_id}
    if args.no_wait:
        return _done(
            args,
            {**result, "status": "ACCEPTED"},
            f"Follow it with: airflow-oac snapshots wait {accepted.work_request_id}",
        )
    work_request = _wait(args, hook, accepted.work_request_id, result)
    return _done(
        args,
        {**result, "status": work_request.status.value},
        f"Restored {hook.config.oac_url} from snapshot {snapshot.id}.",
    )


def cmd_delete(args: argparse.Namespace) -> int:
    snapshot_id = validate_resource_id(args.snapshot_id, "SNAPSHOT_ID")
    _require_confirmation_possible(args)
    hook = _hook(args)
    snapshot = hook.get_snapshot(snapshot_id)
    storage = (
        " and its BAR file (irreversible)" if args.delete_storage else " (its BAR file stays in the bucket)"
    )
    _confirm(args, f"Delete snapshot {snapshot.id} ({snapshot.name!r}){storage}?")
    hook.delete_snapshot(snapshot.id, delete_storage=args.delete_storage)
    result = {
        "snapshot_id": snapshot.id,
        "name": snapshot.name,
        "deleted": True,
        "delete_storage": args.delete_storage,
    }
    return _done(
        args,
        result,
        f"Deleted snapshot {snapshot.id} ({snapshot.name!r}){storage.replace(' (irreversible)', '')}.",
    )


def cmd_copy(args: argparse.Namespace) -> int:
    """The copy operator's steps (:mod:`airflow_provider_oac.refresh`), journalled in memory: a lost
    answer is waited for by name within this run, never posted again."""
    # lazy: CLI start-up (only this command needs the copy)
    from airflow_provider_oac.refresh import MemoryJournal, SnapshotCopy
    from airflow_provider_oac.validation import require_text, validate_snapshot_name

    fix = "give a connection id such as oac_prod"
    source_conn = require_text(args.from_conn_id, "--from-conn-id", fix, max_length=250)
    target_conn = require_text(args.to_conn_id, "--to-conn-id", fix, max_length=250)
    if source_conn == target_conn:
        raise CLIError(
            "--from-conn-id and --to-conn-id are the same connection: to restore an instance from its own "
            "snapshot use airflow-oac snapshots restore.",
            EXIT_USAGE,
        )
    names = {
        flag: validate_snapshot_name(value, flag)
        for flag, value in (
            ("--name", args.name),
            ("--existing", args.existing),
            ("--registered-name", args.registered_name),
            ("--safety-snapshot-name", args.safety_snapshot_name),
        )
        if value is not None
    }
    if args.delete_bar and args.name is None:
        raise CLIError("--delete-bar deletes only a snapshot the copy made (with --name).", EXIT_USAGE)
    _check_timing(args)
    _require_confirmation_possible(args)
    password = _read_password(args, new=args.name is not None or args.safety_snapshot_name is not None)
    source, target = _hook_for(source_conn), _hook_for(target_conn)
    _confirm(
        args,
        f"Copy a snapshot from {source.config.oac_url} and restore it on {target.config.oac_url}? This "
        "overwrites the target's content.",
    )
    copy = SnapshotCopy(
        source=source,
        target=target,
        journal=MemoryJournal(),
        password=password,
        log=_StderrLog(),
        snapshot_name=names.get("--name") or names.get("--existing"),
        snapshot_id=args.snapshot_id,
        use_existing=args.existing is not None,
        registered_name=names.get("--registered-name"),
        safety_snapshot_name=names.get("--safety-snapshot-name"),
        keep_registration=args.keep_registration,
        delete_bar=args.delete_bar,
        bucket=args.bucket,
        poll_interval=args.poll_interval,
        timeout=args.timeout,
        on_progress=progress,
    )
    result = copy.run().as_dict()
    result.update(source_conn_id=source_conn, target_conn_id=target_conn)
    return _done(
        args,
        result,
        f"Restored {result['target_url']} from snapshot {result['source_snapshot_name']!r} of "
        f"{result['source_url']}.",
    )


class _StderrLog:
    """The copy's log for the CLI: progress comes through ``on_progress``; warnings go to stderr
    (Airflow's logging, once loaded, would print on stdout, which ``--json`` keeps for the result)."""

    def info(self, *_args: Any) -> None:
        return None

    def warning(self, message: str, *args: Any) -> None:
        progress(f"Warning: {message % args if args else message}")


def cmd_wait(args: argparse.Namespace) -> int:
    work_request_id = validate_resource_id(args.work_request_id, "WORK_REQUEST_ID")
    _check_timing(args)
    hook = _hook(args)
    work_request = _wait(args, hook, work_request_id, {})
    if args.json:
        print_json(_work_request_details(work_request))
    else:
        print(
            f"Work request {work_request.id} ({work_request.operation_type or 'unknown operation'}) SUCCEEDED."
        )
    return EXIT_OK


# --- helpers ----------------------------------------------------------------------------------------


def _hook(args: argparse.Namespace) -> OACHook:
    return _hook_for(args.conn_id)


def _hook_for(conn_id: str) -> OACHook:
    """The hook on the connection tasks use (see ``airflow-oac status``); stops in one line when
    the token store cannot be read here, before any call."""
    hook, live = connection_hook(conn_id)
    warning = shadow_warning(conn_id, live)
    if warning:
        progress(warning)
    problem = token_store_problem(hook)
    if problem is not None:
        raise CLIError(
            f"airflow-oac snapshots needs the login's newest refresh token, kept in Airflow Variables in the "
            f"metadata database, which this host cannot read ({problem}); using the connection's own token "
            "could present one a task already spent: run it where the metadata database is reachable."
        )
    return hook


def _check_timing(args: argparse.Namespace) -> None:
    validate_positive_number(args.poll_interval, "--poll-interval")
    if args.timeout is not None:
        validate_positive_number(args.timeout, "--timeout")


def _read_password(args: argparse.Namespace, *, new: bool = False) -> str:
    """The snapshot password from --password-env or stdin. ``new`` (a create): Oracle's rule is
    enforced; else (a restore of an existing BAR, maybe older than the rule) it only warns."""
    if args.password_env is not None:
        value = os.environ.get(args.password_env)
        if not value:
            raise CLIError(
                f"Environment variable {args.password_env} is not set or empty: put the snapshot password in it.",
                EXIT_USAGE,
            )
    elif sys.stdin.isatty():
        # lazy: CLI start-up time (airflow-oac --help)
        import getpass

        value = getpass.getpass("Snapshot password: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise CLIError("No password on standard input: pipe it in, e.g. from a secret store.", EXIT_USAGE)
    if new:
        return validate_new_snapshot_password(value, "snapshot password")
    password = validate_password(value, "snapshot password")
    warning = existing_password_warning(password)
    if warning:
        print(f"Warning: {warning}", file=sys.stderr, flush=True)
    return password


def _require_confirmation_possible(args: argparse.Namespace) -> None:
    """Before any call: without --yes there must be a person at a terminal to ask."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CLIError(
            f"airflow-oac snapshots {args.snapshots_command} changes OAC and standard input is not a terminal "
            "to confirm on: pass --yes.",
            EXIT_USAGE,
        )


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CLIError("Not confirmed; nothing was changed.", EXIT_FAILED)


def _wait(
    args: argparse.Namespace, hook: OACHook, work_request_id: str, result: dict[str, Any]
) -> WorkRequest:
    """Wait with progress on stderr. A failed work request prints its JSON (with ``--json``) and
    fails with OAC's message; Ctrl-C stops waiting only (OAC cannot cancel)."""
    seen: dict[str, Any] = {}

    def on_poll(work_request: WorkRequest) -> None:
        seen["last"] = work_request
        percent = work_request.percent_complete
        step = (work_request.status.value, None if percent is None else int(percent // 10))
        if step != seen.get("step"):
            seen["step"] = step
            shown = "" if percent is None else f" ({percent:.0f}%)"
            progress(
                f"Work request {work_request.id}: {work_request.status_text or work_request.status.value}{shown}"
            )

    try:
        return hook.wait_for_work_request(
            work_request_id, poll_interval=args.poll_interval, timeout=args.timeout, on_poll=on_poll
        )
    except KeyboardInterrupt:
        raise CLIError(
            f"Stopped waiting; OAC carries on with work request {work_request_id} (it cannot be cancelled). "
            f"Wait again with: airflow-oac snapshots wait {work_request_id}",
            EXIT_CANCELLED,
        ) from None
    except (OACWorkRequestFailed, OACWorkRequestTimeout):
        if args.json and "last" in seen:
            # Scripts still get the ids they need to follow up; the error goes to stderr as usual.
            details = _work_request_details(seen["last"])
            print_json(
                {**result, "status": details["status"], "errors": details["errors"]} if result else details
            )
        raise


def _done(args: argparse.Namespace, result: dict[str, Any], message: str) -> int:
    if args.json:
        print_json(result)
    else:
        print(message)
    return EXIT_OK


def _snapshot_details(snapshot: Snapshot) -> dict[str, Any]:
    # lazy: CLI start-up time (airflow-oac --help)
    from airflow_provider_oac.client.retention import snapshot_as_dict

    storage = snapshot.storage
    return {
        **snapshot_as_dict(snapshot),
        "storage": None
        if storage is None
        else {
            "bucket": storage.bucket,
            "namespace": storage.namespace,
            "region": storage.region,
            "auth_type": storage.auth_type,
        },
    }


def _work_request_details(work_request: WorkRequest) -> dict[str, Any]:
    return {
        "id": work_request.id,
        "operation_type": work_request.operation_type,
        "status": work_request.status_text or work_request.status.value,
        "percent_complete": work_request.percent_complete,
        "time_accepted": iso(work_request.time_accepted),
        "time_started": iso(work_request.time_started),
        "time_finished": iso(work_request.time_finished),
        "snapshot_id": work_request.snapshot_id,
        "errors": [{"code": error.code, "message": error.message} for error in work_request.errors],
    }
