"""Where the newest refresh token lives, so every task on every worker finds it.

OCI IAM refresh tokens are one-time: each refresh returns a new one and spends the old. Airflow 3
tasks cannot write connections, so the connection keeps the refresh token of the *login* and the
rotated tokens go to an Airflow Variable that tasks, the triggerer and the CLI can all read and
write:

    oac_login__<conn_id>__<login_key>   (a sealed TokenRecord; built by variable_key only)

``login_key`` is a digest of the connection's refresh token, so a new ``airflow-oac login`` (a new
refresh token in the connection) starts a new key: records of an older login, even ones written
late by a process that was still refreshing with it, are never read again.

``login_key`` is always 16 hex digits at the end of the key, so a key names exactly one
connection: :func:`login_key_of` checks a key by rebuilding it, and ``oac``'s keys never match
``oac__x``'s (a prefix would).

The record is always *sealed* (:func:`seal_record`): encrypted and authenticated with a key
derived from the connection's login refresh token, which every reader of the record has (the
key's ``login_key`` is a digest of it) and which no logged message carries. Only the login key,
the generation and the time of the last refresh stay readable (``airflow-oac status --api-url``
shows them). Sealed, the record can have a name Airflow does not take for a secret's: every
supervisor answers a Variable read with ``mask_secret(value, key)``, which keeps the value for
good when the name looks sensitive. Under a name with "token" in it, the triggerer's supervisor,
which lives for weeks, learnt one new value per refresh and could never forget it (issue 15).
Sealing also keeps the tokens out of the messages Airflow 3.0's supervisor prints.

Logins made by a release before this name keep their record where it is,
``oac_token__<conn_id>__<login_key>`` (:data:`LEGACY_VARIABLE_PREFIX`), in the format they had
(plain JSON, sealed on Airflow 3.0 inside a task or trigger), so that processes of both releases
agree on it during an upgrade; a warning says that the next ``airflow-oac login`` moves them.

Besides the Variable, each host keeps a small journal file (mode 0600), written first: if a
process dies after IAM answered but before the Variable write, the next process on that host
recovers the new refresh token from the journal. Each is attempted even if the other fails. See
docs/tokens.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from airflow_provider_oac.auth.tokens import TokenSet
from airflow_provider_oac.hooks import masking
from airflow_provider_oac.hooks._airflow import (
    OACVariableError,
    delete_variable,
    get_variable,
    in_supervised_process,
    set_variable,
)
from airflow_provider_oac.hooks.config import login_key as login_key_for

#: Names of the records of logins made by this release: no "token" in them (see above).
VARIABLE_PREFIX = "oac_login__"
#: Names of the records of logins made by releases before it, which Airflow masks by name.
LEGACY_VARIABLE_PREFIX = "oac_token__"
#: Both, for listing and forgetting a connection's records.
RECORD_PREFIXES = (VARIABLE_PREFIX, LEGACY_VARIABLE_PREFIX)
log = logging.getLogger(__name__)
_RECORD_VERSION = 1
#: A sealed record: ``{"v": 2, "login_key": ..., "sealed": <Fernet token of the v1 JSON>}``.
_SEALED_VERSION = 2
_SEAL_INFO = b"airflow-provider-oac/token-record/2\0"


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


# --- sealed records (Airflow 3.0) ----------------------------------------------------------------


def _fernet(conn_id: str, login_refresh_token: str) -> Any:
    # lazy: cryptography only for sealed records; keeps the CLI start-up light
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    # HKDF, not the login key's plain digest: the login key is public (it ends the Variable name).
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO + conn_id.encode()).derive(
        login_refresh_token.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal_record(conn_id: str, record: TokenRecord, login_refresh_token: str) -> str:
    """``record`` encrypted and authenticated with a key derived from the connection's login refresh
    token (the one ``record.login_key`` names); only the login key, the generation and the time
    of the refresh stay readable (unauthenticated: the sealed record is what counts)."""
    if login_key_for(conn_id, login_refresh_token) != record.login_key:
        raise OACVariableError(
            f"Cannot seal the OAC token record of {conn_id!r}: it belongs to another login than the "
            "connection's."
        )
    sealed = _fernet(conn_id, login_refresh_token).encrypt(record.to_json().encode()).decode()
    # generation and updated_at are not secret: readable for airflow-oac status --api-url
    visible = {
        "login_key": record.login_key,
        "generation": record.generation,
        "updated_at": record.updated_at,
    }
    return json.dumps({"v": _SEALED_VERSION, **visible, "sealed": sealed}, sort_keys=True)


def sealed_login_key(text: str) -> str | None:
    """The login key of a sealed record's text, None if ``text`` is not one."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("v") != _SEALED_VERSION:
        return None
    found = data.get("login_key")
    return found if isinstance(found, str) and isinstance(data.get("sealed"), str) else None


