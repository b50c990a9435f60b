"""The device login as one concept, shared by ``airflow-oac login`` (:mod:`airflow_provider_oac.cli`)
and the Airflow UI page (:mod:`airflow_provider_oac.plugins`).

- :mod:`.settings`: what a login is for. The connection a login replaces
  (:class:`~.settings.ExistingConnection`), the "not an OAC connection" check, and
  :func:`~.settings.complete_settings`, which completes what the person gave from that
  connection and checks it before any network call.
- :mod:`.new_login`: :class:`~.new_login.NewLogin`, a device login that succeeded and what it puts in
  the connection, and :class:`~.new_login.LoginResult`, what a writer did.
- :mod:`.writers`: the three writers of a :class:`~.new_login.NewLogin`: the metadata database
  (:func:`~.writers.save_login`), Airflow's REST API (:func:`~.writers.save_login_via_api`) and
  printed (:func:`~.writers.printed_connection`); and the logout's clean-up.
- :mod:`.connections`: where Airflow keeps a connection (the metadata database row, the definition
  tasks get, what hides it).
- :mod:`.airflow_api`: just enough of Airflow's REST API to write the connection from afar.

The device flow itself (RFC 8628: start, poll, its backoff) is :mod:`airflow_provider_oac.auth`'s.
Nothing here prints or logs a token, a device code or a password.
"""

from __future__ import annotations

from airflow_provider_oac.login.new_login import DEFAULT_DESCRIPTION, LoginResult, NewLogin, utc_minute
from airflow_provider_oac.login.settings import (
    MASKED,
    ExistingConnection,
    complete_settings,
    not_oac_problem,
    require_oac_connection,
)
from airflow_provider_oac.login.writers import (
    clear_login,
    connection_without_login,
    forget_stored_tokens,
    printed_connection,
    save_login,
    save_login_via_api,
)

__all__ = [
    "DEFAULT_DESCRIPTION",
    "MASKED",
    "ExistingConnection",
    "LoginResult",
    "NewLogin",
    "clear_login",
    "complete_settings",
    "connection_without_login",
    "forget_stored_tokens",
    "not_oac_problem",
    "printed_connection",
    "require_oac_connection",
    "save_login",
    "save_login_via_api",
    "utc_minute",
]
