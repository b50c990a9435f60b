"""Access tokens for one OAC connection: cached, refreshed once for everyone, stored before use.

``get_access_token()`` is "silent first": the process cache, then the shared store (another
process may have refreshed already), and only then a refresh at IAM, under a lock that every
thread, process and (with ``lock_conn_id``) host takes. The refresh spends the stored refresh
token, so the new one is written to the host journal and the shared store (each attempted even if
the other fails) *before* anything else happens: before it is masked, and before the new access
token is handed to anybody. docs/tokens.md states the guarantees.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import TYPE_CHECKING, Any

from airflow_provider_oac.auth.flows import refresh_tokens
from airflow_provider_oac.auth.tokens import TokenSet
from airflow_provider_oac.errors import (
    OACLockLost,
    OACLoginRequired,
    OACStateDirError,
    OACStateSplitError,
    OACTokenEndpointUnavailable,
    OACTokenStoreError,
)
from airflow_provider_oac.hooks import masking
from airflow_provider_oac.hooks._airflow import run_sync_sdk
from airflow_provider_oac.hooks.locks import host_lock, lock_id, thread_lock
from airflow_provider_oac.hooks.token_store import (
    STATE_DIR_ENV,
    HostJournal,
    TokenRecord,
    TokenStore,
    newest,
    other_users_state,
    state_dir,
)

if TYPE_CHECKING:
    import requests

    from airflow_provider_oac.hooks.config import OACConnectionConfig

log = logging.getLogger(__name__)

#: Shared by every TokenManager of the process, keyed by (conn_id, login_key).
_cache: dict[tuple[str, str], TokenSet] = {}
_rejected: dict[tuple[str, str], set[str]] = {}
_cache_guard = threading.Lock()

#: Attempts to write the shared store after a refresh before giving up (the journal keeps it).
STORE_WRITE_ATTEMPTS = 4


def relogin_message(conn_id: str, reason: str) -> str:
    return f"OAC login of connection {conn_id!r} {reason}: run airflow-oac login --conn-id {conn_id}"


def token_endpoint_error(conn_id: str, exc: OACTokenEndpointUnavailable) -> OACTokenEndpointUnavailable:
    """A refresh that failed for a temporary reason, named for the connection: never a dead login,
    so operators let Airflow's retries run. ``auth`` already retried what was safe to retry."""
    reason = str(exc).rstrip(".")
    if exc.refresh_token_maybe_spent:
        # auth did not resend the token: IAM may have consumed it, and replaying a consumed one
        # can end the login. The next attempt (a task retry) presents the stored token again.
        message = (
            f"Refreshing the OAC login of connection {conn_id!r} failed after the request reached IAM "
            f"({reason}), so IAM may have spent the one-time refresh token; it was not sent again. The "
            "next attempt presents the same token: if IAM did not spend it, that works; if it did, run "
            f"airflow-oac login --conn-id {conn_id} (see docs/tokens.md)."
        )
    else:
        message = (
            f"Could not refresh the OAC login of connection {conn_id!r}, temporarily: {reason}. The login "
            "itself is fine; a retry will try again."
        )
    return OACTokenEndpointUnavailable(
        message,
        retry_after=exc.retry_after,
        refresh_token_maybe_spent=exc.refresh_token_maybe_spent,
        error=exc.error,
        error_description=exc.error_description,
        status=exc.status,
    )


