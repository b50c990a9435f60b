"""The Airflow plugin that adds the "Log in to OAC" page to the Airflow 3 UI.

Registered through the ``airflow.plugins`` entry point (provider info alone is loaded only when
``[core] lazy_discover_providers`` is off). Every Airflow process imports this module when it
loads plugins, so it stays cheap: the page's FastAPI app is built on the first request under
``/oac-login``, which only the API server ever receives.

- Airflow 3.0: open ``<airflow base URL>/oac-login/`` (3.0 has no navigation entries for plugins
  without the FAB auth manager's legacy views).
- Airflow 3.1+: Admin > "Log in to OAC" (an external view shown in Airflow's frame).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

#: Where the page lives under the API server's base URL.
URL_PREFIX = "/oac-login"


class _LoginApp:
    """An ASGI app that builds the real one (:func:`.login_app.create_app`) on first use."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            # lazy: importing the plugin must load nothing (tests/ui/test_plugin.py)
            from airflow_provider_oac.plugins.login_app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class OACLoginPlugin(AirflowPlugin):
    """Log in to Oracle Analytics Cloud from the Airflow UI (device flow)."""

    name = "airflow-provider-oac"
    fastapi_apps = [{"name": "Log in to OAC", "app": _LoginApp(), "url_prefix": URL_PREFIX}]
    # Airflow 3.1+ only; 3.0 ignores the attribute. The href is relative to the UI's base URL.
    external_views = [
        {
            "name": "Log in to OAC",
            "href": URL_PREFIX.lstrip("/") + "/",
            "url_route": "oac-login",
            "destination": "nav",
            "category": "admin",
        }
    ]
