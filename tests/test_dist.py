"""The wheel, installed into a clean virtual environment beside a released Airflow, is found by Airflow.

No editable install and nothing from the checkout on the path: the wheel is built as ``make dist``
builds it, installed with uv (Airflow and its dependencies pinned by requirements/dev.lock, so the
packages come from uv's cache), and Airflow finds the provider through its entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_oac import __version__
from tests.conftest import REPO

UV = Path(sys.executable).parent / "uv"


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, text=True, capture_output=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_built_wheel_installs_into_a_clean_venv_and_airflow_finds_the_provider(tmp_path):
    run(UV, "build", "--quiet", "--no-build-isolation", "--python", sys.executable, "--wheel",
        "--out-dir", tmp_path / "dist", REPO, cwd=REPO)  # fmt: skip
    [wheel] = (tmp_path / "dist").glob("*.whl")
    assert wheel.name == f"airflow_provider_oac-{__version__}-py3-none-any.whl"

    venv = tmp_path / "venv"
    run(UV, "venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "--quiet", "--python", python, "--constraint", REPO / "requirements" / "dev.lock",
        f"{wheel}[postgres,redis,qr]", cwd=tmp_path)  # fmt: skip

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))},
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    probe = """
import json
from importlib.metadata import entry_points, version

import airflow
import airflow_provider_oac
from airflow.providers_manager import ProvidersManager

[entry_point] = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_oac")]
info = entry_point.load()()
manager = ProvidersManager()
print(json.dumps({
    "airflow": version("apache-airflow"),
    "module": airflow_provider_oac.__file__,
    "package_name": info["package-name"],
    "connection_types": [c["connection-type"] for c in info["connection-types"]],
    "manager_version": manager.providers["airflow-provider-oac"].version,
    "oac_hook": manager.hooks["oac"].hook_class_name if manager.hooks.get("oac") else None,
}))
"""
    seen = json.loads(run(python, "-c", probe, cwd=tmp_path, env=env).strip().splitlines()[-1])
    assert seen["module"].startswith(str(venv)), seen["module"]  # the installed copy, not the checkout
    assert seen["airflow"] == "3.3.2"
    assert seen["package_name"] == "airflow-provider-oac"
    assert seen["connection_types"] == ["oac"]
    assert seen["manager_version"] == __version__
    assert seen["oac_hook"] == "airflow_provider_oac.hooks.oac.OACHook"

    shown = run(venv / "bin" / "airflow", "providers", "get", "airflow-provider-oac", cwd=tmp_path, env=env)
    assert "airflow-provider-oac" in shown
    assert __version__ in shown
    assert (
        run(venv / "bin" / "airflow-oac", "--version", cwd=tmp_path, env=env)
        == f"airflow-provider-oac {__version__}\n"
    )
