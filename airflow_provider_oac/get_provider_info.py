"""Provider metadata for Airflow's ProvidersManager (the ``apache_airflow_provider`` entry point).

Airflow calls this in every process that discovers providers, without a guard: it must stay a
plain function that imports nothing and cannot raise.
"""

from __future__ import annotations

from typing import Any

_EXAMPLE_OAC = "https://myoac-abcd-ia.analytics.ocp.oraclecloud.com"
_EXAMPLE_IAM = "https://idcs-0123456789abcdef.identity.oraclecloud.com"


def get_provider_info() -> dict[str, Any]:
    # lazy: this function must import nothing at load (module docstring)
    from airflow_provider_oac import __version__

    return {
        "package-name": "airflow-provider-oac",
        "name": "Oracle Analytics Cloud",
        "description": "Snapshot and restore Oracle Analytics Cloud (OAC) from Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Oracle Analytics Cloud",
                "external-doc-url": "https://docs.oracle.com/en/cloud/paas/analytics-cloud/acapi/",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Oracle Analytics Cloud",
                "python-modules": [
                    "airflow_provider_oac.operators.snapshot",
                    "airflow_provider_oac.operators.lifecycle",
                    "airflow_provider_oac.operators.keepalive",
                    "airflow_provider_oac.operators.copy",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Oracle Analytics Cloud",
                "python-modules": ["airflow_provider_oac.sensors.work_request"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Oracle Analytics Cloud",
                "python-modules": ["airflow_provider_oac.hooks.oac"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Oracle Analytics Cloud",
                "python-modules": ["airflow_provider_oac.triggers.work_request"],
            }
        ],
        "extra-links": [
            "airflow_provider_oac.links.OACInstanceLink",
            "airflow_provider_oac.links.OACSourceInstanceLink",
        ],
        "connection-types": [
            {
                "connection-type": "oac",
                "hook-class-name": "airflow_provider_oac.hooks.oac.OACHook",
                "hook-name": "Oracle Analytics Cloud",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "OAC URL",
                        "login": "IAM client id",
                        "password": "Refresh token (written by airflow-oac login)",
                    },
                    "placeholders": {
                        "host": _EXAMPLE_OAC,
                        "login": "Client ID of the public IAM app (Device Code + Refresh Token grants)",
                        "password": "leave empty: airflow-oac login fills it",
                    },
                },
                "conn-fields": {
                    "iam_url": {
                        "label": "IAM identity domain URL",
                        "description": f"Domain URL, e.g. {_EXAMPLE_IAM}",
                        "schema": {"type": ["string", "null"], "format": "url"},
                    },
                    "scope": {
                        "label": "Scope",
                        "description": "<OAC primary audience>urn:opc:resource:consumer::all offline_access",
                        "schema": {"type": ["string", "null"]},
                    },
                    "bucket": {
                        "label": "Snapshot bucket",
                        "description": "OCI Object Storage bucket for BAR files (same region and tenancy)",
                        "schema": {"type": ["string", "null"]},
                    },
                    "storage_auth_type": {
                        "label": "Storage auth type",
                        "description": "OCI_RESOURCE_PRINCIPAL (the default; leave empty). API-key auth is not "
                        "offered: the provider cannot pass its key fields",
                        "schema": {"type": ["string", "null"]},
                    },
                    "bucket_namespace": {
                        "label": "Bucket namespace",
                        "description": "Only when the bucket is in another tenancy",
                        "schema": {"type": ["string", "null"]},
                    },
                    "bucket_region": {
                        "label": "Bucket region",
                        "description": "Only when the bucket is in another region",
                        "schema": {"type": ["string", "null"]},
                    },
                    "lock_conn_id": {
                        "label": "Cross-host refresh lock connection",
                        "description": "A postgres or redis connection; needed when workers or triggerers run "
                        "on more than one host",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
