"""The login page's QR code of the verification address, drawn with segno (the ``qr`` extra:
``pip install 'airflow-provider-oac[qr]'``; pure Python, no dependencies).

Without segno the page shows the address and the code without a QR code: a missing extra never
stops a login. The SVG is our own markup (squares only, no script or style), which the page's
Content-Security-Policy allows and its ``innerHTML`` can take.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

#: Larger codes are too dense for a phone to read off a 200-pixel square: the link is shown alone.
MAX_VERSION = 10
#: Error correction level M: 15% of the code may be unreadable.
ERROR_LEVEL = "m"

_missing_logged = False


def qr_matrix(text: str) -> list[list[bool]] | None:
    """The modules of the smallest QR code (level M, byte mode, ``text`` as UTF-8); True is dark.
    None when segno is not installed or ``text`` does not fit version :data:`MAX_VERSION`."""
    global _missing_logged
    try:
        # lazy: optional extra [qr]; its absence is handled below
        import segno
    except ImportError:
        if not _missing_logged:
            _missing_logged = True
            log.info("The OAC login page shows no QR code: install airflow-provider-oac[qr] (segno) for one.")
        return None
    code = segno.make_qr(text.encode("utf-8"), error=ERROR_LEVEL, mode="byte", boost_error=False)
    if code.version > MAX_VERSION:  # type: ignore[operator]
        return None
    return [[bool(module) for module in row] for row in code.matrix]


def qr_svg(text: str, *, quiet_zone: int = 4) -> str | None:
    """``text`` as a QR code in a self-contained SVG (one path), scalable with CSS; None when there
    is no QR code for it (see :func:`qr_matrix`)."""
    modules = qr_matrix(text)
    if modules is None:
        return None
    size = len(modules) + 2 * quiet_zone
    squares = "".join(
        f"M{x + quiet_zone},{y + quiet_zone}h1v1h-1z"
        for y, row in enumerate(modules)
        for x, dark in enumerate(row)
        if dark
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges" '
        f'role="img" aria-label="QR code"><rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{squares}" fill="#000"/></svg>'
    )
