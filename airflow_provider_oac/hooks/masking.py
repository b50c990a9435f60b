"""Masking rotating tokens without letting Airflow's secrets masker grow for ever.

Airflow's masker keeps every value it was ever given and, on each new one, recompiles one regex
of all of them. Our tokens rotate (a new access and refresh token at every refresh, about every
85 s while work is waited on), so a triggerer that runs for weeks would hold thousands of them:
measured on Airflow 3.3.2, one ``mask_secret`` takes 8 ms with 10 generations of tokens held,
0.25 s with 100 and 1.7 s with 1,000 (``bench/masking.py``), stalling the event loop each time.

So this process masks each generation of tokens once, and stops masking a generation when it is
useless: at least :data:`KEEP_GENERATIONS` newer ones exist (its refresh token is spent) and its
access token expired a grace period ago: :data:`GRACE_SECONDS`, or three of the token's lifetimes
if that is shorter (short-lived tokens would otherwise keep a hundred generations masked). Only
values this module registered are retired, and never one that a live generation still holds.
Retiring uses the masker's private state; if a future Airflow changes it, nothing is retired (the
old growth, never a leak).

Each mask and unmask compiles one regex of every masked value with ``re.compile``, and Python's
``re`` module keeps the last 512 compiled regexes: about 1 MB per refresh generation in a trigger
runner until that cache was full (the soak, issue 15). So after masking or unmasking a generation
this module empties that cache (``re.purge()``; other regexes are compiled again on their next
use, once per refresh at most).

Retiring applies to both maskers a process may have: the Task SDK's and, where the ORM loads
Variables (the CLI, the API server), core Airflow's.

What cannot be retired: the copy Airflow's task/trigger supervisor process keeps (there is no
"unmask" message). A task's supervisor lives as long as its task, so it is told every generation.
The triggerer's supervisor lives for weeks: told three values per refresh, it grew by thousands
a day and recompiled one regex of all of them at each (issue 15). So in a trigger runner the
rotating generations are masked in the runner only; the supervisor is told only values that do
not rotate (the login's own refresh token, :func:`mask_for_good`). What that leaves: the
supervisor writes the runner's log lines and masks them with what it knows. The provider logs no
token; access tokens are JWTs, which Airflow's logging redacts by shape (``eyJ***``) in both
processes on every supported version; the soak (``bench/triggerer_soak.py``) greps every log of
a real triggerer for every token the emulator issued.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oac.hooks._airflow import in_trigger_runner, mask_secret

#: Generations kept masked after they are superseded (the newest is always masked).
KEEP_GENERATIONS = 2
#: How long after its access token expired a superseded generation stays masked, at most ...
GRACE_SECONDS = 300.0
#: ... and in access-token lifetimes (3-second tokens: 9 s), at least MIN_GRACE_SECONDS.
GRACE_LIFETIMES = 3.0
MIN_GRACE_SECONDS = 10.0


@dataclass(slots=True)
class _Generation:
    identity: str
    expires_at: float
    grace: float
    secrets: set[str] = field(default_factory=set)


_guard = threading.Lock()
#: (conn_id, login_key) -> generations, oldest first.
_generations: dict[tuple[str, str], list[_Generation]] = {}
#: Values never retired: a login's own refresh token (Airflow masks the connection's password too).
_protected: set[str] = set()


#: Held from deciding what to mask or retire until the masker has been told: a retirement
#: decided before a value became live again must not unmask it after it was masked again (Airflow's
#: ``add_mask`` adds nothing for a pattern it still has, so the removal that follows would win).
_apply_guard = threading.RLock()


def mask_for_good(value: str | None) -> None:
    """Mask ``value`` and never retire it, even if a generation also holds it."""
    if value:
        with _apply_guard:
            with _guard:
                _protected.add(value)
            mask_secret(value)


def mask_generation(
    key: tuple[str, str],
    identity: str,
    access_token_expires_at: float,
    secrets: Iterable[str | None],
    *,
    now: float,
) -> None:
    """Mask ``secrets`` (one generation's tokens, and e.g. the stored record's text; ``identity``
    tells generations apart: the access token) once, then stop masking generations that are spent
    and expired. Cheap when nothing is new."""
    with _apply_guard:
        with _guard:
            generations = _generations.setdefault(key, [])
            generation = next((g for g in generations if g.identity == identity), None)
            if generation is None:
                # The life left when first seen: the whole life right after a refresh.
                life = max(0.0, access_token_expires_at - now)
                grace = max(MIN_GRACE_SECONDS, min(GRACE_SECONDS, GRACE_LIFETIMES * life))
                generation = _Generation(identity, access_token_expires_at, grace)
                generations.append(generation)
            new = [s for s in secrets if s and s not in generation.secrets]
            generation.secrets.update(new)
            retired = _retire(generations, now)
        if new:
            _mask_rotating(new)
        if retired:
            unmask_secrets(retired)
        if new or retired:
            re.purge()  # drop the regexes just compiled from our values (see the module docstring)


def _mask_rotating(values: list[str]) -> None:
    """Mask one generation's values: in a trigger runner in this process only (its supervisor can
    never forget them); elsewhere with Airflow's ``mask_secret`` (this process and its supervisor)."""
    here = _masker(_masker_modules()[0]) if in_trigger_runner() else None
    for value in values:
        if here is not None:
            here.add_mask(value)
        else:  # not a trigger runner, or a masker of unknown shape: tell the supervisor too
            mask_secret(value)


