"""One emulator: an identity domain, an OAC instance and the object store they use, plus what the
control API drives (configuration, clock, reset, counters, request log, faults).

The parts live in their own modules, each plain Python with no web framework:

- ``iam.py``: device codes, logins, tokens (:class:`IdentityDomain`);
- ``oac.py``: snapshots, restores, work requests (:class:`OACInstance`);
- ``storage.py``: BAR files in buckets per region and namespace (:class:`ObjectStore`);
- ``faults.py``: armed faults (:class:`FaultBook`);
- ``common.py``: error answers, the clock, the counters.

All parts share one lock, one clock and one set of counters. Several instances can share the
store (and an identity domain, or each have their own): build them as :class:`EmulatorState` does,
or give each emulator the same ``store`` (an ``ObjectStore`` with a lock of its own).
``app.py`` turns HTTP into calls on these parts and answers back.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from typing import Any

from airflow_provider_oac.emulator.common import (
    APIProblem,
    Clock,
    ControlProblem,
    Counters,
    OAuthProblem,
    rfc3339,
)
from airflow_provider_oac.emulator.config import EmulatorConfig
from airflow_provider_oac.emulator.faults import FAULT_ACTIONS, Fault, FaultBook
from airflow_provider_oac.emulator.iam import IdentityDomain
from airflow_provider_oac.emulator.oac import OACInstance
from airflow_provider_oac.emulator.storage import BarObject, ObjectStore

__all__ = [
    "FAULT_ACTIONS",
    "APIProblem",
    "ControlProblem",
    "EmulatorState",
    "Fault",
    "OAuthProblem",
]

_REQUEST_LOG_SIZE = 10_000


class EmulatorState:
    """The parts of one emulator behind one lock: :attr:`iam`, :attr:`oac`, :attr:`store`,
    :attr:`faults`. Their methods raise :class:`OAuthProblem`, :class:`APIProblem` or
    :class:`ControlProblem` for error answers."""

    def __init__(self, config: EmulatorConfig, *, store: ObjectStore | None = None):
        self._lock = threading.RLock()
        self._initial_config = config
        #: An object store shared with other emulators (other OAC instances); a reset keeps it.
        self._shared_store = store
        # One signing key per emulator, kept across resets: tokens from before a reset are
        # rejected because their ids are forgotten, not because the key changed.
        self._signing_key = secrets.token_bytes(32)
        #: Bumped by reset(); requests held by accept_then_hang give up early when it changes.
        self.generation = 0
        self._clear(config)

    def _clear(self, config: EmulatorConfig) -> None:
        self._config = config
        self.clock = Clock()
        self._counters = Counters()
        self._request_log: deque[dict[str, Any]] = deque(maxlen=_REQUEST_LOG_SIZE)
        lock = self._lock
        self.faults = FaultBook(lock)
        self.store = self._shared_store if self._shared_store is not None else ObjectStore(lock)
        self.iam = IdentityDomain(config, self.clock, self._counters, lock, signing_key=self._signing_key)
        self.oac = OACInstance(
            config, iam=self.iam, store=self.store, clock=self.clock, counters=self._counters, lock=lock
        )

    @property
    def config(self) -> EmulatorConfig:
        return self._config

    def now(self) -> float:
        return self.clock.now()

    # --- control ---------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.generation += 1
            self._clear(self._initial_config)

    def configure(self, changes: dict[str, Any]) -> EmulatorConfig:
        with self._lock:
            try:
                config = self._config.with_changes(**changes)
            except (TypeError, ValueError) as exc:
                raise ControlProblem(400, str(exc)) from None
            self._config = self.iam.config = self.oac.config = config
            self.oac.name, self.oac.region, self.oac.namespace = (
                config.instance_name,
                config.region,
                config.namespace,
            )
            return config

    def advance_clock(self, seconds: Any) -> float:
        with self._lock:
            return self.clock.advance(seconds)

    def info(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": self._config.to_dict(),
                "scope": self._config.scope,
                "clock_offset": self.clock.offset,
                "now": rfc3339(self.now()),
                "pending_user_codes": self.iam.pending_user_codes(),
                "logins": len(self.iam.logins()),
                "snapshots": len(self.oac.list_snapshots()),
                "work_requests": len(self.oac.work_requests()),
                "faults": self.faults.list(),
                "content": self.oac.content,
                "instance_name": self.oac.name,
                "oac_version": self._config.oac_version,
            }

    # --- counters and the request log ------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        with self._lock:
            return self._counters.snapshot()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters.add(name, amount)

    def record_response(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._request_log.append({"method": method, "path": path, "status": status})
            if status == 429:
                self._counters.add("rate_limited")
            if status == 401 and path.startswith("/api/"):
                self._counters.add("oac_unauthorized")

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._request_log)

    # --- the object store ------------------------------------------------------------------------

    def bar_objects(self) -> list[dict[str, Any]]:
        with self._lock:
            self.oac.settle()
            return self.store.listing()

    def put_bar_object(
        self, bucket: Any, object_name: Any, password: Any, region: Any = None, namespace: Any = None
    ) -> None:
        """Place a BAR file, e.g. before a REGISTER; in the instance's region and namespace unless
        named."""
        if not isinstance(bucket, str) or not bucket or not isinstance(object_name, str) or not object_name:
            raise ControlProblem(400, "bucket and object must be non-empty text")
        if password is not None and not isinstance(password, str):
            raise ControlProblem(400, "password must be text or null")
        for name, value in (("region", region), ("namespace", namespace)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ControlProblem(400, f"{name} must be non-empty text or null")
        with self._lock:
            self.store.put(
                self.oac.bucket_key(bucket, region, namespace),
                object_name.removeprefix("file:///"),
                BarObject(password=password, time_created=self.now(), written_by="control"),
            )
