"""Choosing snapshots on the client side: list filters and retention (prune) plans.

OAC's ``GET /snapshots`` has no filters, sorting or paging, so every selection happens here, on
the full list. Everything in this module is pure: snapshots and a ``now`` in, a decision out; the
hook and the CLI do the calls. No Airflow imports.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_oac import validation
from airflow_provider_oac.client.models import Snapshot
from airflow_provider_oac.client.protocol import newest_first
from airflow_provider_oac.errors import OACConfigError

# --- input coercion --------------------------------------------------------------------------------


def as_utc_datetime(value: object, field: str) -> datetime:
    """A datetime (naive means UTC) or an ISO 8601 text such as ``2026-01-31T00:00:00Z``
    (what ``{{ data_interval_start }}`` renders to), as an aware datetime."""
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise OACConfigError(
                f"{field} {value!r} is not an ISO 8601 date-time: give e.g. 2026-01-31T00:00:00Z."
            ) from None
    if not isinstance(value, datetime):
        raise OACConfigError(f"{field} must be a datetime or an ISO 8601 text, not {type(value).__name__}.")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def as_max_age(value: object, field: str = "max_age") -> timedelta:
    """A positive age: a timedelta or a number of seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise OACConfigError(
            f"{field} must be a timedelta or a number of seconds, not {type(value).__name__}: "
            "e.g. timedelta(days=30)."
        )
    validation.validate_positive_number(seconds, field)
    return timedelta(seconds=seconds)


def as_keep_last(value: object, field: str = "keep_last") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OACConfigError(
            f"{field} must be a whole number of at least 1 (got {value!r}): to delete every matching "
            "snapshot, delete them by name or id instead."
        )
    return value


def as_name_pattern(value: object, field: str = "name_pattern") -> str:
    return validation.require_text(
        value, field, "give a glob such as nightly-* (fnmatch: *, ?, [seq])", max_length=255
    )


# --- filters ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotFilter:
    """Client-side filters for OAC's snapshot list; every filter left ``None`` lets all pass.

    ``name`` and ``created_by`` match exactly; ``name_pattern`` is an fnmatch glob matched
    case-sensitively (``nightly-*``); ``created_after`` / ``created_before`` are exclusive bounds
    on ``time_created`` (a datetime, naive meaning UTC, or ISO 8601 text), and a snapshot whose
    creation time OAC did not give is left out once either bound is set. Checked when built:
    :class:`OACConfigError` for a bad filter, so it fails before any network call.
    """

    name: str | None = None
    name_pattern: str | None = None
    created_after: datetime | str | None = None
    created_before: datetime | str | None = None
    created_by: str | None = None

    def __post_init__(self) -> None:
        if self.name is not None:
            object.__setattr__(self, "name", validation.validate_snapshot_name(self.name, "name"))
        if self.name_pattern is not None:
            object.__setattr__(self, "name_pattern", as_name_pattern(self.name_pattern))
        for bound in ("created_after", "created_before"):
            value = getattr(self, bound)
            if value is not None:
                object.__setattr__(self, bound, as_utc_datetime(value, bound))
        if self.created_by is not None:
            text = validation.require_text(self.created_by, "created_by", "give the user name OAC lists")
            object.__setattr__(self, "created_by", text)

    def accepts(self, snapshot: Snapshot) -> bool:
        if self.name is not None and snapshot.name != self.name:
            return False
        if self.name_pattern is not None and not _matches(snapshot, self.name_pattern):
            return False
        if self.created_by is not None and snapshot.created_by != self.created_by:
            return False
        if self.created_after is None and self.created_before is None:
            return True
        created = snapshot.time_created
        if created is None:
            return False
        after, before = self.created_after, self.created_before
        return (after is None or created > after) and (before is None or created < before)  # type: ignore[operator]

    def apply(self, snapshots: Iterable[Snapshot]) -> list[Snapshot]:
        """The snapshots that pass every filter, newest first."""
        return newest_first(s for s in snapshots if self.accepts(s))


def filter_snapshots(snapshots: Iterable[Snapshot], **filters: Any) -> list[Snapshot]:
    """``SnapshotFilter(**filters).apply(snapshots)``: the matching snapshots, newest first."""
    return SnapshotFilter(**filters).apply(snapshots)


def _matches(snapshot: Snapshot, pattern: str) -> bool:
    return snapshot.name is not None and fnmatch.fnmatchcase(snapshot.name, pattern)


