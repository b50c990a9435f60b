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
    if args.log_requests:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
        logging.getLogger("airflow_provider_oac.emulator").setLevel(logging.INFO)

    # Handlers first: a Ctrl-C that lands while the server starts must still end cleanly.
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        server = EmulatorServer(config, port=args.port, host=args.host).start()
    except OSError as exc:
        _restore_handlers(previous)
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        _print_banner(server, config)
        while not stop.wait(0.5):
            if not server.is_running:
                print("error: the emulator stopped unexpectedly.", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        _restore_handlers(previous)
    print("Emulator stopped.", flush=True)
    return 0


def _print_banner(server: Any, config: Any) -> None:
    if config.auto_approve:
        approval = "approved automatically"
    else:
        approval = f"approve in a browser at {server.iam_url}/ui/v1/device"
    lines = [
        "OAC emulator running. Press Ctrl-C to stop.",
        f"  OAC URL:        {server.url}",
        f"  IAM URL:        {server.iam_url}",
        f"  Client ID:      {config.client_id}",
        f"  Scope:          {config.scope}",
        f"  User:           {config.username}",
        f"  Device logins:  {approval}",
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
