"""Fault-matrix rows for the cross-host refresh lock (issue 13 items 5 and 7): a lock-server outage
and the death of a lock holder's host.

- **lock-server outage**: a create in a DAG run whose access token OAC has just refused refreshes
  under a Redis lock (a ``redis-server`` of the run's own, lease ``lease`` s) while IAM takes
  ``iam_delay`` s to answer; as soon as the refresh holds the lock, Redis is killed for ``seconds``
  and started again on the same port (append-only file: the key and its expiry survive). Promised:
  the holder keeps renewing through the outage, so its key is still its own when Redis is back and
  ends by release, never by expiry (Redis keyspace events), and one refresh.
- **lock server down**: Redis is down for the whole task: the task fails with one line, and no
  refresh token is presented without the lock.
- **host death**: a PostgreSQL advisory-lock holder whose host is cut off (tests/locks/partition.py:
  network namespaces and a throw-away PostgreSQL); promised: another session can take the lock
  within 40 s of the cut (keepalives), and at once after a killed holder process.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

ACTIONS = ("lock_outage", "lock_down", "host_death")
LOCK_CONN_ID = "oac_fault_lock"
HOST_DEATH_LIMIT = 40.0


def applies(fault: Any, step: Any) -> bool:
    # Lock steps take only these faults, and these faults only lock steps.
    if step.kind != "lock" or fault.action not in ACTIONS:
        return False
    if fault.action == "host_death":
        return step.name.endswith("PostgreSQL lock")
    return step.name.endswith("Redis lock")


def expected(fault: Any, step: Any) -> tuple[frozenset[str], str]:
    if fault.action == "lock_outage":
        return frozenset({"success"}), "the lease is renewed through the outage; nobody else takes the lock"
    if fault.action == "lock_down":
        return frozenset({"failed"}), "no lock, no refresh: one line, the refresh token is not presented"
    return frozenset(
        {"success"}
    ), f"the server ends the cut-off holder's session: lock free within {HOST_DEATH_LIMIT:.0f} s"


def run(runner: Any, fault: Any, step: Any, conn_id: str, allowed: frozenset[str], why: str) -> Any:
    if fault.action == "host_death":
        return _host_death(runner, fault, step, conn_id, allowed, why)
    from airflow_provider_oac.hooks.locks import lock_id
    from airflow_provider_oac.testing import login, write_dag
    from tests.faults.matrix import (
        CLIENT_TIMEOUT,
        FAILED,
        FAILURES,
        IMPORTS,
        OPERATOR_TIMEOUT,
        SUCCESS,
        Result,
        captured_fds,
    )

    control = runner.emulator.control
    server = _own_redis(runner)
    lease = float(fault.options.get("lease", 6.0))
    lock_conn = server.conn(lease=lease)
    lock_conn.conn_id = LOCK_CONN_ID
    os.environ.update(lock_conn.airflow_env())
    login(runner.emulator, conn_id, timeout=CLIENT_TIMEOUT, lock_conn_id=LOCK_CONN_ID)
    key = f"airflow-provider-oac:refresh:{lock_id(conn_id)}"
    task = (
        f'OACCreateSnapshotOperator(task_id="oac", name="fault-{runner.index}", oac_conn_id={conn_id!r}, '
        f"password=PASSWORD, poll_interval=0.5, timeout={OPERATOR_TIMEOUT}, on_failure_callback=record_failure)"
    )
    dag = write_dag(f"oac_fault_{runner.index}", task, retries=1, imports=IMPORTS)
    control.expire_access_tokens()
    runner._before = control.counters()
    broken: list[str] = []
    timeline: list[str] = []
    stop = threading.Event()
    began = time.monotonic()

    def outage() -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2)
        deadline = time.monotonic() + 120
        while (holder := client.get(key)) is None:
            if stop.is_set() or time.monotonic() > deadline:
                return
            time.sleep(0.01)
        client.close()
        server.kill()
        timeline.append(
            f"Redis killed {time.monotonic() - began:.1f} s into the run, the refresh holding the lock"
        )
        time.sleep(float(fault.options["seconds"]))
        server.start()
        timeline.append(f"back {time.monotonic() - began:.1f} s in")
        # The lease must still be the holder's, and must end by release (DEL), never by expiry.
        client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2)
        events = client.pubsub()
        events.subscribe("__keyevent@0__:expired")
        if client.get(key) != holder:
            broken.append("the holder's lease ran out during the outage")
        released = False
        while not stop.is_set():
            event = events.get_message(timeout=0.2)
            if event and event["type"] == "message" and event["data"] == key.encode():
                broken.append(f"the lease expired under its live holder {time.monotonic() - began:.1f} s in")
            if not released and client.get(key) is None:
                released = True
                timeline.append(f"released {time.monotonic() - began:.1f} s in")
        events.close()
        client.close()

    if fault.action == "lock_down":
        server.kill()
        control.add_fault(step.route, "delay", delay=0.1, times=1)
    else:
        control.add_fault(step.route, "delay", delay=float(fault.options["iam_delay"]), times=1)
    watcher = threading.Thread(target=outage, daemon=True) if fault.action == "lock_outage" else None
    if watcher:
        watcher.start()
    try:
        with captured_fds() as output:
            run = dag.test()
    finally:
        stop.set()
        if watcher:
            watcher.join(30)
        if fault.action == "lock_down":
            server.start()
    control.clear_faults()
    runner._after = control.counters()
    instance = run.get_task_instances()[0]
    outcome = instance.state if instance.state in (SUCCESS, FAILED) else f"unfinished ({instance.state})"
    message = "(none: succeeded)" if outcome == SUCCESS else FAILURES.get(dag.dag_id, "")
    result = Result(fault.name, step.name, outcome, allowed, why, message, tries=instance.try_number)
    result.broken += broken
    refreshes = runner._after["token_requests"] - runner._before["token_requests"]
    if fault.action == "lock_down" and refreshes:
        result.broken.append(f"{refreshes} refresh(es) presented without the lock")
    if fault.action == "lock_outage":
        if refreshes != 1:
            result.broken.append(f"{refreshes} refreshes (one expected)")
        if not timeline:
            result.broken.append(
                "Redis was not stopped while the refresh held the lock: the row tested nothing"
            )
        result.message = f"{result.message}; " + "; ".join(timeline)
    if outcome == FAILED and (not message or "\n" in message):
        result.broken.append("the failure shows no one-line message")
    result.created = runner._after["snapshots_created"] - runner._before["snapshots_created"]
    runner._outputs = output[0]
    return result


def _own_redis(runner: Any) -> Any:
    from tests.servers import OwnRedis

    server = getattr(runner, "lock_redis", None)
    if server is None:
        server = runner.lock_redis = OwnRedis(runner.work_dir / "lock-redis").start()
    return server


def stop(runner: Any) -> None:
    """Stops what :func:`run` started for ``runner``."""
    server = getattr(runner, "lock_redis", None)
    if server is not None:
        server.stop()
        runner.lock_redis = None


def _host_death(runner: Any, fault: Any, step: Any, conn_id: str, allowed: frozenset[str], why: str) -> Any:
    from airflow_provider_oac.testing import login
    from tests.faults.matrix import FAILED, SUCCESS, Result
    from tests.locks import partition

    login(runner.emulator, conn_id)  # for the common checks (a refresh works afterwards)
    runner._before = runner._after = runner.emulator.control.counters()
    runner._outputs = ""
    reason = partition.missing()
    if reason:
        return Result(fault.name, step.name, f"not run ({reason})", allowed, why, "")
    figures = partition.measure({}, limit=90)
    released, died = figures["partition_s"], figures["process_death_s"]
    outcome = SUCCESS if released is not None and released <= HOST_DEATH_LIMIT else FAILED
    message = (
        f"lock free {released} s after the cut" if released is not None else "still held 90 s after the cut"
    ) + f"; {died} s after a killed holder process"
    result = Result(fault.name, step.name, outcome, allowed, why, message, seconds=0.0)
    if died is None or died > 2:
        result.broken.append(f"a killed holder process kept the lock {died} s")
    return result