def open_sealed_record(conn_id: str, text: str, login_refresh_token: str | None) -> TokenRecord:
    """The record sealed in ``text`` (see :func:`seal_record`). Raises :class:`OACVariableError`
    when it cannot be opened: never "no record", which would send a spent refresh token to IAM."""
    # lazy: cryptography only for sealed records; keeps the CLI start-up light
    from cryptography.fernet import InvalidToken

    key = sealed_login_key(text)
    if key is None:
        raise OACVariableError(f"The OAC token record of {conn_id!r} is not a sealed record.")
    if not login_refresh_token or login_key_for(conn_id, login_refresh_token) != key:
        raise OACVariableError(
            f"The OAC token record of {conn_id!r} is sealed with the connection's login, which this "
            "process was not given: read it through the connection's hook."
        )
    try:
        plain = _fernet(conn_id, login_refresh_token).decrypt(json.loads(text)["sealed"].encode())
    except InvalidToken:
        plain = b""
    record = TokenRecord.from_json(plain.decode()) if plain else None
    if record is None or record.login_key != key:
        raise OACVariableError(
            f"The sealed OAC token record of {conn_id!r} does not open with the connection's login "
            "(altered or damaged): run airflow-oac login again."
        )
    return record


def record_from_text(conn_id: str, text: str, login_refresh_token: str | None) -> TokenRecord | None:
    """The record a Variable's ``text`` holds, sealed or plain; None if it holds none. A sealed
    one that does not open raises (see :func:`open_sealed_record`)."""
    if sealed_login_key(text) is not None:
        return open_sealed_record(conn_id, text, login_refresh_token)
    return TokenRecord.from_json(text)


#: Airflow's Variable keys (``variable.key`` is ``String(250)``; the API refuses longer ones).
VARIABLE_KEY_MAX = 250
_KEY_HASH_MARK = "__h_"
_LOGIN_KEY = re.compile(r"[0-9a-f]{16}")


def variable_key(conn_id: str, login_key: str, *, legacy: bool = False) -> str:
    """The Variable of one login's record: the only place a key is built (reading, writing and
    forgetting all go through it). ``oac_login__<conn_id>__<login_key>`` (``oac_token__...`` for
    a login of an older release, ``legacy``), hashed to fit Airflow's 250 characters when a long
    connection id would overflow it (see :func:`fit_variable_key`)."""
    prefix = LEGACY_VARIABLE_PREFIX if legacy else VARIABLE_PREFIX
    return fit_variable_key(f"{prefix}{conn_id}__{login_key}")


