"""One row of the compat matrix, run by ``scripts/compat.py`` with the row's venv Python, from a
copy of ``tests/`` and ``example_dags/`` (not the checkout, so ``airflow_provider_oac`` is the
installed wheel).

Checks (each prints one JSON line ``COMPAT-RESULT {...}``):

unit        pytest -m "not scheduler and not deployment and not stress" on UNIT_PATHS (the quick
            suite without tests/cli and tests/faults), two xdist workers.
deployment  API server, scheduler (LocalExecutor), DAG processor and triggerer on SQLite, the
            emulator as IAM and OAC; a DAG whose create waits in the worker and whose restore
            waits in the triggerer. While the restore is deferred, the emulator expires every
            access token, so the trigger must refresh (through Airflow's triggerer comms).
            Passes when both tasks succeeded, the emulator saw exactly one snapshot POST and one
            restore POST, the trigger refreshed, no spent refresh token was presented, and the
            snapshot password and no access or refresh token the emulator issued are in any file
            of the deployment (task logs, every component's output) but its database and the
            provider's host journal.
form        the ``oac`` entry of ``/ui/connections/hook_meta`` served by that api-server.
plugin      tests/ui/test_login_routes.py (and the browser test where Chromium is installed):
            the /oac-login page and its API on a real api-server, with SimpleAuthManager users
            logging in through /auth/token.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
UNIT_MARKERS = "not scheduler and not deployment and not stress"
#: The quick suite but tests/cli (each test runs the airflow-oac command in new processes; the
#: deployment check runs `airflow-oac login` on every row) and tests/faults (the fault matrix's
#: short form: the operator paths tests/operators runs). Keeps a row within minutes on 2 cores.
UNIT_PATHS = (
    "tests/auth",
    "tests/client",
    "tests/emulator",
    "tests/hooks",
    "tests/locks",
    "tests/operators",
    "tests/lifecycle",
    "tests/ui",
)
PASSWORD = "Compat-Smoke-Pa55word-9c2e!"
RESTORE_PATH = "/api/20210901/system/actions/restoreSnapshot"
CONN_FIELDS = {
    "iam_url",
    "scope",
    "bucket",
    "storage_auth_type",
    "bucket_namespace",
    "bucket_region",
    "lock_conn_id",
}

SMOKE_DAG = """
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_oac.operators.snapshot import OACCreateSnapshotOperator, OACRestoreSnapshotOperator

NAME = "compat-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}"


@dag(dag_id="oac_compat_smoke", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def oac_compat_smoke():
    create = OACCreateSnapshotOperator(
        task_id="create",
        name=NAME,
        password="{{ var.value.oac_snapshot_password }}",
        poll_interval=1,
        deferrable=False,
    )
    restore = OACRestoreSnapshotOperator(
        task_id="restore",
        snapshot_name=NAME,
        password="{{ var.value.oac_snapshot_password }}",
        poll_interval=1,
        deferrable=True,
    )
    create >> restore


oac_compat_smoke()
"""


def result(check: str, ok: bool, summary: str, seconds: float, **details: Any) -> dict[str, Any]:
    line = {"check": check, "ok": ok, "summary": summary, "seconds": round(seconds, 1), **details}
    print("COMPAT-RESULT " + json.dumps(line), flush=True)
    return line


def installed_package() -> str:
    """Where ``airflow_provider_oac`` comes from: must be the venv's site-packages."""
    import airflow_provider_oac

    where = str(Path(airflow_provider_oac.__file__).resolve())
    if "site-packages" not in where or not where.startswith(str(Path(sys.prefix).resolve())):
        raise SystemExit(f"compat: airflow_provider_oac is imported from {where}, not the installed wheel")
    return where


# --- unit ---------------------------------------------------------------------------------------------


def check_unit(workers: int) -> dict[str, Any]:
    started = time.monotonic()
    junit = HERE / "unit-junit.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "compat_installed",
        "-m",
        UNIT_MARKERS,
        "-q",
        "--no-header",
        f"--junitxml={junit}",
        *UNIT_PATHS,
    ]
    if workers > 1:
        cmd += ["-n", str(workers)]
    proc = subprocess.run(cmd, cwd=HERE, text=True, capture_output=True)
    (HERE / "unit.log").write_text(proc.stdout + proc.stderr)
    seconds = time.monotonic() - started
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed: list[str] = []
    if junit.exists():
        root = ET.parse(junit).getroot()  # noqa: S314 - our own pytest report
        for suite in root.iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname')}::{case.get('name')}")
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    bad = counts["failures"] + counts["errors"]
    ok = proc.returncode == 0 and bad == 0 and counts["tests"] > 0
    summary = f"{passed} passed, {bad} failed, {counts['skipped']} skipped"
    if not junit.exists():
        summary = f"pytest exited {proc.returncode} without a report"
    return result("unit", ok, summary, seconds, failed=failed[:50], log=str(HERE / "unit.log"))


