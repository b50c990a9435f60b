"""What the OAC client needs from whoever holds the tokens.

The hook implements these with its token store; scripts can use :class:`StaticTokenSource`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TokenSource(Protocol):
    def get_access_token(self) -> str:
        """A currently valid access token (refreshing first when needed)."""
        ...

    def invalidate(self, access_token: str) -> None:
        """OAC rejected ``access_token`` with 401: the next :meth:`get_access_token` must not
        return it. A no-op when a newer token is already in place."""
        ...


@runtime_checkable
class AsyncTokenSource(Protocol):
    async def aget_access_token(self) -> str: ...

    async def ainvalidate(self, access_token: str) -> None: ...


class StaticTokenSource:
    """A fixed access token, for scripts and tests. ``invalidate`` cannot help: a 401 stays a 401."""

    def __init__(self, access_token: str):
        self._access_token = access_token

    def __repr__(self) -> str:
        return "StaticTokenSource(<hidden>)"

    def get_access_token(self) -> str:
        return self._access_token

    def invalidate(self, access_token: str) -> None:
        return None

    async def aget_access_token(self) -> str:
        return self._access_token

    async def ainvalidate(self, access_token: str) -> None:
        return None
