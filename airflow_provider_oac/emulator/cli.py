"""Command line for the emulator: ``airflow-oac emulator`` and ``python -m airflow_provider_oac.emulator``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from airflow_provider_oac.validation import is_loopback_host

DESCRIPTION = (
    "Run a local emulator of OCI IAM (device login, refresh tokens) and the Oracle Analytics Cloud "
    "snapshot REST API, for demos and offline development. Serves until Ctrl-C."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on (default 8765; 0 picks one)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to listen on (default 127.0.0.1; no other allowed)",
    )
    parser.add_argument(
        "--auto-approve", action="store_true", help="approve device logins at once, without the browser page"
    )
    parser.add_argument(
        "--access-token-ttl", type=float, default=100.0, help="access token lifetime in seconds (OAC: 100)"
    )
    parser.add_argument(
        "--work-request-seconds",
        type=float,
        default=3.0,
        help="seconds a snapshot or restore takes to finish (default 3)",
    )
    parser.add_argument(
        "--device-interval",
        type=int,
        default=None,
        help="send this polling interval in device responses (default: none sent, as IAM does)",
    )
    parser.add_argument(
        "--reuse-detection",
        action="store_true",
        help="revoke the whole login when a used refresh token is presented again",
    )
    parser.add_argument(
        "--no-rotation",
        action="store_true",
        help="keep refresh tokens valid across refreshes instead of issuing a new one each time",
    )
    parser.add_argument(
        "--audience",
        default=None,
        help="the OAC app's primary audience (scopes are checked against it; e.g. one ending in "
        "':443' or '/')",
    )
    parser.add_argument(
        "--no-password-rule",
        action="store_true",
        help="accept any snapshot password (default: refuse what breaks Oracle's 14-50 character rule)",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=None,
        metavar="N",
        help="run N OAC instances over one object store, on --port, --port+1, ... (2: 'prod' and "
        "'test'; else oac1..oacN); each has its own identity domain and audience",
    )
    parser.add_argument(
        "--instance",
        action="append",
        default=None,
        metavar="NAME[,region=R][,namespace=NS][,version=V]",
        help="run this OAC instance (repeat for several, on --port, --port+1, ...; one object store), "
        "e.g. --instance prod --instance standby,region=eu-frankfurt-1",
    )
    parser.add_argument(
        "--log-requests",
        action="store_true",
        help="log one line per request (method, path, status; no secrets)",
    )


def run(args: argparse.Namespace) -> int:
    """Start the emulator as ``args`` say, print how to connect, serve until Ctrl-C; the exit code."""
    # lazy: airflow-oac --help builds this parser; the server loads only to run
    from airflow_provider_oac.emulator.config import EmulatorConfig
    from airflow_provider_oac.emulator.server import EmulatorServer

    if not is_loopback_host(args.host):
        print(
            f"error: --host {args.host} is not a loopback address: the emulator only listens on "
            "127.0.0.1, ::1 or localhost.",
            file=sys.stderr,
        )
        return 2
    try:
        config = EmulatorConfig(
            access_token_ttl=args.access_token_ttl,
            work_request_seconds=args.work_request_seconds,
            device_interval=args.device_interval,
            auto_approve=args.auto_approve,
            reuse_detection=args.reuse_detection,
            rotate_refresh_tokens=not args.no_rotation,
            log_requests=args.log_requests,
            enforce_snapshot_password_rule=not args.no_password_rule,
            **({"audience": args.audience} if args.audience is not None else {}),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        configs = instance_configs(config, args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.log_requests:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
        logging.getLogger("airflow_provider_oac.emulator").setLevel(logging.INFO)

    # Handlers first: a Ctrl-C that lands while the server starts must still end cleanly.
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    servers: list[Any] = []
    store = None
    if len(configs) > 1:
        # lazy: one emulator instance needs no shared store
        from airflow_provider_oac.emulator.storage import ObjectStore

        store = ObjectStore(threading.RLock())
    for index, instance_config in enumerate(configs):
        port = args.port + index if args.port else 0
        try:
            servers.append(EmulatorServer(instance_config, port=port, host=args.host, store=store).start())
        except OSError as exc:
            for server in servers:
                server.stop()
            _restore_handlers(previous)
            print(f"error: cannot listen on {args.host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    try:
        for server in servers:
            _print_banner(server, server.config, several=len(servers) > 1)
        while not stop.wait(0.5):
            if not all(server.is_running for server in servers):
                print("error: the emulator stopped unexpectedly.", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
        _restore_handlers(previous)
    print("Emulator stopped.", flush=True)
    return 0


def instance_configs(base: Any, args: argparse.Namespace) -> list[Any]:
    """One configuration per instance that ``--instances`` / ``--instance`` ask for (``base``
    alone when neither is given). Each instance gets an audience of its own (unless ``--audience``
    names one for a single instance), its own identity domain (its own server) and its own content;
    ``ValueError`` for a bad spec."""
    specs: list[str] = list(args.instance or [])
    count = getattr(args, "instances", None)
    if count is not None:
        if specs:
            raise ValueError("give --instances or --instance, not both")
        if count < 1 or count > 9:
            raise ValueError("--instances must be 1 to 9")
        specs = ["prod", "test"] if count == 2 else [f"oac{n}" for n in range(1, count + 1)]
    if not specs:
        return [base]
    if len(specs) > 1 and args.audience is not None:
        raise ValueError("--audience names one instance's audience: with several instances each gets its own")
    configs, names = [], set()
    for spec in specs:
        name, *options = [part.strip() for part in spec.split(",")]
        if not name.replace("-", "").isalnum() or name in names:
            raise ValueError(f"--instance {spec!r}: give a new name of letters, digits and '-'")
        names.add(name)
        changes: dict[str, Any] = {"instance_name": name}
        if len(specs) > 1 or args.audience is None:
            changes["audience"] = f"https://{name.lower()}0audience0emulator.analytics.ocp.oraclecloud.com"
        for option in options:
            key, _, value = option.partition("=")
            field = {"region": "region", "namespace": "namespace", "version": "oac_version"}.get(key)
            if field is None or not value:
                raise ValueError(f"--instance {spec!r}: options are region=..., namespace=..., version=...")
            changes[field] = value
        configs.append(base.with_changes(**changes))
    return configs


def _print_banner(server: Any, config: Any, *, several: bool = False) -> None:
    if config.auto_approve:
        approval = "approved automatically"
    else:
        approval = f"approve in a browser at {server.iam_url}/ui/v1/device"
    title = f"OAC emulator instance {config.instance_name!r}" if several else "OAC emulator"
    lines = [
        f"{title} running. Press Ctrl-C to stop.",
        f"  OAC URL:        {server.url}",
        f"  IAM URL:        {server.iam_url}",
        f"  Client ID:      {config.client_id}",
        f"  Scope:          {config.scope}",
        f"  User:           {config.username}",
        f"  Device logins:  {approval}",
    ]
    if several:
        lines += [
            f"  Region:         {config.region} (namespace {config.namespace})",
            f"  OAC version:    {config.oac_version}",
        ]
    print("\n".join(lines), flush=True)


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    """Ctrl-C and SIGTERM end the serve loop cleanly (no traceback); only possible in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda _signum, _frame: stop.set())
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