# --- deployment, form --------------------------------------------------------------------------------


def cli_login(deployment: Any, emulator: Any) -> None:
    from airflow_provider_oac.testing import cli_login_args
    from tests.deployment import BIN

    emulator.control.configure(auto_approve=True, device_interval=1)
    proc = subprocess.run(
        [str(BIN / "airflow-oac"), *cli_login_args(emulator), "--bucket", "compat-bucket"],
        env=deployment.env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow-oac login failed:\n{proc.stderr[-2000:]}")


def task_log_tail(home: Path, task_id: str, chars: int = 4000) -> str:
    logs = sorted((home / "logs").rglob(f"task_id={task_id}/*"))
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in logs if p.is_file())


def token_needles(issued: dict[str, list[str]]) -> list[str]:
    """What to search logs for: every issued refresh token, every access token, and each access
    token's signature alone (a JWT's secret part, should a log cut the token short)."""
    needles = [*issued["refresh_tokens"], *issued["access_tokens"]]
    needles += [t.rsplit(".", 1)[-1] for t in issued["access_tokens"] if t.count(".") == 2]
    return [n for n in dict.fromkeys(needles) if len(n) >= 20]


def redact(text: str, needles: list[str]) -> str:
    for needle in needles:
        text = text.replace(needle, "***")
    return text