# --- retention -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """Which snapshots a prune deletes, among those whose name matches ``name_pattern``.

    - ``keep_last`` only: all but the newest ``keep_last``.
    - ``max_age`` only: those created more than ``max_age`` before now.
    - both: those beyond the newest ``keep_last`` **and** older than ``max_age`` (a snapshot is
      kept when either rule keeps it).

    Snapshots without a creation time are never deleted and do not count towards ``keep_last``.
    Raises :class:`OACConfigError` (one line) for an incomplete or senseless rule.
    """

    name_pattern: str
    keep_last: int | None = None
    #: A timedelta; a number is read as seconds.
    max_age: timedelta | None = None

    def __post_init__(self) -> None:
        # Checked here so that a rule that exists is a rule that makes sense.
        object.__setattr__(self, "name_pattern", as_name_pattern(self.name_pattern))
        if self.keep_last is None and self.max_age is None:
            raise OACConfigError(
                "A prune needs keep_last (keep the newest N), max_age (delete older ones) or both; "
                "neither was given."
            )
        if self.keep_last is not None:
            object.__setattr__(self, "keep_last", as_keep_last(self.keep_last))
        if self.max_age is not None:
            object.__setattr__(self, "max_age", as_max_age(self.max_age))

    def describe(self) -> str:
        """The rule in words, e.g. ``snapshots named 'nightly-*': keep the newest 7``."""
        if self.max_age is None:
            rule = f"keep the newest {self.keep_last}"
        elif self.keep_last is None:
            rule = f"delete those older than {_age(self.max_age)}"
        else:
            age = _age(self.max_age)
            rule = f"keep the newest {self.keep_last}, and of the rest delete those older than {age}"
        return f"snapshots named {self.name_pattern!r}: {rule}"


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """What a prune deletes and keeps, decided at ``now``.

    ``delete`` is oldest first (the order deletion runs in, so a prune stopped half-way has
    removed the oldest); ``keep`` and ``undated`` are newest first. ``deleted`` lists the ids a
    real run removed (empty for a dry run).
    """

    rule: RetentionRule
    now: datetime
    delete: tuple[Snapshot, ...]
    keep: tuple[Snapshot, ...]
    #: Matching snapshots OAC gave no creation time for: never deleted.
    undated: tuple[Snapshot, ...] = ()
    dry_run: bool = True
    deleted: tuple[str, ...] = field(default=())

    @property
    def delete_ids(self) -> list[str]:
        return [snapshot.id for snapshot in self.delete]

    def summary(self) -> str:
        """One line: how many matched, go, stay."""
        matched = len(self.delete) + len(self.keep) + len(self.undated)
        verb = "would delete" if self.dry_run else "deletes"
        line = (
            f"Prune of {self.rule.describe()}: {matched} match, {verb} {len(self.delete)}, "
            f"keeps {len(self.keep) + len(self.undated)}"
        )
        if self.undated:
            line += f" ({len(self.undated)} without a creation time, never deleted)"
        return line + "."

    def lines(self) -> list[str]:
        """One line per snapshot to delete: id, name, creation time, age."""
        return [
            f"{snapshot.id}  {snapshot.name}  created {_iso(snapshot.time_created)} "
            f"({_age(self.now - snapshot.time_created)} ago)"
            for snapshot in self.delete
            if snapshot.time_created is not None
        ]


def plan_prune(snapshots: Iterable[Snapshot], rule: RetentionRule, now: datetime) -> PrunePlan:
    """Apply ``rule`` to ``snapshots`` at ``now`` (naive means UTC). Pure: deletes nothing."""
    now = as_utc_datetime(now, "now")
    matching = [s for s in snapshots if _matches(s, rule.name_pattern)]
    undated = tuple(newest_first(s for s in matching if s.time_created is None))
    # Ties on the creation time are broken by id so the same list always gives the same plan.
    dated = sorted(
        (s for s in matching if s.time_created is not None),
        key=lambda s: (s.time_created, s.id),
        reverse=True,
    )
    delete: list[Snapshot] = []
    keep: list[Snapshot] = []
    for rank, snapshot in enumerate(dated):
        beyond_newest = rule.keep_last is None or rank >= rule.keep_last
        too_old = rule.max_age is None or now - snapshot.time_created > rule.max_age  # type: ignore[operator]
        (delete if beyond_newest and too_old else keep).append(snapshot)
    return PrunePlan(rule=rule, now=now, delete=tuple(reversed(delete)), keep=tuple(keep), undated=undated)


# --- describing snapshots ------------------------------------------------------------------------------


def snapshot_as_dict(snapshot: Snapshot) -> dict[str, Any]:
    """A JSON-safe summary (XCom, ``--json``): id, name, created_by, time_created (ISO 8601),
    bar_uri."""
    return {
        "id": snapshot.id,
        "name": snapshot.name,
        "created_by": snapshot.created_by,
        "time_created": _iso(snapshot.time_created) if snapshot.time_created else None,
        "bar_uri": snapshot.bar_uri,
    }


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return "?"
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _age(age: timedelta) -> str:
    seconds = age.total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"