class TokenManager:
    """Implements the client's TokenSource and AsyncTokenSource for one connection."""

    def __init__(
        self,
        config: OACConnectionConfig,
        store: TokenStore,
        *,
        journal: HostJournal | None = None,
        cross_host_lock: Callable[[], AbstractContextManager[Any]] | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        refuse_state_split: bool = False,
    ):
        self.config = config
        #: True in the CLI: refuse to refresh beside another user's state directory (else warn).
        self.refuse_state_split = refuse_state_split
        self._split_checked = False
        self.store = store
        self.journal = journal or HostJournal()
        self._cross_host_lock = cross_host_lock
        self._session = session
        self._clock = clock
        self._sleep = sleep
        self._key = (config.conn_id, config.login_key)
        #: What the cross-host lock yielded while this manager holds it (see _check_lock).
        self._held: Any = None
        masking.mask_for_good(config.refresh_token)
        #: Counts IAM refreshes made by this manager (for tests and benchmarks).
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"TokenManager(conn_id={self.config.conn_id!r})"

    # --- TokenSource ---------------------------------------------------------------------------

    def get_access_token(self) -> str:
        tokens = self._cached()
        if tokens is None:
            tokens = self._from_store_or_refresh()
        return tokens.access_token

    def invalidate(self, access_token: str) -> None:
        with _cache_guard:
            _rejected.setdefault(self._key, set()).add(access_token)
            cached = _cache.get(self._key)
            if cached is not None and cached.access_token == access_token:
                del _cache[self._key]

    def invalidate_current(self) -> None:
        """Make the next :meth:`get_access_token` refresh at IAM (``airflow-oac status`` proves a
        refresh works this way)."""
        with _cache_guard:
            cached = _cache.get(self._key)
        if cached is not None:
            self.invalidate(cached.access_token)
        stored = self.stored_record()
        if stored is not None and stored.access_token:
            self.invalidate(stored.access_token)

    async def aget_access_token(self) -> str:
        tokens = self._cached()
        if tokens is not None:
            return tokens.access_token

        # One coroutine per loop goes to a thread (the store is read and written through
        # Airflow's sync SDK there, bridged as the installed triggerer needs); the rest wait for
        # it, then hit the cache.
        async with _async_lock(self._key):
            tokens = self._cached()
            if tokens is None:
                tokens = await run_sync_sdk(self._from_store_or_refresh)
        return tokens.access_token

    async def ainvalidate(self, access_token: str) -> None:
        self.invalidate(access_token)

    # --- what status and warnings need -------------------------------------------------------

    def now(self) -> float:
        """This manager's clock (epoch seconds): injectable, so tests travel in time."""
        return self._clock()

    def stored_record(self) -> TokenRecord | None:
        return newest(
            self.store.read(self.config.conn_id, self.config.login_key),
            self.journal.read(self.config.conn_id, self.config.login_key),
        )

    def login_expires_at(self, record: TokenRecord | None = None) -> float | None:
        """When the current refresh token expires if nobody refreshes it (IAM's lifetime
        restarts at each refresh)."""
        record = record or self.stored_record()
        if record is not None and record.refresh_token_expires_at:
            return record.refresh_token_expires_at
        if self.config.login_at is not None:
            return self.config.login_at + self.config.refresh_token_lifetime
        return None

    # --- internals -----------------------------------------------------------------------------

    def _usable(self, tokens: TokenSet | None) -> bool:
        if tokens is None or not tokens.access_token_is_fresh(self._clock()):
            return False
        with _cache_guard:
            return tokens.access_token not in _rejected.get(self._key, ())

    def _cached(self) -> TokenSet | None:
        with _cache_guard:
            tokens = _cache.get(self._key)
        return tokens if self._usable(tokens) else None

    def _remember(self, tokens: TokenSet) -> TokenSet:
        self._mask(tokens)
        with _cache_guard:
            _cache[self._key] = tokens
        return tokens

    def _from_store_or_refresh(self) -> TokenSet:
        # Without any lock first: most of the time another process refreshed recently.
        stored = self.store.read(self.config.conn_id, self.config.login_key)
        tokens = stored.token_set() if stored else None
        if self._usable(tokens):
            assert tokens is not None
            return self._remember(tokens)
        with thread_lock(lock_id(self.config.conn_id)):
            cached = self._cached()
            if cached is not None:
                return cached
            self._check_state_split()
            with ExitStack() as locks:
                try:
                    lock_path = str(state_dir() / f"{lock_id(self.config.conn_id)}.lock")
                    locks.enter_context(host_lock(lock_path))
                except OSError as exc:
                    raise OACStateDirError(
                        f"Cannot use the OAC token state directory ({_describe(exc)}): make "
                        f"{os.environ.get(STATE_DIR_ENV) or 'it'} writable, or set {STATE_DIR_ENV} to a local "
                        "directory that is. Nothing was sent to IAM; the login is unchanged."
                    ) from None
                self._held = locks.enter_context(
                    self._cross_host_lock() if self._cross_host_lock else nullcontext()
                )
                try:
                    return self._refresh_under_lock()
                finally:
                    self._held = None

    def _refresh_under_lock(self) -> TokenSet:
        conn_id, login_key = self.config.conn_id, self.config.login_key
        stored = self.store.read(conn_id, login_key)
        journaled = self.journal.read(conn_id, login_key)
        latest = newest(stored, journaled)
        if (
            latest is not None
            and latest is journaled
            and (stored is None or journaled.generation > stored.generation)
        ):
            # A process on this host refreshed, then died before its shared-store write.
            log.warning("Recovering the newest OAC refresh token of %r from this host's journal.", conn_id)
            self._check_lock("write the recovered token to the store")
            try:
                self._write_store(latest)
            except OACTokenStoreError as exc:
                log.warning("%s", exc)  # still in the journal; the refresh below tries again
        tokens = latest.token_set() if latest else None
        if self._usable(tokens):
            assert tokens is not None
            return self._remember(tokens)  # lost the race: somebody else refreshed

        refresh_token = latest.refresh_token if latest else self.config.refresh_token
        if not refresh_token:
            raise OACLoginRequired(relogin_message(conn_id, "has no refresh token"))
        generation = latest.generation if latest else 0
        try:
            new_tokens = self._refresh(refresh_token)
        except OACLoginRequired:
            # Another host without the shared lock may have refreshed first: if the store now
            # holds a newer token, that is the one to use, once.
            again = self.store.read(conn_id, login_key)
            if again is None or again.refresh_token == refresh_token:
                raise
            tokens = again.token_set()
            if self._usable(tokens):
                assert tokens is not None
                return self._remember(tokens)
            generation = again.generation
            new_tokens = self._refresh(again.refresh_token)
        self.refresh_count += 1
        # The old refresh token is spent: nothing but this record knows the new one. Persist it
        # before anything else (masking recompiles a regex and messages the supervisor: seconds).
        self._persist(TokenRecord.from_token_set(login_key, new_tokens, generation + 1, self._clock()))
        self._check_lock_after_refresh()
        return self._remember(new_tokens)

    def _check_lock(self, action: str) -> None:
        """Raise OACLockLost unless the cross-host lock (if any) is still ours."""
        check = getattr(self._held, "check", None)
        if check is not None:
            check(action)

    def _check_lock_after_refresh(self) -> None:
        # IAM rotated the token: the new one is the only valid copy, so it is stored even if the
        # lock was lost meanwhile (a caller that took it over and presented the old token got
        # invalid_grant and re-reads the store). Checked only after storing (a check is a round
        # trip to the lock server, which must not widen the window between IAM's answer and the
        # writes), and only to say so.
        try:
            self._check_lock("store the new refresh token")
        except OACLockLost as exc:
            log.warning(
                "Lost %s during the refresh (%s). The new refresh token was stored anyway: IAM has "
                "rotated it, so it is the only valid one.",
                exc.where,
                exc.reason,
            )

    def _refresh(self, refresh_token: str) -> TokenSet:
        attempts = 0

        def before_attempt() -> None:
            nonlocal attempts
            attempts += 1
            self._check_lock("present the refresh token" + (" again" if attempts > 1 else ""))

        try:
            tokens = refresh_tokens(
                self._requests_session(),
                self.config.iam_endpoints,
                self.config.client_id,
                refresh_token,
                sleep=self._sleep,
                now=self._clock,
                refresh_token_lifetime=self.config.refresh_token_lifetime,
                # Before every attempt, not only the first: a retry after a 429/503 or a connection
                # that never carried the request comes after a backoff (up to a minute), long enough
                # for the lease to run out and another caller to present this very token.
                before_attempt=before_attempt,
            )
        except OACLoginRequired as exc:
            detail = exc.error_description or exc.error or "invalid_grant"
            raise OACLoginRequired(
                relogin_message(self.config.conn_id, f"has expired or was revoked (IAM: {detail})"),
                error=exc.error,
                error_description=exc.error_description,
                status=exc.status,
            ) from None
        except OACTokenEndpointUnavailable as exc:
            raise token_endpoint_error(self.config.conn_id, exc) from None
        return tokens  # not masked yet: the caller persists first, then masks (_remember)

    def _mask(self, tokens: TokenSet) -> None:
        # One generation at a time: Airflow's masker would otherwise hold every token ever issued.
        masking.mask_generation(
            self._key,
            tokens.access_token,
            tokens.access_token_expires_at,
            (tokens.access_token, tokens.refresh_token),
            now=self._clock(),
        )

    def _persist(self, record: TokenRecord) -> None:
        """The host journal (microseconds; the next process here recovers it) then the shared
        store, each attempted even if the other failed. Raises only if both failed."""
        conn_id = self.config.conn_id
        journal_error: Exception | None = None
        try:
            self.journal.write(conn_id, record)
        except Exception as exc:
            journal_error = exc
        try:
            self._write_store(record)
        except OACTokenStoreError as exc:
            if journal_error is not None:
                raise OACTokenStoreError(
                    f"Refreshed the OAC login of {conn_id!r} but could keep the new refresh token neither "
                    f"in this host's journal ({state_dir()}: {_describe(journal_error)}) nor in the store "
                    f"(see the warnings above): IAM has spent the old one, so the login "
                    f"is lost. Fix the disk and the store, then run airflow-oac login --conn-id {conn_id}."
                ) from None
            log.warning("%s", exc)
            return
        if journal_error is not None:
            log.warning(
                "Stored the new OAC refresh token of %r, but this host's journal could not be written "
                "(%s in %s): the token is safe in the store, but a crash between a refresh and its store "
                "write would lose it. Free space or make the directory writable, or set %s to a local "
                "directory that is.",
                conn_id,
                _describe(journal_error),
                state_dir(),
                STATE_DIR_ENV,
            )

    def _check_state_split(self) -> None:
        """Before a refresh: warn (workers) or refuse (the CLI) when another OS user's default
        state directory is on this host and no cross-host lock covers the gap."""
        if self._split_checked:
            return
        others = other_users_state()
        if not others:
            self._split_checked = True
            return
        names = ", ".join(f"user {o.user} (uid {o.uid}) in {o.path}" for o in others)
        if self._cross_host_lock is not None:
            self._split_checked = True
            log.info(
                "Other users' OAC token state on this host (%s); the cross-host lock %r covers them.",
                names,
                self.config.lock_conn_id,
            )
            return
        message = (
            f"Processes of {names} keep their OAC token state apart from this one ({state_dir()}), so a "
            f"refresh here of {self.config.conn_id!r} would bypass their lock file and journal: run this "
            f"as that user, or set {STATE_DIR_ENV} to one directory that both use (see docs/tokens.md), "
            "or give the connection a lock_conn_id extra."
        )
        if self.refuse_state_split:
            raise OACStateSplitError(message)
        self._split_checked = True
        log.warning("%s", message)

    def _write_store(self, record: TokenRecord) -> None:
        delay = 0.5
        for attempt in range(1, STORE_WRITE_ATTEMPTS + 1):
            try:
                self.store.write(self.config.conn_id, record)
                return
            except Exception as exc:
                if attempt == STORE_WRITE_ATTEMPTS:
                    raise OACTokenStoreError(
                        f"Refreshed the OAC token of {self.config.conn_id!r} but could not store the new "
                        f"refresh token ({type(exc).__name__}); it is kept in this host's journal "
                        f"({state_dir()}) and the next run on this host recovers it. Check that this "
                        "process can write Airflow Variables (the API server, or the metadata database)."
                    ) from None
                log.warning(
                    "Storing the rotated OAC refresh token failed (%s); retrying.", type(exc).__name__
                )
                self._sleep(delay)
                delay *= 2

    def _requests_session(self) -> requests.Session:
        if self._session is None:
            # lazy: requests only for the sync client; the triggerer's async client uses httpx
            import requests

            self._session = requests.Session()
            self._session.verify = self.config.verify
        return self._session


def _describe(exc: Exception) -> str:
    """An OSError as 'No space left on device' (never a path with a secret: there is none)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


_async_locks: dict[tuple[int, tuple[str, str]], asyncio.Lock] = {}


def _async_lock(key: tuple[str, str]) -> asyncio.Lock:
    loop_key = (id(asyncio.get_running_loop()), key)
    lock = _async_locks.get(loop_key)
    if lock is None:
        lock = _async_locks[loop_key] = asyncio.Lock()
    return lock


def forget_process_cache(conn_id: str | None = None) -> None:
    """Drop cached access tokens (all, or one connection's): after a login or logout."""
    with _cache_guard:
        for key in [k for k in _cache if conn_id is None or k[0] == conn_id]:
            del _cache[key]
        for key in [k for k in _rejected if conn_id is None or k[0] == conn_id]:
            del _rejected[key]
