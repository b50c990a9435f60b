"""How long a dead PostgreSQL lock holder keeps the lock, measured on a real server:
``python -m tests.locks.partition [--extra JSON] [--limit SECONDS]`` (prints one JSON line).

Everything runs in network namespaces of its own (so it needs root): a throw-away PostgreSQL in
namespace A, the lock holder (``tests.locks.lock_worker hold``) in namespace B, joined by a veth
pair. Nothing touches the machine's own network or servers. Two deaths of the holder:

- process death: SIGKILL; the holder's kernel closes the socket, the server sees it at once;
- host death or partition: B's address is removed, so every packet the server sends to the holder
  vanishes without an answer or an error, as when a host loses power or its network. The server
  only finds out through TCP keepalive (or its user timeout) on the holder's session.

For each, the time from the death until another session can take the lock
(``pg_try_advisory_lock`` from namespace A, polled every 0.25 s), or ``null`` if it could not
within ``--limit`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NS_FLAG = "OAC_PARTITION_NAMESPACE"
SERVER, HOLDER = "10.77.0.1", "10.77.0.2"


def missing() -> str | None:
    """Why this cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    if _pg_bin("initdb") is None:
        return "needs PostgreSQL's initdb and postgres binaries"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "needs a 'postgres' OS user (PostgreSQL refuses to run as root)"
    return None


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    return None


def measure(extra: dict, limit: float) -> dict:
    """Runs this module in a new network namespace and returns its figures."""
    completed = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.locks.partition", "--extra", json.dumps(extra)]
        + ["--limit", str(limit)],
        env={**os.environ, NS_FLAG: "1"},
        capture_output=True,
        text=True,
        timeout=limit * 2 + 120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"partition run failed: {completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _as_postgres():
    user = pwd.getpwnam("postgres")

    def switch() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return switch


def _run(*args: str) -> None:
    _say(" ".join(args))
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def _say(text: str) -> None:
    if os.environ.get("OAC_PARTITION_VERBOSE"):
        print(f"[{time.monotonic():.1f}] {text}", file=sys.stderr, flush=True)


def _inside(extra: dict, limit: float) -> dict:
    import psycopg2

    from airflow_provider_oac.hooks.locks import advisory_lock_key
    from tests.servers import LockConn, unique_lock_name

    _run("ip", "link", "set", "lo", "up")
    host_b = subprocess.Popen(["unshare", "-n", "sleep", "3600"])
    work = Path(tempfile.mkdtemp(prefix="oac-partition-"))
    server = None
    try:
        own = os.readlink("/proc/self/ns/net")
        while os.readlink(f"/proc/{host_b.pid}/ns/net") == own:
            time.sleep(0.01)
        in_b = ["nsenter", "-t", str(host_b.pid), "-n"]
        _run("ip", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", str(host_b.pid))
        _run("ip", "addr", "add", f"{SERVER}/24", "dev", "va")
        _run("ip", "link", "set", "va", "up")
        _run(*in_b, "ip", "link", "set", "lo", "up")
        _run(*in_b, "ip", "addr", "add", f"{HOLDER}/24", "dev", "vb")
        _run(*in_b, "ip", "link", "set", "vb", "up")

        os.chmod(work, 0o777)
        data = work / "data"
        subprocess.run(
            [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"],
            check=True,
            capture_output=True,
            preexec_fn=_as_postgres(),
        )
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {SERVER}/24 trust\n")
        server = subprocess.Popen(
            [_pg_bin("postgres"), "-D", str(data), "-p", "5432", "-k", str(work)]
            + ["-c", f"listen_addresses=127.0.0.1,{SERVER}", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "server.log", "w"),  # noqa: SIM115 - closed with the process
            preexec_fn=_as_postgres(),
        )
        observer = None
        deadline = time.monotonic() + 30
        while observer is None:
            try:
                observer = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        observer.autocommit = True
        conn = LockConn("oac_lock_pg", "postgres", SERVER, 5432, "postgres", None, "postgres", extra)

        def holder(name: str) -> subprocess.Popen[str]:
            proc = subprocess.Popen(
                [*in_b, sys.executable, "-m", "tests.locks.lock_worker", "hold", conn.to_json(), name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "held":
                raise RuntimeError(f"holder did not take the lock: {line!r} {proc.stderr.read()[-2000:]}")
            return proc

        def released_after(name: str, since: float) -> float | None:
            key = advisory_lock_key(name)
            with observer.cursor() as cursor:
                while time.monotonic() - since < limit:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                    if cursor.fetchone()[0]:
                        cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
                        return round(time.monotonic() - since, 2)
                    time.sleep(0.25)
            return None

        figures: dict = {"extra": extra, "limit": limit}
        name = unique_lock_name()
        proc = holder(name)
        proc.kill()
        proc.wait()
        figures["process_death_s"] = released_after(name, time.monotonic())

        name = unique_lock_name()
        proc = holder(name)
        time.sleep(0.5)
        cut = time.monotonic()
        _run(*in_b, "ip", "addr", "del", f"{HOLDER}/24", "dev", "vb")
        figures["partition_s"] = released_after(name, cut)
        proc.kill()
        proc.wait()
        observer.close()
        return figures
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # fast shutdown: ends sessions that are left
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        host_b.kill()
        host_b.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra", default="{}", help="the lock connection's Extra (JSON)")
    parser.add_argument("--limit", type=float, default=90.0)
    args = parser.parse_args()
    extra = json.loads(args.extra)
    if os.environ.get(NS_FLAG) == "1":
        print(json.dumps(_inside(extra, args.limit)))
        return 0
    reason = missing()
    if reason:
        print(f"cannot measure here: {reason}", file=sys.stderr)
        return 2
    print(json.dumps(measure(extra, args.limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