def _retire(generations: list[_Generation], now: float) -> set[str]:
    due = [
        g
        for g in generations[: max(0, len(generations) - 1 - KEEP_GENERATIONS)]
        if now >= g.expires_at + g.grace
    ]
    if not due:
        return set()
    for g in due:
        generations.remove(g)
    live = set().union(_protected, *(g.secrets for g in generations))
    return set().union(*(g.secrets for g in due)) - live


def masks_by_name(name: str) -> bool:
    """Whether Airflow masks a Variable of this name when a task or trigger reads it (its
    supervisor then keeps the value for good). False when the masker is of an unknown shape."""
    module = _masker_modules()[0]
    # a method of the masker in Task SDK 1.1+, a function of the module in 1.0
    hide = getattr(_masker(module), "should_hide_value_for_key", None)
    hide = hide or getattr(importlib.import_module(module), "should_hide_value_for_key", None)
    return bool(hide(name)) if callable(hide) else False


def masked_generations(key: tuple[str, str]) -> int:
    """How many generations of ``key`` this process masks (for tests and the bench)."""
    with _guard:
        return len(_generations.get(key, ()))


def unmask_secrets(values: Iterable[str]) -> int:
    """Stop masking ``values`` in this process's secrets maskers; returns how many were removed.

    Safe against concurrent ``add_mask`` calls (the triggerer's loop masks while a worker thread
    unmasks): see :func:`_unmask`."""
    removed = {re.escape(v) for v in values if v}
    return sum(_unmask(masker, removed) for masker in _maskers()) if removed else 0


#: Serializes this module's unmasks (Airflow's own ``add_mask`` takes no lock we could share).
_unmask_guard = threading.Lock()


def _unmask(masker: Any, removed: set[str]) -> int:
    """Remove ``removed`` from ``masker``'s pattern set *in place*, then rebuild its regex until no
    pattern was added during the rebuild.

    Airflow's ``add_mask`` adds to ``masker.patterns`` and then assigns a regex it compiled from
    that set. An ``add_mask`` that runs while we compile lands in the same set (we never swap it);
    if our assignment then overwrites its regex, the set differs from what we compiled and we
    compile again. Once the set after our assignment is still the one we compiled, every added
    pattern is in the regex: an ``add_mask`` that ended before our assignment added its pattern
    before we looked, and one that ends after it assigns its own regex (Airflow's masker has no
    lock, so two concurrent ``add_mask`` calls can still race each other; that is Airflow's)."""
    with _unmask_guard:
        patterns = masker.patterns
        if not isinstance(patterns, set):
            return 0  # not the shape we know: unmask nothing (more masking, never a leak)
        gone = removed & _copy(patterns)
        if not gone:
            return 0
        patterns.difference_update(gone)
        while True:
            compiled = _copy(patterns)
            masker.replacer = re.compile("|".join(compiled)) if compiled else None
            if masker.patterns is not patterns or _copy(patterns) <= compiled:
                # Stable; or reset_masker() replaced the set, and our regex only masks more.
                return len(gone)


def _copy(patterns: set[str]) -> set[str]:
    while True:
        try:
            return set(patterns)
        except RuntimeError:  # another thread added to it while we copied it
            continue


def _masker_modules() -> tuple[str, str | None]:
    """Where Airflow keeps its maskers: the Task SDK's (what ``mask_secret`` feeds) and core's (fed
    when the ORM loads a Variable, e.g. in the CLI or the API server; 3.0 has only the SDK's).
    Checked in task-sdk 1.0.6, 1.1.8, 1.2.2, 1.3.2 and core 3.0.6, 3.1.8, 3.2.2, 3.3.2: a ``patterns``
    set and a ``replacer`` regex that ``add_mask`` adds to, then recompiles from the whole set."""
    # lazy: Airflow (version_compat); the CLI loads this module outside Airflow
    from airflow_provider_oac.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_3_PLUS

    if AIRFLOW_V_3_3_PLUS:
        sdk = "airflow.sdk.log"
    elif AIRFLOW_V_3_1_PLUS:  # execution_time.secrets_masker is a deprecated alias of it there
        sdk = "airflow.sdk._shared.secrets_masker"
    else:
        sdk = "airflow.sdk.execution_time.secrets_masker"
    core = "airflow._shared.secrets_masker" if AIRFLOW_V_3_1_PLUS else None
    return sdk, core


def _masker(module_name: str | None) -> Any:
    """The masker of ``module_name``, if it has the shape this module knows (a private API)."""
    if module_name is None:
        return None
    factory = getattr(importlib.import_module(module_name), "_secrets_masker", None)
    if factory is None:
        return None
    try:
        masker = factory()
    except Exception:  # SDK 1.0: RuntimeError when logging has no masker configured
        return None
    if isinstance(getattr(masker, "patterns", None), set) and hasattr(masker, "replacer"):
        return masker
    return None


def _maskers() -> list[Any]:
    found = [m for m in map(_masker, _masker_modules()) if m is not None]
    return [m for i, m in enumerate(found) if all(m is not other for other in found[:i])]


def forget(key: tuple[str, str] | None = None) -> None:
    """Forget which generations were masked (tests; after a logout). Masks stay as they are."""
    with _guard:
        if key is None:
            _generations.clear()
        else:
            _generations.pop(key, None)
