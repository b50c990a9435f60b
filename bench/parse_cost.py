"""What does a DAG file pay to import our operators, next to the Tableau and dbt Cloud providers?
Target: at most half of what the Tableau operator adds.

    .venv/bin/python bench/parse_cost.py [--rounds 9] [--memory-rounds 3]

Every DAG file already pays for ``import airflow.sdk``; this measures what importing an operator
module adds on top of it. Each sample is a fresh interpreter (as a DAG-processor parse is) that
imports ``airflow.sdk``, then the operator module, and reports for that second import: CPU time
(``time.process_time``: what the parse costs the machine, and steadier than wall time on a busy
host), wall time, the modules it loaded, the resident-memory (RSS) growth, and, in a separate
interpreter (tracing slows imports down), the Python memory it allocated (``tracemalloc``).
Rounds run every variant once, in a shuffled order, so load on the machine hits all alike; the
table shows medians. One warm-up round (writes byte-code caches) is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env  # shared table printing (its AIRFLOW_HOME helper is not used here)

REPO = _env.REPO

#: (label, modules imported after airflow.sdk). The first OAC row is what a backup or refresh DAG
#: imports; the second is every operator and the sensor we ship.
VARIANTS: list[tuple[str, tuple[str, ...]]] = [
    ("OAC create/restore operators", ("airflow_provider_oac.operators.snapshot",)),
    (
        "OAC all operators + sensor",
        (
            "airflow_provider_oac.operators.snapshot",
            "airflow_provider_oac.operators.lifecycle",
            "airflow_provider_oac.operators.keepalive",
            "airflow_provider_oac.sensors.work_request",
        ),
    ),
    ("Tableau operator", ("airflow.providers.tableau.operators.tableau",)),
    ("dbt Cloud run-job operator", ("airflow.providers.dbt.cloud.operators.dbt",)),
]
BASELINE = "Tableau operator"
TARGET_RATIO = 0.5

CHILD = r"""
import json, os, sys, time

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

trace = sys.argv[1] == "trace"
modules = sys.argv[2:]
t0 = time.process_time()
import airflow.sdk
sdk_cpu = time.process_time() - t0
before = set(sys.modules)
if trace:
    import tracemalloc
    tracemalloc.start()
rss0, cpu0, wall0 = rss(), time.process_time(), time.perf_counter()
for name in modules:
    __import__(name)
result = {
    "cpu": time.process_time() - cpu0,
    "wall": time.perf_counter() - wall0,
    "rss": rss() - rss0,
    "modules": len(set(sys.modules) - before),
    "sdk_cpu": sdk_cpu,
}
if trace:
    result["traced"] = tracemalloc.get_traced_memory()[0]
print(json.dumps(result))
"""


def sample(modules: tuple[str, ...], *, trace: bool, env: dict[str, str]) -> dict[str, float]:
    mode = "trace" if trace else "time"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, *modules],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(rounds: int, memory_rounds: int) -> dict[str, dict[str, float]]:
    home = tempfile.mkdtemp(prefix="oac-bench-parse-")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))},
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    samples: dict[str, list[dict[str, float]]] = {label: [] for label, _ in VARIANTS}
    traced: dict[str, list[float]] = {label: [] for label, _ in VARIANTS}
    for round_index in range(rounds + 1):
        order = list(VARIANTS)
        random.shuffle(order)
        for label, modules in order:
            timing = sample(modules, trace=False, env=env)
            if round_index == 0:
                continue  # warm-up: byte-code caches, first config write
            samples[label].append(timing)
            if round_index <= memory_rounds:
                traced[label].append(sample(modules, trace=True, env=env)["traced"])
        print(f"  round {round_index}/{rounds} done", file=sys.stderr, flush=True)
    medians: dict[str, dict[str, float]] = {}
    for label, rows in samples.items():
        medians[label] = {
            key: statistics.median(row[key] for row in rows)
            for key in ("cpu", "wall", "rss", "modules", "sdk_cpu")
        }
        medians[label]["traced"] = statistics.median(traced[label])
    return medians


def print_table(medians: dict[str, dict[str, float]], rounds: int) -> bool:
    base = medians[BASELINE]
    headers = [
        "import (after airflow.sdk)",
        "modules",
        "CPU ms",
        "x Tableau",
        "wall ms",
        "x Tableau",
        "RSS KiB",
        "x Tableau",
        "alloc KiB",
        "x Tableau",
    ]
    rows = []
    for label, _ in VARIANTS:
        m = medians[label]
        rows.append(
            [
                label,
                f"{m['modules']:.0f}",
                f"{m['cpu'] * 1000:.1f}",
                f"{m['cpu'] / base['cpu']:.3f}",
                f"{m['wall'] * 1000:.1f}",
                f"{m['wall'] / base['wall']:.3f}",
                f"{m['rss'] / 1024:.0f}",
                f"{m['rss'] / base['rss']:.3f}" if base["rss"] else "-",
                f"{m['traced'] / 1024:.0f}",
                f"{m['traced'] / base['traced']:.3f}",
            ]
        )
    sdk_cpu = statistics.median(m["sdk_cpu"] for m in medians.values())
    _env.print_table(
        "DAG-parse cost: what importing the operator adds on top of `import airflow.sdk`",
        headers,
        rows,
        note=(
            f"medians of {rounds} fresh interpreters per row, rounds interleaved; `import airflow.sdk` itself: "
            f"{sdk_cpu * 1000:.0f} ms CPU; target: OAC at most {TARGET_RATIO:g} x Tableau"
        ),
    )
    met = True
    for label, _ in VARIANTS:
        if not label.startswith("OAC"):
            continue
        m = medians[label]
        worst = max(m["cpu"] / base["cpu"], m["traced"] / base["traced"])
        ok = worst <= TARGET_RATIO
        met = met and ok
        print(
            f"\n{label}: at most {worst:.3f} x Tableau (CPU, allocations): {'met' if ok else 'MISSED'}",
            end="",
        )
    print()
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timing samples per row (default 9)")
    parser.add_argument(
        "--memory-rounds", type=int, default=3, help="tracemalloc samples per row (default 3)"
    )
    args = parser.parse_args()
    medians = measure(args.rounds, max(1, min(args.memory_rounds, args.rounds)))
    met = print_table(medians, args.rounds)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