def files_containing(root: Path, needles: list[str], skip: Path | None = None) -> list[str]:
    """Files under ``root`` (but the SQLite database and ``skip``) holding any of ``needles``,
    relative to ``root``. Names files only: never a needle."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in (".db", ".db-wal", ".db-shm"):
            continue
        if skip is not None and path.is_relative_to(skip):
            continue
        text = path.read_text(errors="replace")
        if any(needle in text for needle in needles):
            found.append(str(path.relative_to(root)))
    return found


def check_deployment_and_form(checks: set[str]) -> list[dict[str, Any]]:
    from airflow_provider_oac.emulator import EmulatorConfig, EmulatorServer
    from tests.deployment import AirflowDeployment

    out: list[dict[str, Any]] = []
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="oac-compat-"))
    dags = tmp / "dags"
    dags.mkdir()
    (dags / "oac_compat_smoke.py").write_text(SMOKE_DAG)
    emulator = EmulatorServer(EmulatorConfig(reuse_detection=True)).start()
    deployment = AirflowDeployment(
        tmp / "home",
        dags_folder=dags,
        env={"AIRFLOW_PROVIDER_OAC_STATE_DIR": str(tmp / "state")},
    )
    details: dict[str, Any] = {"home": str(tmp / "home")}
    try:
        deployment.airflow("db", "migrate", timeout=600)
        cli_login(deployment, emulator)
        deployment.airflow("variables", "set", "oac_snapshot_password", PASSWORD)
        # Each work request takes 12 s: the create waits in the worker, and the restore waits in
        # the triggerer long enough for every access token to be expired meanwhile.
        emulator.control.configure(work_request_seconds=12)
        # The restore's work request is held until the trigger has refreshed (or 180 s passed):
        # a loaded machine can otherwise finish the restore between two looks at the task's
        # state, and the refresh would not be seen while the task was deferred.
        emulator.control.add_fault(f"POST {RESTORE_PATH}", "stuck_work_request")
        with deployment:
            if "form" in checks:
                out.append(check_form(deployment))
            if "deployment" in checks:
                deployment.wait_for_dag("oac_compat_smoke", timeout=300)
                run_id = deployment.trigger("oac_compat_smoke")
                refreshes_before_trigger: int | None = None
                refreshes_while_deferred = 0
                released_at: float | None = None
                deferred_at = 0.0
                deadline = time.monotonic() + 600
                states: dict[str, str] = {}
                while time.monotonic() < deadline:
                    states = deployment.task_states("oac_compat_smoke", run_id)
                    if states.get("restore") == "deferred" and released_at is None:
                        if refreshes_before_trigger is None:
                            # Every access token dies: the trigger's next poll must refresh.
                            emulator.control.expire_access_tokens()
                            refreshes_before_trigger = emulator.control.counters().get("refreshes", 0)
                            deferred_at = time.monotonic()
                        else:
                            # Counted only while the task is deferred (its work request is held):
                            # the trigger's refresh.
                            refreshes_while_deferred = emulator.control.counters().get("refreshes", 0)
                            if (
                                refreshes_while_deferred > refreshes_before_trigger
                                or time.monotonic() - deferred_at > 180
                            ):
                                emulator.control.release_work_requests()
                                released_at = time.monotonic()
                    if all(s in ("success", "failed", "upstream_failed") for s in states.values()) and (
                        len(states) == 2
                    ):
                        break
                    time.sleep(1)
                run_state = deployment.run_states("oac_compat_smoke").get(run_id)
                counters = emulator.control.counters()
                posts = [r for r in emulator.control.request_log() if r["method"] == "POST"]
                snapshot_posts = [r for r in posts if r["path"].endswith("/snapshots")]
                restore_posts = [r for r in posts if r["path"].endswith("/restoreSnapshot")]
                refreshed_in_trigger = (
                    refreshes_before_trigger is not None
                    and refreshes_while_deferred > refreshes_before_trigger
                )
                details.update(
                    task_states=states,
                    run_state=run_state,
                    snapshot_posts=len(snapshot_posts),
                    restore_posts=len(restore_posts),
                    restore_deferred=refreshes_before_trigger is not None,
                    refreshed_in_trigger=refreshed_in_trigger,
                    spent_refresh_token_presentations=counters.get("spent_refresh_token_presentations", 0),
                    revoked_logins=counters.get("revoked_logins", 0),
                )
                # The snapshot password must be in no log of the deployment: task logs and the
                # components' output (3.0's supervisor writes each message from the task there).
                leaked = files_containing(tmp, [PASSWORD])
                details["password_in"] = leaked
                # Nor any token the emulator issued (the login's, every refresh's): the same files
                # but the provider's host journal (tmp/state, mode 0600), which holds them by design.
                tokens = token_needles(emulator.control.issued_tokens())
                tokens_leaked = files_containing(tmp, tokens, skip=tmp / "state")
                details.update(tokens_checked=len(tokens), tokens_in=tokens_leaked)
                ok = (
                    not leaked
                    and not tokens_leaked
                    and bool(tokens)
                    and states == {"create": "success", "restore": "success"}
                    and len(snapshot_posts) == 1
                    and len(restore_posts) == 1
                    and refreshed_in_trigger
                    and counters.get("spent_refresh_token_presentations", 0) == 0
                )
                summary = (
                    f"create {states.get('create')}, restore {states.get('restore')}"
                    f"{' (deferred)' if details['restore_deferred'] else ' (NOT deferred)'}; "
                    f"POST snapshot x{len(snapshot_posts)}, restore x{len(restore_posts)}; "
                    f"refresh in trigger {'yes' if refreshed_in_trigger else 'NO'}"
                    f"{'; password in ' + ', '.join(leaked) if leaked else ''}"
                    f"{'; tokens in ' + ', '.join(tokens_leaked) if tokens_leaked else ''}"
                    f"{'' if leaked or tokens_leaked else f'; logs free of the password and {len(tokens)} tokens'}"
                )
                if not ok:
                    details["create_log"] = redact(task_log_tail(tmp / "home", "create"), tokens)
                    details["restore_log"] = redact(task_log_tail(tmp / "home", "restore"), tokens)
                    details["triggerer_log"] = redact(deployment.component_log("triggerer")[-4000:], tokens)
                out.append(result("deployment", ok, summary, time.monotonic() - started, **details))
    except Exception as exc:
        for check in ("form", "deployment"):
            if check in checks and check not in {r["check"] for r in out}:
                out.append(
                    result(
                        check,
                        False,
                        f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
                        time.monotonic() - started,
                        traceback=traceback.format_exc()[-4000:],
                        **details,
                    )
                )
    finally:
        deployment.stop()
        emulator.stop()
    if all(r["ok"] for r in out):
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def check_form(deployment: Any) -> dict[str, Any]:
    """What the api-server's connection form shows for conn type ``oac``."""
    import requests

    started = time.monotonic()
    base = f"http://127.0.0.1:{deployment.api_port}"
    response = requests.get(f"{base}/ui/connections/hook_meta", timeout=60)
    if response.status_code == 401:
        # 3.1+ want a token for /ui even when every user is an admin: the auth manager's own
        # no-credentials token route (SimpleAuthManager with all admins).
        token = requests.get(f"{base}/auth/token", timeout=60).json()["access_token"]
        response = requests.get(
            f"{base}/ui/connections/hook_meta", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
    if not response.ok:
        return result("form", False, f"hook_meta -> {response.status_code}", time.monotonic() - started)
    entries = [e for e in response.json() if e.get("connection_type") == "oac"]
    if not entries:
        return result("form", False, "no 'oac' connection type in hook_meta", time.monotonic() - started)
    entry = entries[0]
    extra = entry.get("extra_fields") or {}
    # 3.2+ keys conn-fields by bare name; widgets on 3.0/3.1 may be prefixed extra__oac__.
    names = {k.removeprefix("extra__oac__") for k in extra}
    labels = {k.removeprefix("extra__oac__"): (v.get("schema") or {}).get("title") for k, v in extra.items()}
    standard = entry.get("standard_fields") or {}
    hidden = sorted(k for k, v in standard.items() if isinstance(v, dict) and v.get("hidden"))
    host_label = (standard.get("host") or {}).get("title")
    missing = sorted(CONN_FIELDS - names)
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_1_PLUS

    if not AIRFLOW_V_3_1_PLUS and importlib.util.find_spec("wtforms") is None:
        # Airflow 3.0 builds every provider's extra fields and relabelling from the hook's
        # widgets, and skip both for every hook when wtforms (the FAB provider) is not installed
        # (providers_manager: "not fully initialized (UI widgets will be missing)"): the form is
        # Airflow's generic one. What is checked then: the type is offered, with its name, and
        # no extra fields are claimed.
        relabelled = {k: v for k, v in standard.items() if v}
        ok = entry.get("hook_name") == "Oracle Analytics Cloud" and not extra and not relabelled
        return result(
            "form",
            ok,
            "type listed; no custom fields: Airflow 3.0 without wtforms/FAB serves none for any provider",
            time.monotonic() - started,
            hook_name=entry.get("hook_name"),
            extra_keys=sorted(extra),
            standard=standard,
        )
    ok = (
        entry.get("hook_name") == "Oracle Analytics Cloud"
        and not missing
        and host_label == "OAC URL"
        and "port" in hidden
        and bool({"schema", "url_schema"} & set(hidden))
    )
    summary = f"{len(names & CONN_FIELDS)}/{len(CONN_FIELDS)} fields" + (
        f", missing {missing}" if missing else ""
    )
    summary += f"; keys {'bare' if all(k in CONN_FIELDS for k in extra) else 'prefixed'}"
    if host_label != "OAC URL":
        summary += f"; host label {host_label!r}"
    return result(
        "form",
        ok,
        summary,
        time.monotonic() - started,
        hook_name=entry.get("hook_name"),
        extra_keys=sorted(extra),
        labels=labels,
        hidden=hidden,
        host_label=host_label,
    )


# --- plugin ------------------------------------------------------------------------------------------


def check_plugin() -> dict[str, Any]:
    started = time.monotonic()
    junit = HERE / "plugin-junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "compat_installed",
            "-q",
            "--no-header",
            f"--junitxml={junit}",
            "tests/ui/test_login_routes.py",
            "tests/ui/test_login_browser.py",
        ],
        cwd=HERE,
        text=True,
        capture_output=True,
    )
    (HERE / "plugin.log").write_text(proc.stdout + proc.stderr)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed = []
    if junit.exists():
        root = ET.parse(junit).getroot()  # noqa: S314 - our own pytest report
        for suite in root.iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname')}::{case.get('name')}")
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    bad = counts["failures"] + counts["errors"]
    ok = proc.returncode == 0 and bad == 0 and passed > 0
    summary = f"{passed} passed, {bad} failed, {counts['skipped']} skipped"
    return result(
        "plugin", ok, summary, time.monotonic() - started, failed=failed, log=str(HERE / "plugin.log")
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", default="unit,deployment,form,plugin")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    checks = {c.strip() for c in args.checks.split(",") if c.strip()}
    where = installed_package()
    import airflow

    print(f"compat row: airflow {airflow.__version__}, python {sys.version.split()[0]}, provider {where}")
    os.environ.pop("PYTHONPATH", None)
    results = []
    if "unit" in checks:
        results.append(check_unit(args.workers))
    if checks & {"deployment", "form"}:
        results += check_deployment_and_form(checks)
    if "plugin" in checks:
        results.append(check_plugin())
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
