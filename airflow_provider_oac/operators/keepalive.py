"""Keep an idle OAC login alive: one refresh per run, so IAM's refresh-token lifetime starts again."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.operators._base import OACSingleCallOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class OACKeepAliveOperator(OACSingleCallOperator):
    """Refresh the login of ``oac_conn_id`` once, whether or not its access token is still fresh.

    IAM's refresh tokens expire a fixed time (7 days by default) after the last refresh. Every
    OAC task refreshes as it goes, but a deployment whose OAC DAGs run less often than that loses
    the login. Schedule this operator well inside that lifetime (the example DAG
    ``oac_keep_alive`` runs every 12 hours) and an idle deployment stays logged in for months.

    Each run makes one token request to IAM and no OAC call. It logs when the login now expires,
    warns when that is within 24 hours (an IAM lifetime shorter than a day) and returns the expiry
    as ISO 8601 UTC text. A dead login (expired, revoked, logged out) fails the task without
    retries, naming ``airflow-oac login --conn-id ...``; an IAM outage fails it so that Airflow's
    retries try again.

    :param oac_conn_id: the ``oac`` connection (``airflow-oac login`` writes it).

    The waiting parameters of the other OAC operators (``wait_for_completion``, ``poll_interval``,
    ``timeout``, ``deferrable``) are refused when the DAG is parsed: there is nothing to wait for.
    """

    def __init__(self, *, oac_conn_id: str = "oac_default", **kwargs: Any):
        super().__init__(oac_conn_id=oac_conn_id, **kwargs)

    def execute(self, context: Context) -> str | None:
        with self.oac_errors():
            tokens = self.hook.token_manager
            expired_at_before = tokens.login_expires_at()
            # Forget this process's fresh access token so get_access_token() refreshes at IAM.
            tokens.invalidate_current()
            tokens.get_access_token()
            expires_at = tokens.login_expires_at()
        self.push_instance_url(context)
        if expires_at is None:  # only when the store lost its record between the two calls
            self.log.info("Refreshed the OAC login of connection %r.", self.oac_conn_id)
            return None
        before = f" (before this run: {_utc(expired_at_before)})" if expired_at_before else ""
        self.log.info(
            "Refreshed the OAC login of connection %r: it now lasts until %s unless refreshed again%s.",
            self.oac_conn_id,
            _utc(expires_at),
            before,
        )
        self.warn_if_login_expiring()
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
