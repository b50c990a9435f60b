"""Where the newest refresh token lives, so every task on every worker finds it.

OCI IAM refresh tokens are one-time: each refresh returns a new one and spends the old. Airflow 3
tasks cannot write connections, so the connection keeps the refresh token of the *login* and the
rotated tokens go to an Airflow Variable that tasks, the triggerer and the CLI can all read and
write:

    oac_token__<conn_id>__<login_key>   (JSON, see TokenRecord)

``login_key`` is a digest of the connection's refresh token, so a new ``airflow-oac login`` (a new
refresh token in the connection) starts a new key: records of an older login, even ones written
late by a process that was still refreshing with it, are never read again. The name contains
"token", so Airflow masks the value in its UI and logs.

Besides the Variable, each host keeps a small journal file (mode 0600) written *before* the
Variable: if a process dies after IAM answered but before the Variable write, the next process on
that host recovers the new refresh token from the journal. See docs/tokens.md.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from airflow_provider_oac.auth.tokens import TokenSet

VARIABLE_PREFIX = "oac_token__"
_RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What one refresh produced, as stored. ``generation`` counts refreshes within the login."""

    login_key: str
    refresh_token: str = field(repr=False)
    refresh_token_expires_at: float | None
    access_token: str | None = field(default=None, repr=False)
    access_token_expires_at: float | None = None
    access_token_issued_at: float | None = None
    subject: str | None = None
    generation: int = 0
    updated_at: float = 0.0
    writer: str = ""

    def token_set(self) -> TokenSet | None:
        if not self.access_token or self.access_token_expires_at is None:
            return None
        return TokenSet(
            access_token=self.access_token,
            access_token_expires_at=self.access_token_expires_at,
            issued_at=self.access_token_issued_at or self.updated_at,
            refresh_token=self.refresh_token,
            refresh_token_expires_at=self.refresh_token_expires_at,
            subject=self.subject,
        )

    @classmethod
    def from_token_set(cls, login_key: str, tokens: TokenSet, generation: int, now: float) -> TokenRecord:
        assert tokens.refresh_token, "a stored record always has a refresh token"
        return cls(
            login_key=login_key,
            refresh_token=tokens.refresh_token,
            refresh_token_expires_at=tokens.refresh_token_expires_at,
            access_token=tokens.access_token,
            access_token_expires_at=tokens.access_token_expires_at,
            access_token_issued_at=tokens.issued_at,
            subject=tokens.subject,
            generation=generation,
            updated_at=now,
            writer=f"{socket.gethostname()}:{os.getpid()}",
        )

    def to_json(self) -> str:
        return json.dumps({"v": _RECORD_VERSION, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TokenRecord | None:
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("v") != _RECORD_VERSION:
            return None
        data.pop("v")
        try:
            return cls(**data)
        except TypeError:
            return None


def variable_key(conn_id: str, login_key: str) -> str:
    """``oac_token__<conn_id>__<login_key>``, hashed to fit Airflow's 250-character keys when a
    long connection id would overflow it (see :func:`fit_variable_key`)."""
    return fit_variable_key(f"{VARIABLE_PREFIX}{conn_id}__{login_key}")


#: Airflow's Variable keys (``variable.key`` is ``String(250)``; the API refuses longer ones).
VARIABLE_KEY_MAX = 250
_KEY_HASH_MARK = "__h_"


def fit_variable_key(key: str, limit: int = VARIABLE_KEY_MAX) -> str:
    """``key`` itself when it fits, else a readable prefix of it and a digest of the whole key.

    Stable (the same key always maps to the same name: a retry finds what the first try wrote)
    and unambiguous (the SHA-256 digest covers the whole key, and only hashed names carry the
    ``__h_`` mark followed by 32 hex digits at the end; a key that fits is never changed, so two
    different keys cannot meet). The prefix keeps the name recognisable in the Variables list."""
    if len(key) <= limit:
        return key
    import hashlib

    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    suffix = f"{_KEY_HASH_MARK}{digest}"
    return key[: limit - len(suffix)] + suffix


class TokenStore(Protocol):
    def read(self, conn_id: str, login_key: str) -> TokenRecord | None: ...

    def write(self, conn_id: str, record: TokenRecord) -> None: ...

    def forget_login(self, conn_id: str) -> int:
        """Delete every stored record of ``conn_id`` (a new login or a logout). Returns how many."""
        ...


def in_supervised_process() -> bool:
    """True inside a task or the triggerer, where Airflow's Task SDK talks to the API server."""
    from airflow_provider_oac.hooks._airflow import in_supervised_process as supervised

    return supervised()


class VariableTokenStore:
    """Token records in Airflow Variables: through the Task SDK inside tasks and the triggerer,
    through the metadata database in the CLI and plain scripts.

    A read that fails raises (:class:`~airflow_provider_oac.hooks._airflow.OACVariableError`);
    only a Variable that does not exist reads as "no record". Taking an error for "no record"
    would send the connection's original, long-spent refresh token to IAM.
    """

    def read(self, conn_id: str, login_key: str) -> TokenRecord | None:
        key = variable_key(conn_id, login_key)
        if in_supervised_process():
            from airflow_provider_oac.hooks._airflow import get_variable

            # Straight from the metadata DB through the supervisor, never a cached copy: a
            # stale refresh token is a spent one.
            text = get_variable(key)
        else:
            text = _orm_get_variable(key)
        record = TokenRecord.from_json(text) if text else None
        if record is not None:
            _mask(conn_id, record, text)
        return record if record is not None and record.login_key == login_key else None

    def write(self, conn_id: str, record: TokenRecord) -> None:
        key = variable_key(conn_id, record.login_key)
        description = f"Rotated OAC tokens for connection {conn_id} (written by airflow-provider-oac)"
        if in_supervised_process():
            from airflow_provider_oac.hooks._airflow import set_variable

            set_variable(key, record.to_json(), description=description)
        else:
            from airflow.models import Variable as ORMVariable

            ORMVariable.set(key, record.to_json(), description=description)

    def forget_login(self, conn_id: str) -> int:
        prefix = f"{VARIABLE_PREFIX}{conn_id}__"
        if in_supervised_process():
            from airflow_provider_oac.hooks._airflow import delete_variable

            keys = [k for k in _sdk_variable_keys(prefix) if k.startswith(prefix)]
            for key in keys:
                delete_variable(key)
            return len(keys)
        from airflow.models import Variable as ORMVariable
        from airflow.utils.session import create_session

        # Hashed keys keep only a prefix of the connection id: match the records by the key
        # each login would get, plus every unhashed key of this connection.
        with create_session() as session:
            rows = session.query(ORMVariable).filter(
                ORMVariable.key.like(f"{_escape_like(VARIABLE_PREFIX)}%", escape="\\")
            )
            mine = [row for row in rows if _is_record_of(row.key, conn_id, row.val)]
            keys = [row.key for row in mine]
            for row in mine:
                session.delete(row)
        return len(keys)


def _is_record_of(key: str, conn_id: str, text: str | None) -> bool:
    """Whether the Variable ``key`` holds a token record of ``conn_id`` (of any login)."""
    prefix = f"{VARIABLE_PREFIX}{conn_id}__"
    if key.startswith(prefix) and "__" not in key[len(prefix) :]:
        return True  # unhashed; "a__b"'s keys start with "a"'s prefix but go on with "b__"
    # A hashed key names its connection only through the digest: the record says which login.
    record = TokenRecord.from_json(text) if text else None
    return record is not None and key == variable_key(conn_id, record.login_key)


def _sdk_variable_keys(prefix: str) -> list[str]:
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS

    if not AIRFLOW_V_3_3_PLUS:  # Task SDK 1.3 added key listing: nothing to forget from a task
        return []
    from airflow.sdk.execution_time.context import _get_variable_keys

    return list(_get_variable_keys(prefix))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _orm_get_variable(key: str) -> str | None:
    from airflow.models import Variable as ORMVariable
    from airflow.utils.session import create_session

    # Straight from the metadata DB: secrets backends and AIRFLOW_VAR_* cannot hold rotated tokens.
    with create_session() as session:
        row = session.query(ORMVariable).filter(ORMVariable.key == key).one_or_none()
        return row.val if row is not None else None


def _mask(conn_id: str, record: TokenRecord, text: str | None) -> None:
    import time

    from airflow_provider_oac.hooks.masking import mask_generation

    # Airflow masks the Variable's whole text too (its name says "token"): retired with the tokens.
    mask_generation(
        (conn_id, record.login_key),
        record.access_token or record.refresh_token,
        record.access_token_expires_at or 0.0,
        (record.refresh_token, record.access_token, text),
        now=time.time(),
    )


# --- the host journal ------------------------------------------------------------------------------


def state_dir() -> Path:
    """Per-user directory for lock files and the journal (``AIRFLOW_PROVIDER_OAC_STATE_DIR``)."""
    configured = os.environ.get("AIRFLOW_PROVIDER_OAC_STATE_DIR")
    base = (
        Path(configured)
        if configured
        else Path(tempfile.gettempdir()) / f"airflow-provider-oac-{os.getuid()}"
    )
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base


class HostJournal:
    """The newest record of each login on this host, written before the shared store.

    Only the process holding the refresh lock writes it; a crash between IAM's answer and the
    store write leaves the new refresh token here for the next process on this host.
    """

    def __init__(self, directory: Path | None = None):
        self._directory = directory

    def _path(self, conn_id: str, login_key: str) -> Path:
        return (self._directory or state_dir()) / f"{_file_stem(conn_id)}.{login_key}.journal"

    def write(self, conn_id: str, record: TokenRecord) -> None:
        path = self._path(conn_id, record.login_key)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, record.to_json().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def read(self, conn_id: str, login_key: str) -> TokenRecord | None:
        try:
            text = self._path(conn_id, login_key).read_text()
        except OSError:
            return None
        record = TokenRecord.from_json(text)
        if record is not None:
            _mask(conn_id, record, None)
        return record if record is not None and record.login_key == login_key else None

    def forget(self, conn_id: str) -> None:
        for path in (self._directory or state_dir()).glob(f"{_file_stem(conn_id)}.*.journal"):
            path.unlink(missing_ok=True)


#: File names may be 255 bytes; a connection id may be 250 characters.
_STEM_MAX = 120


def _file_stem(conn_id: str) -> str:
    """The connection's part of a journal file name: the id with unsafe characters replaced, or for
    a long id a readable prefix and a digest of the whole id."""
    import hashlib

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in conn_id)
    if len(safe) <= _STEM_MAX:
        return safe
    digest = hashlib.sha256(conn_id.encode()).hexdigest()[:24]
    return f"{safe[: _STEM_MAX - 26]}~h{digest}"


def newest(*records: TokenRecord | None) -> TokenRecord | None:
    """The record with the highest generation (ties: the latest write)."""
    present = [r for r in records if r is not None]
    if not present:
        return None
    return max(present, key=lambda r: (r.generation, r.updated_at))
