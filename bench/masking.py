"""Does masking rotating tokens stay cheap in a process that runs for weeks (a triggerer)?
Target: the cost of masking a new token generation does not grow with the number of refreshes.

    .venv/bin/python bench/masking.py [--refreshes 1000]

Airflow's secrets masker keeps every value it is given and recompiles one regex of all of them at
each new one. A real ``TokenManager`` refreshes ``--refreshes`` times against the emulator (one
per 100-second access-token lifetime, on an injected clock, so a day of refreshes takes a minute)
and stores each generation in the SQLite metadata database, as a triggerer does. Side by side:

- *Airflow's default* (every value masked for good, what plain ``mask_secret`` calls give): the
  same generations' values (access token and refresh token; the stored record is sealed, not a
  secret, and its name is not a sensitive one, so Airflow does not mask it) held by a fresh
  masker, and what one more ``mask_secret`` and masking one log line then cost;
- *ours* (``hooks/masking.py``: a generation is unmasked once it is spent and expired): what this
  process's masker holds after the refreshes, and the same two costs, measured the same way.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env  # sets up AIRFLOW_HOME before Airflow is imported

LOG_LINE = (
    "OAC work request 94e96d99-4383-42ca-b577-7d5bf8805159 (CREATE_SNAPSHOT) is IN_PROGRESS, 50% complete"
)


def costs(masker: object, repeats: int = 5) -> tuple[float, float]:
    """Milliseconds for one more ``add_mask`` (median of ``repeats`` fresh values) and to mask one
    log line (median of 50)."""
    import secrets

    adds = []
    for _ in range(repeats):
        value = secrets.token_urlsafe(48)
        started = time.perf_counter()
        masker.add_mask(value)  # type: ignore[attr-defined]
        adds.append(time.perf_counter() - started)
        masker.patterns.discard(re.escape(value))  # type: ignore[attr-defined]
    lines = []
    for _ in range(50):
        started = time.perf_counter()
        masker.redact(LOG_LINE)  # type: ignore[attr-defined]
        lines.append(time.perf_counter() - started)
    return statistics.median(adds) * 1000, statistics.median(lines) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--refreshes", type=int, default=1000, help="token generations (about 1 day per 1,000)"
    )
    args = parser.parse_args()

    _env.airflow_home("masking")
    from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from airflow_provider_oac.hooks import masking
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.hooks.token_manager import TokenManager
    from airflow_provider_oac.hooks.token_store import VariableTokenStore
    from airflow_provider_oac.testing import login

    # The Task SDK's masker: the one mask_secret feeds in a task process.
    process_masker = masking._masker(masking._masker_modules()[0])
    if process_masker is None:
        print("Airflow's secrets masker has a shape hooks/masking.py does not know: nothing is retired.")
        return 1

    checkpoints = sorted({c for c in (10, 100, args.refreshes) if c <= args.refreshes})
    rows: list[list[object]] = []
    generations: list[tuple[str, str]] = []  # what Airflow's default would keep, per refresh
    now = [time.time()]
    with EmulatorServer(EmulatorConfig()) as emulator:
        login(emulator, "oac_bench_masking")
        config = OACHook("oac_bench_masking").config
        store = VariableTokenStore(config.refresh_token)
        tokens = TokenManager(config, store, clock=lambda: now[0])
        baseline_patterns = len(process_masker.patterns)
        refresh_seconds = []
        for refresh in range(1, args.refreshes + 1):
            started = time.perf_counter()
            access_token = tokens.get_access_token()
            refresh_seconds.append(time.perf_counter() - started)
            record = tokens.stored_record()
            assert record is not None
            generations.append((access_token, record.refresh_token))
            now[0] += 95  # the next call needs a new access token
            if refresh in checkpoints:
                default = SecretsMasker()
                for values in generations:
                    default.patterns.update(re.escape(v) for v in values)
                default.replacer = re.compile("|".join(default.patterns))
                default_add, default_line = costs(default)
                ours_add, ours_line = costs(process_masker)
                ours_patterns = len(process_masker.patterns) - baseline_patterns
                rows.append(
                    [
                        refresh,
                        len(default.patterns),
                        f"{default_add:.1f}",
                        f"{default_line:.3f}",
                        masking.masked_generations(tokens._key),
                        ours_patterns,
                        f"{ours_add:.1f}",
                        f"{ours_line:.3f}",
                        f"{default_add / ours_add:.0f} x",
                    ]
                )
        assert tokens.refresh_count == args.refreshes, tokens.refresh_count
    first, last = rows[0], rows[-1]
    growth = float(last[6]) / float(first[6])
    _env.print_table(
        "Masking rotating tokens: Airflow's default vs hooks/masking.py, after N refreshes in one process",
        [
            "refreshes",
            "default: values held",
            "default: mask_secret ms",
            "default: mask a log line ms",
            "ours: generations held",
            "ours: values held",
            "ours: mask_secret ms",
            "ours: mask a log line ms",
            "mask_secret, default / ours",
        ],
        rows,
        note=(
            f"One refresh per 100-second access-token lifetime ({args.refreshes} refreshes is about "
            f"{args.refreshes * 95 / 86400:.1f} days of continuous waiting); each generation is 2 values "
            "(access token, refresh token). Median refresh in this run, "
            f"HTTP and SQLite included: {statistics.median(refresh_seconds) * 1000:.0f} ms."
        ),
    )
    ok = _env.verdict(
        "masking cost flat in the number of refreshes",
        growth <= 3.0,
        f"mask_secret after {last[0]} refreshes is {growth:.1f} x its cost after {first[0]}",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
