"""A tiny custom secrets backend for the CLI precedence tests: connections as JSON in one file.

Configured the way Airflow configures any backend, through ``[secrets] backend`` and
``backend_kwargs`` (``AIRFLOW__SECRETS__BACKEND``, ``AIRFLOW__SECRETS__BACKEND_KWARGS``).
"""

from __future__ import annotations

import json
from pathlib import Path

from airflow.secrets import BaseSecretsBackend


class JsonFileSecretsBackend(BaseSecretsBackend):
    def __init__(self, path: str, **kwargs: object):
        super().__init__(**kwargs)
        self.path = Path(path)

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        connections = json.loads(self.path.read_text())
        value = connections.get(conn_id)
        return None if value is None else json.dumps(value)

    def get_variable(self, key: str, team_name: str | None = None) -> str | None:
        return None  # connections only