def fit_variable_key(key: str, limit: int = VARIABLE_KEY_MAX) -> str:
    """``key`` itself when it fits, else a readable prefix of it and a digest of the whole key.

    Stable (the same key always maps to the same name) and unambiguous (the SHA-256 digest covers
    the whole key, and only hashed names carry the ``__h_`` mark followed by 32 hex digits at the
    end; a key that fits is never changed, so two different keys cannot meet)."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    suffix = f"{_KEY_HASH_MARK}{digest}"
    return key[: limit - len(suffix)] + suffix


def login_key_of(key: str, conn_id: str, text: str | None = None) -> str | None:
    """The login key if ``key`` is a token record of ``conn_id`` (exactly: ``oac`` does not own
    ``oac__x``'s), else None. A hashed key names its login only through the digest: then the
    record's text (``text``), if given, says which login it claims, and the key must match it."""
    candidate = key[-16:]
    claimed = (sealed_login_key(text) or _plain_login_key(text)) if text else None
    for legacy in (False, True):
        if _LOGIN_KEY.fullmatch(candidate) and variable_key(conn_id, candidate, legacy=legacy) == key:
            return candidate
        if claimed is not None and variable_key(conn_id, claimed, legacy=legacy) == key:
            return claimed
    return None


def _plain_login_key(text: str) -> str | None:
    record = TokenRecord.from_json(text)
    return record.login_key if record is not None else None


def keys_to_forget(keys: list[str], conn_id: str, keep: str | None) -> list[str]:
    """Of ``keys``, the records of ``conn_id``'s logins other than ``keep``. Without the values,
    hashed keys (connection ids over about 200 characters) are not recognised and stay: they are
    never read again, and deleting another connection's record would lose its login."""
    return [k for k in keys if login_key_of(k, conn_id) not in (None, keep)]


class TokenStore(Protocol):
    def read(self, conn_id: str, login_key: str) -> TokenRecord | None: ...

    def write(self, conn_id: str, record: TokenRecord) -> None: ...

    def forget_login(self, conn_id: str, keep: str | None = None) -> int:
        """Delete the stored records of ``conn_id``'s logins, except login ``keep`` (a new
        login keeps its own; a logout keeps none). Returns how many."""
        ...


class VariableTokenStore:
    """Token records in Airflow Variables: through the Task SDK inside tasks and the triggerer,
    through the metadata database in the CLI and plain scripts.

    A read that fails raises (:class:`~airflow_provider_oac.errors.OACVariableError`);
    only a Variable that does not exist reads as "no record". Taking an error for "no record"
    would send the connection's original, long-spent refresh token to IAM.

    ``login_refresh_token`` is the connection's refresh token (the login's): it seals and opens
    the records (see the module's docstring). A store without it reads and writes only records
    of older releases' logins that are not sealed. ``seal`` is for those records only (None: seal
    exactly on Airflow 3.0, inside a task or trigger, as those releases did).
    """

    def __init__(self, login_refresh_token: str | None = None, *, seal: bool | None = None):
        self._login_refresh_token = login_refresh_token
        self._seal = seal
        #: Per login read here: whether its record is under the legacy name (written back there).
        self._legacy: dict[tuple[str, str], bool] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def read(self, conn_id: str, login_key: str) -> TokenRecord | None:
        _warn_sensitive_name(conn_id, login_key)
        text, legacy = self._lookup(conn_id, login_key)
        if not text:
            return None
        sealed_for = sealed_login_key(text)
        if sealed_for is not None and sealed_for != login_key:
            return None  # another login's record, as for a plain one below
        if sealed_for is None and not legacy:
            # Only sealed records are written under the new name: never take this for "no record".
            raise OACVariableError(
                f"The Variable {variable_key(conn_id, login_key)} is not an OAC token record (altered?): "
                f"run airflow-oac login --conn-id {conn_id} again."
            )
        record = record_from_text(conn_id, text, self._login_refresh_token)
        if record is None or record.login_key != login_key:
            return None
        if legacy:
            _warn_legacy(conn_id, login_key)
        # A plain record's whole text is a secret; a sealed one's is not.
        _mask(conn_id, record, text if sealed_for is None else None)
        return record

    def seals(self) -> bool:
        """Whether :meth:`write` seals a record under the legacy name: on Airflow 3.0 inside a task
        or trigger, unless told. Records under the new name are always sealed."""
        if self._seal is not None:
            return self._seal
        # lazy: Airflow; the CLI loads this module outside Airflow
        from airflow_provider_oac import version_compat

        # Task SDK 1.0's supervisor prints each message from the task with its body (3.1+'s only at
        # debug level, which its logging configuration filters by default).
        return not version_compat.AIRFLOW_V_3_1_PLUS and in_supervised_process()

    def _lookup(self, conn_id: str, login_key: str) -> tuple[str | None, bool]:
        """The text of the login's record and whether it is under the legacy name (the new name
        first); remembered, so that :meth:`write` writes back where the record is."""
        text = _get(variable_key(conn_id, login_key))
        legacy = False
        if not text:
            text = _get(variable_key(conn_id, login_key, legacy=True))
            legacy = bool(text)
        self._legacy[(conn_id, login_key)] = legacy
        return text, legacy

    def _is_legacy(self, conn_id: str, login_key: str) -> bool:
        known = self._legacy.get((conn_id, login_key))
        if known is None:  # not read through this store (a refresh always reads first)
            known = self._lookup(conn_id, login_key)[1]
        return known

    def write(self, conn_id: str, record: TokenRecord) -> None:
        legacy = self._is_legacy(conn_id, record.login_key)
        key = variable_key(conn_id, record.login_key, legacy=legacy)
        sealed = not legacy or self.seals()
        if not sealed:
            value = record.to_json()
        elif not self._login_refresh_token:
            raise OACVariableError(
                f"Cannot store the OAC token record of {conn_id!r} sealed: this store was not given "
                "the connection's login (a token must not be stored in the clear)."
            )
        else:
            value = seal_record(conn_id, record, self._login_refresh_token)
        description = f"Rotated OAC tokens for connection {conn_id}{', sealed' if sealed else ''} (written by airflow-provider-oac)"
        if in_supervised_process():
            set_variable(key, value, description=description)
        else:
            # lazy: Airflow; the CLI loads this module outside Airflow
            from airflow.models import Variable as ORMVariable

            ORMVariable.set(key, value, description=description)

    def forget_login(self, conn_id: str, keep: str | None = None) -> int:
        self._legacy = {
            login: v for login, v in self._legacy.items() if login[0] != conn_id or login[1] == keep
        }
        if in_supervised_process():
            listed = [key for prefix in RECORD_PREFIXES for key in _sdk_variable_keys(prefix)]
            keys = keys_to_forget(listed, conn_id, keep)
            for key in keys:
                delete_variable(key)
            return len(keys)
        # lazy: Airflow; the CLI loads this module outside Airflow
        from airflow.models import Variable as ORMVariable
        from airflow.utils.session import create_session
        from sqlalchemy import or_

        # Hashed keys keep only a prefix of the connection id: match the records by the key
        # each login would get, plus every unhashed key of this connection.
        with create_session() as session:
            rows = (
                session.query(ORMVariable)
                .filter(
                    or_(
                        *(
                            ORMVariable.key.like(f"{_escape_like(prefix)}%", escape="\\")
                            for prefix in RECORD_PREFIXES
                        )
                    )
                )
                .all()
            )
            chosen = [row for row in rows if login_key_of(row.key, conn_id, row.val) not in (None, keep)]
            for row in chosen:
                session.delete(row)
        return len(chosen)


#: Logins whose legacy name this process has warned about.
_legacy_warned: set[tuple[str, str]] = set()


def _warn_legacy(conn_id: str, login_key: str) -> None:
    if (conn_id, login_key) in _legacy_warned:
        return
    _legacy_warned.add((conn_id, login_key))
    log.warning(
        "The OAC login of connection %s keeps its rotated tokens in the Variable %s..., as releases "
        "before this one named it; Airflow's triggerer keeps every value read from such a name in "
        "memory for good. Run airflow-oac login --conn-id %s once to move it to %s... "
        "(docs/tokens.md).",
        conn_id,
        LEGACY_VARIABLE_PREFIX,
        conn_id,
        VARIABLE_PREFIX,
    )


#: Connections whose record name this process has checked.
_names_checked: set[tuple[str, str]] = set()


def _warn_sensitive_name(conn_id: str, login_key: str) -> None:
    if (conn_id, login_key) in _names_checked:
        return
    _names_checked.add((conn_id, login_key))
    key = variable_key(conn_id, login_key)
    try:
        sensitive = masking.masks_by_name(key)
    except Exception:  # Airflow's masker is not configured here (a plain script): nothing to tell
        return
    if sensitive:
        log.warning(
            "The OAC token record of connection %s is named %s, which Airflow takes for a secret's "
            "name (a word of [core] sensitive_var_conn_names or Airflow's defaults, e.g. token, "
            "secret, password, is in the connection id): Airflow's triggerer then keeps one "
            "more value for good at every refresh. Use a connection id without such words "
            "(docs/tokens.md).",
            conn_id,
            key,
        )


def _get(key: str) -> str | None:
    # In a task or trigger: straight from the metadata DB through the supervisor, never a
    # cached copy: a stale refresh token is a spent one.
    return get_variable(key) if in_supervised_process() else _orm_get_variable(key)


def _sdk_variable_keys(prefix: str) -> list[str]:
    # lazy: Airflow; the CLI loads this module outside Airflow
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_3_PLUS

    if not AIRFLOW_V_3_3_PLUS:  # Task SDK 1.3 added key listing: nothing to forget from a task
        return []
    # lazy: Airflow; the CLI loads this module outside Airflow
    from airflow.sdk.execution_time.context import _get_variable_keys

    return list(_get_variable_keys(prefix))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _orm_get_variable(key: str) -> str | None:
    # lazy: Airflow; the CLI loads this module outside Airflow
    from airflow.models import Variable as ORMVariable
    from airflow.utils.session import create_session

    # Straight from the metadata DB: secrets backends and AIRFLOW_VAR_* cannot hold rotated tokens.
    with create_session() as session:
        row = session.query(ORMVariable).filter(ORMVariable.key == key).one_or_none()
        return row.val if row is not None else None


def _mask(conn_id: str, record: TokenRecord, text: str | None) -> None:
    # A plain record's text is masked too (Airflow masks it by name as well): retired with the tokens.
    masking.mask_generation(
        (conn_id, record.login_key),
        record.access_token or record.refresh_token,
        record.access_token_expires_at or 0.0,
        (record.refresh_token, record.access_token, text),
        now=time.time(),
    )


# --- the host journal ------------------------------------------------------------------------------

STATE_DIR_ENV = "AIRFLOW_PROVIDER_OAC_STATE_DIR"
_DEFAULT_STATE_PREFIX = "airflow-provider-oac-"


def state_dir() -> Path:
    """Per-user directory for lock files and the journal (``AIRFLOW_PROVIDER_OAC_STATE_DIR``)."""
    configured = os.environ.get(STATE_DIR_ENV)
    base = Path(configured) if configured else default_state_dir()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base


def default_state_dir(uid: int | None = None) -> Path:
    return Path(tempfile.gettempdir()) / f"{_DEFAULT_STATE_PREFIX}{os.getuid() if uid is None else uid}"


@dataclass(frozen=True, slots=True)
class OtherUserState:
    """Another OS user's default state directory on this host: processes of that user (Airflow's
    workers, typically) refresh under a lock file and journal this process cannot see."""

    uid: int
    user: str
    path: Path


def other_users_state() -> list[OtherUserState]:
    """Other users' default state directories on this host, when this process uses its own
    default one (an explicit ``AIRFLOW_PROVIDER_OAC_STATE_DIR`` is a choice: nothing to detect)."""
    if os.environ.get(STATE_DIR_ENV):
        return []
    found = []
    try:
        entries = list(Path(tempfile.gettempdir()).glob(f"{_DEFAULT_STATE_PREFIX}*"))
    except OSError:
        return []
    for path in entries:
        suffix = path.name[len(_DEFAULT_STATE_PREFIX) :]
        try:
            owner = path.stat().st_uid
        except OSError:
            continue
        if not suffix.isdigit() or int(suffix) != owner or owner == os.getuid() or not path.is_dir():
            continue
        found.append(OtherUserState(owner, _user_name(owner), path))
    return sorted(found, key=lambda state: state.uid)


def _user_name(uid: int) -> str:
    try:
        # lazy: POSIX-only module, its absence is handled
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return "unknown"


def journal_name(conn_id: str, login_key: str) -> str:
    """The journal file of one login: the connection id percent-encoded (so different ids never
    share a name), a digest if that is too long for a file name."""
    encoded = quote(conn_id, safe="-_.")
    if len(encoded) > 200:
        # "%%" cannot come out of quote(): a "%" is always followed by two hex digits there.
        encoded = "%%" + hashlib.sha256(conn_id.encode()).hexdigest()[:32]
    return f"{encoded}.{login_key}.journal"


def _legacy_journal_name(conn_id: str, login_key: str) -> str:
    """The name releases before issue 13 used (ambiguous: ``a/b`` and ``a_b`` share it)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in conn_id)
    return f"{safe}.{login_key}.journal"


class HostJournal:
    """The newest record of each login on this host, written before the shared store.

    Only the process holding the refresh lock writes it; a crash between IAM's answer and the
    store write leaves the new refresh token here for the next process on this host. A write is
    durable when it returns: the file is fsynced before the rename, the directory after it.
    """

    def __init__(self, directory: Path | None = None):
        self._directory = directory

    def _dir(self) -> Path:
        return self._directory or state_dir()

    def _path(self, conn_id: str, login_key: str) -> Path:
        return self._dir() / journal_name(conn_id, login_key)

    def write(self, conn_id: str, record: TokenRecord) -> None:
        directory = self._dir()
        path = directory / journal_name(conn_id, record.login_key)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        data = record.to_json().encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                while data:
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(directory)  # the rename itself survives a power loss
        legacy = directory / _legacy_journal_name(conn_id, record.login_key)
        if legacy != path:
            legacy.unlink(missing_ok=True)  # superseded (same login key: the same login)

    def read(self, conn_id: str, login_key: str) -> TokenRecord | None:
        directory = self._dir()
        record = None
        for name in dict.fromkeys(
            (journal_name(conn_id, login_key), _legacy_journal_name(conn_id, login_key))
        ):
            try:
                text = (directory / name).read_text()
            except OSError:
                continue
            found = TokenRecord.from_json(text)
            if found is not None and found.login_key == login_key:
                record = newest(record, found)
        if record is not None:
            _mask(conn_id, record, None)
        return record

    def forget(self, conn_id: str, keep: str | None = None) -> int:
        """Delete the journals of ``conn_id``'s logins except login ``keep``. Returns how many."""
        directory = self._dir()
        removed = 0
        for path in directory.glob("*.journal"):
            login_key = path.name[-len(".journal") - 16 : -len(".journal")]
            if not _LOGIN_KEY.fullmatch(login_key) or login_key == keep:
                continue
            # A legacy name is someone's only when it is also the new name (ids of [A-Za-z0-9-_.]):
            # otherwise another id may share it; such files are never read again, so they stay.
            if path.name == journal_name(conn_id, login_key):
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def newest(*records: TokenRecord | None) -> TokenRecord | None:
    """The record with the highest generation (ties: the latest write)."""
    present = [r for r in records if r is not None]
    if not present:
        return None
    return max(present, key=lambda r: (r.generation, r.updated_at))
