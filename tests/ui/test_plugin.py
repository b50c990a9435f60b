"""The plugin as Airflow loads it: through the entry point, cheaply, in every process."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow_provider_oac.plugins
from airflow_provider_oac.plugins.ui import URL_PREFIX, OACLoginPlugin

HEAVY = (
    "fastapi",
    "starlette",
    "pydantic",
    "requests",
    "httpx",
    "airflow.api_fastapi",
    "airflow_provider_oac.auth",
)


def test_the_airflow_plugins_entry_point_names_the_plugin():
    (entry,) = [
        e for e in entry_points(group="airflow.plugins") if e.value.startswith("airflow_provider_oac")
    ]

    assert entry.load() is OACLoginPlugin


def test_importing_the_plugin_loads_nothing_heavy():
    # What a scheduler, worker or DAG processor pays: the plugins manager is loaded already.
    code = (
        "import sys, json, airflow.plugins_manager\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_oac.plugins.ui\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.splitlines()[-1])

    assert [m for m in loaded if m.startswith(HEAVY)] == []
    assert set(loaded) <= {
        "airflow_provider_oac",
        "airflow_provider_oac.plugins",
        "airflow_provider_oac.plugins.ui",
    }


def test_the_login_page_imports_no_cli_code():
    # plugins/ and cli/ share airflow_provider_oac.login; the page never loads the command line,
    # not even in a function-local import.
    plugins = Path(airflow_provider_oac.plugins.__file__).parent
    imported = set()
    for source in plugins.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add((source.name, node.module))
            elif isinstance(node, ast.Import):
                imported.update((source.name, alias.name) for alias in node.names)

    assert {
        (name, module) for name, module in imported if module.startswith("airflow_provider_oac.cli")
    } == set()
    assert ("login_service.py", "airflow_provider_oac.login.settings") in imported


def test_the_app_is_mounted_at_oac_login_and_listed_in_the_admin_menu():
    (app,) = OACLoginPlugin.fastapi_apps
    (view,) = OACLoginPlugin.external_views

    assert app["url_prefix"] == URL_PREFIX == "/oac-login"
    assert view["category"] == "admin"
    assert view["href"] == "oac-login/"  # relative: resolved against the UI's base URL
