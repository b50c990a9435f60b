"""Extra links shown on OAC task instances in the Airflow UI."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom


class OACInstanceLink(BaseOperatorLink):
    """Opens the OAC instance the task talked to (the URL is pushed to XCom by the operator)."""

    name = "Oracle Analytics Cloud"
    xcom_key = "oac_instance_url"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        url = XCom.get_value(key=self.xcom_key, ti_key=ti_key)
        return f"{url}/ui/" if url else ""


class OACSourceInstanceLink(BaseOperatorLink):
    """Opens the instance a copy took its snapshot from (the copy operator's source connection);
    :class:`OACInstanceLink` opens the target."""

    name = "Oracle Analytics Cloud (source)"
    xcom_key = "oac_source_instance_url"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        url = XCom.get_value(key=self.xcom_key, ti_key=ti_key)
        return f"{url}/ui/" if url else ""
