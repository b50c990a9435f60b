"""Can one triggerer wait for 1,000 OAC work requests at once? Targets at 1,000: resident memory
grows by less than 50 MB, event-loop lag p99 under 50 ms, and one token refresh per access-token
lifetime (not one per trigger).

    .venv/bin/python bench/triggerer_scale.py [--counts 100 1000] [--window 45] [--poll-interval 10]

The emulator runs in a process of its own with short access tokens (``--token-ttl``, 20 s). For
each count N, a fresh process (a triggerer's stand-in) creates N snapshot work requests that
stay IN_PROGRESS (the emulator's ``stuck_work_request`` fault), runs one warm-up trigger to
completion (so lazy imports are not counted as growth), then runs N
``OACWorkRequestTrigger.run()`` in one asyncio event loop for ``--window`` seconds, releases the
work requests and waits for every trigger's event. Beside them a ticker coroutine sleeps 10 ms
at a time: how late it wakes is the event-loop lag every trigger would see. The row with 0
triggers runs the ticker alone: the lag this machine adds by itself (other load, GC). Resident memory is
sampled every 250 ms; token refreshes are the emulator's own count.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env  # sets up AIRFLOW_HOME before Airflow is imported

CONN_ID = "oac_default"
API = "/api/20210901"
TICK = 0.010
MB = 1024 * 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


# --- the child: one triggerer's stand-in -----------------------------------------------------------


def child(count: int, url: str, window: float, poll_interval: float) -> dict[str, Any]:
    from airflow_provider_oac.emulator import EmulatorControl
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.triggers.work_request import OUTCOME_SUCCEEDED, OACWorkRequestTrigger

    control = EmulatorControl(url)
    hook = OACHook(CONN_ID)
    # Warm-up: one trigger on a work request that ends at once loads every lazy import.
    control.configure(work_request_seconds=0.0)
    warm = hook.create_snapshot("bench-trigger-warmup", "Bench-Pa55word")

    async def first_event(trigger: OACWorkRequestTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise RuntimeError("the trigger ended without an event")

    asyncio.run(first_event(OACWorkRequestTrigger(warm.work_request_id, CONN_ID, poll_interval=0.1)))

    if count:
        control.add_fault(f"POST {API}/snapshots", "stuck_work_request", times=count)
    work_request_ids = [
        hook.create_snapshot(f"bench-trigger-{index}", "Bench-Pa55word").work_request_id
        for index in range(count)
    ]
    gc.collect()
    baseline = _env.rss_bytes()
    before = control.counters()

    async def run() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        lags: list[float] = []
        rss_samples: list[int] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            next_sample = loop.time()
            while not stop.is_set():
                started = loop.time()
                await asyncio.sleep(TICK)
                lags.append(loop.time() - started - TICK)
                if loop.time() >= next_sample:
                    rss_samples.append(_env.rss_bytes())
                    next_sample += 0.25

        tick_task = asyncio.create_task(ticker())
        started = time.monotonic()
        triggers = [
            asyncio.create_task(first_event(OACWorkRequestTrigger(wid, CONN_ID, poll_interval=poll_interval)))
            for wid in work_request_ids
        ]
        await asyncio.sleep(window)
        released = await asyncio.to_thread(control.release_work_requests)
        events = await asyncio.gather(*triggers)
        elapsed = time.monotonic() - started
        stop.set()
        await tick_task
        return {
            "lags": lags,
            "rss": rss_samples,
            "events": events,
            "released": released,
            "elapsed": elapsed,
        }

    result = asyncio.run(run())
    after = control.counters()
    succeeded = sum(1 for event in result["events"] if event.get("status") == OUTCOME_SUCCEEDED)
    lags = result["lags"]
    return {
        "count": count,
        "baseline_mb": baseline / MB,
        "growth_mb": (max(result["rss"], default=baseline) - baseline) / MB,
        "lag_p50_ms": percentile(lags, 0.50) * 1000,
        "lag_p99_ms": percentile(lags, 0.99) * 1000,
        "lag_max_ms": max(lags) * 1000,
        "ticks": len(lags),
        "succeeded": succeeded,
        "elapsed": result["elapsed"],
        "polls": after["oac_requests"] - before["oac_requests"],
        "refreshes": after["refreshes"] - before["refreshes"],
        "token_requests": after["token_requests"] - before["token_requests"],
        "unauthorized": after["oac_unauthorized"] - before["oac_unauthorized"],
    }


# --- the parent: emulator, login, one child per count ----------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--counts",
        type=int,
        nargs="+",
        default=[0, 100, 1000],
        help="0: the ticker alone (the machine's own lag)",
    )
    parser.add_argument("--window", type=float, default=45.0, help="seconds the triggers wait")
    parser.add_argument("--poll-interval", type=float, default=10.0, help="the triggers' poll interval")
    parser.add_argument("--token-ttl", type=float, default=20.0, help="access-token lifetime, seconds")
    parser.add_argument("--child", nargs=2, metavar=("COUNT", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(int(args.child[0]), args.child[1], args.window, args.poll_interval)
        print(json.dumps(result))
        return 0

    from airflow_provider_oac.auth.tokens import ACCESS_TOKEN_REFRESH_MARGIN
    from airflow_provider_oac.testing import EmulatorProcess, login

    _env.airflow_home("triggerer")
    rows: list[list[object]] = []
    met = True
    # auth.tokens refreshes a quarter of the life early for short tokens, else 15 s early.
    short = args.token_ttl < 4 * ACCESS_TOKEN_REFRESH_MARGIN
    usable = args.token_ttl - (args.token_ttl / 4 if short else ACCESS_TOKEN_REFRESH_MARGIN)
    with EmulatorProcess("--access-token-ttl", str(args.token_ttl)) as emulator:
        login(emulator, CONN_ID)
        for count in args.counts:
            completed = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(count),
                    emulator.url,
                    "--window",
                    str(args.window),
                    "--poll-interval",
                    str(args.poll_interval),
                ],
                capture_output=True,
                text=True,
            )
            if completed.returncode != 0:
                print(completed.stderr[-3000:], file=sys.stderr)
                return 1
            r = json.loads(completed.stdout.strip().splitlines()[-1])
            lifetimes = r["elapsed"] / args.token_ttl
            # The first refresh comes at once (the stored token is old); then one per usable life.
            allowed = 1 + math.floor(r["elapsed"] / usable)
            ok_refresh = 1 <= r["refreshes"] <= allowed and r["unauthorized"] == 0
            ok_memory = r["growth_mb"] < 50
            ok_lag = r["lag_p99_ms"] < 50
            ok_events = r["succeeded"] == count
            if count >= 1000:
                met = met and ok_refresh and ok_memory and ok_lag and ok_events
            refreshes = f"{r['refreshes']} in {lifetimes:.1f} lifetimes (at most {allowed})" if count else "-"
            rows.append(
                [
                    count or "0 (ticker alone)",
                    f"{r['succeeded']}/{count}",
                    f"{r['elapsed']:.0f}",
                    r["polls"],
                    f"{r['growth_mb']:.1f}"
                    + (f" ({r['growth_mb'] * 1024 / count:.0f} KiB each)" if count else ""),
                    f"{r['lag_p50_ms']:.1f}",
                    f"{r['lag_p99_ms']:.1f}",
                    f"{r['lag_max_ms']:.0f}",
                    refreshes,
                    r["unauthorized"],
                ]
            )
    _env.print_table(
        "Triggerer scale: N OACWorkRequestTrigger.run() in one event loop",
        [
            "triggers",
            "events ok",
            "seconds",
            "OAC calls",
            "RSS growth MB",
            "lag p50 ms",
            "lag p99 ms",
            "lag max ms",
            "token refreshes",
            "OAC 401s",
        ],
        rows,
        note=(
            f"poll interval {args.poll_interval:g} s, waiting {args.window:g} s then all work requests end; "
            f"access tokens live {args.token_ttl:g} s (refreshed {args.token_ttl - usable:g} s early). "
            "Lag: how late a 10 ms sleep wakes. Targets at 1,000: growth < 50 MB, p99 < 50 ms, one "
            "refresh per lifetime."
        ),
    )
    _env.verdict("targets at 1,000 triggers", met, "memory, lag, refreshes, every trigger's event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
