"""One exception tree for everything the provider raises.

Every error carries what a user needs to act on it (the HTTP status, OAC's or IAM's own code and
message, the ``opc-request-id`` to give Oracle support) and never a token or a password: messages
are built from server error texts and our own words only.

No Airflow imports here: ``auth/`` and ``client/`` use this module outside Airflow too. Every
exception class of the provider is defined here; the modules that raise one re-export it under
its old import path (``hooks.locks.OACLockTimeout`` and so on).
"""

from __future__ import annotations


class OACError(Exception):
    """Root of every error raised by airflow-provider-oac."""


class OACConfigError(OACError, ValueError):
    """Bad input caught locally, before any network call: the message names the fix."""


# --- transport -----------------------------------------------------------------------------------


class OACTransportError(OACError):
    """The HTTP exchange itself failed (DNS, refused connection, TLS, timeout, dropped connection).

    ``request_sent`` is False only when the request certainly never reached the server (for
    example the connection was refused), so even a POST may be sent again. When it is True the
    server may have acted on the request: a POST must not be repeated blindly.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "", request_sent: bool = True):
        super().__init__(message)
        self.method = method
        self.url = url
        self.request_sent = request_sent


class OACTimeoutError(OACTransportError):
    """No answer in time. The server may still be working on the request."""


# --- HTTP answers --------------------------------------------------------------------------------


class OACAPIError(OACError):
    """OAC answered with an error status.

    ``code`` and ``message`` are OAC's own (``{"code": ..., "message": ...}``) when it sent them.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        oac_message: str | None = None,
        opc_request_id: str | None = None,
        method: str = "",
        url: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.oac_message = oac_message
        self.opc_request_id = opc_request_id
        self.method = method
        self.url = url
        self.retry_after = retry_after


class OACUnauthorizedError(OACAPIError):
    """401: the access token was missing, expired or for another audience."""


class OACForbiddenError(OACAPIError):
    """403: the user lacks the BI Service Administrator application role."""


class OACNotFoundError(OACAPIError):
    """404: no such snapshot or work request."""


class OACConflictError(OACAPIError):
    """409 or 412: the instance is busy or the request conflicts with its state."""


class OACRateLimitedError(OACAPIError):
    """429: too many requests. ``retry_after`` holds the server's ``Retry-After`` in seconds."""


class OACServerError(OACAPIError):
    """5xx: OAC (or a proxy in front of it) failed."""


class OACResponseError(OACError):
    """The answer could not be read: HTML instead of JSON, truncated JSON, missing fields."""

    def __init__(self, message: str, *, status: int | None = None, opc_request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.opc_request_id = opc_request_id


class OACOutcomeUnknownError(OACError):
    """A request that changes state (create, restore) got no clear answer.

    OAC may or may not have accepted it. Callers must look for the work (a snapshot of the same
    name, the recorded work request) instead of sending it again.
    """

    def __init__(self, message: str, *, operation: str, cause: Exception | None = None):
        super().__init__(message)
        self.operation = operation
        self.cause = cause


# --- work requests -------------------------------------------------------------------------------


class OACWorkRequestFailed(OACError):
    """A work request ended FAILED or CANCELED. The message is OAC's own error text."""

    def __init__(self, message: str, *, work_request_id: str, status: str, errors: tuple = ()):
        super().__init__(message)
        self.work_request_id = work_request_id
        self.status = status
        self.errors = errors


class OACWorkRequestTimeout(OACError):
    """Waiting for a work request took longer than the caller allowed. OAC keeps working."""

    def __init__(self, message: str, *, work_request_id: str):
        super().__init__(message)
        self.work_request_id = work_request_id


class OACCopyNeedsAPerson(OACError):
    """A copy across instances stopped where only a person can decide (a restore whose answer was
    lost): final, never retried automatically."""


# --- IAM / OAuth ---------------------------------------------------------------------------------


class OACAuthError(OACError):
    """OCI IAM refused or failed a token request.

    ``error`` and ``error_description`` are IAM's own OAuth error fields when it sent them.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        status: int | None = None,
    ):
        super().__init__(message)
        self.error = error
        self.error_description = error_description
        self.status = status


class OACLoginRequired(OACAuthError):
    """The login is gone (``invalid_grant``, revoked, expired, logged out): run ``airflow-oac login``.

    Final: retrying cannot help, so tasks fail without retries.
    """


class OACTokenEndpointUnavailable(OACAuthError):
    """IAM's token endpoint is unreachable, overloaded (5xx) or rate limiting (429).

    Temporary: retried with backoff, never mistaken for a dead login.

    ``refresh_token_maybe_spent`` is True when a refresh failed in a way that may have let IAM
    consume the (one-time) refresh token: a 500/502/504, an unreadable answer, a timeout after
    the request was sent. Such a token must not be replayed blindly.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        refresh_token_maybe_spent: bool = False,
        **kwargs,
    ):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.refresh_token_maybe_spent = refresh_token_maybe_spent


class OACDeviceFlowError(OACAuthError):
    """The device login ended without tokens: denied, code expired, or IAM said stop."""


class OACAccessDenied(OACDeviceFlowError):
    """The person declined the device login (``access_denied``)."""


class OACDeviceCodeExpired(OACDeviceFlowError):
    """The user code expired before it was approved (``expired_token``)."""


# --- Airflow's REST API (airflow-oac login --api-url) ----------------------------------------------


class OACAirflowAPIError(OACError):
    """Airflow's REST API refused or failed a call made to write the connection (``--api-url``).

    ``status`` is the HTTP status (None when the API could not be reached); the message carries
    the API's own ``detail`` and never the API token or password.
    """

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


# --- token store and refresh locks (hooks/) ---------------------------------------------------------


class OACTokenStoreError(OACError):
    """A refresh succeeded but its new refresh token could not be stored in the shared store."""


class OACStateDirError(OACError):
    """The state directory (lock files, journal) cannot be used: nothing was sent to IAM."""


class OACStateSplitError(OACError):
    """Another OS user's processes refresh on this host with a state directory this one cannot see."""


class OACVariableError(OACError):
    """An Airflow Variable could not be read or written (never taken for an absent one)."""


class OACLockTimeout(OACError):
    """Another process held the refresh lock for too long."""


class OACLockLost(OACError):
    """The cross-host refresh lock was lost (or may have been) while held: its holder must not
    present the refresh token. A temporary failure: the next try takes the lock and re-reads the
    store."""

    def __init__(self, where: str, action: str, reason: str):
        super().__init__(
            f"Lost {where} before it could {action}: {reason}. The refresh token was not sent; the next "
            "try takes the lock again and re-reads the stored token."
        )
        self.where, self.action, self.reason = where, action, reason


# --- command line --------------------------------------------------------------------------------


class CLIError(OACError):
    """An ``airflow-oac`` command failed in a way its message explains; ``exit_code`` is the
    process exit status (1 unless the input was wrong: 2)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
