"""The login page's QR code: segno (the ``qr`` extra) encodes, we draw the SVG; without segno the
page simply has no QR code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from airflow_provider_oac.plugins import qr
from airflow_provider_oac.plugins.qr import qr_matrix, qr_svg

URL = "https://idcs-0123456789abcdef.identity.oraclecloud.com/ui/v1/device?user_code=WXYZ-ABCD"


@pytest.fixture
def segno():
    return pytest.importorskip("segno", reason="the qr extra (segno) is not installed")


def _finder_at(modules, top: int, left: int) -> bool:
    """The 7x7 finder pattern: a dark ring, a light ring, a dark 3x3 core (ISO/IEC 18004 6.3.3)."""
    for y in range(7):
        for x in range(7):
            ring = max(abs(y - 3), abs(x - 3))
            if modules[top + y][left + x] != (ring != 2):
                return False
    return True


def test_the_matrix_is_a_level_m_code_of_the_verification_address(segno):
    modules = qr_matrix(URL)
    code = segno.make_qr(URL.encode(), error="m", mode="byte", boost_error=False)

    assert modules == [[bool(m) for m in row] for row in code.matrix]
    assert code.designator == f"{code.version}-M"
    size = len(modules)
    assert all(len(row) == size for row in modules)
    assert _finder_at(modules, 0, 0) and _finder_at(modules, 0, size - 7) and _finder_at(modules, size - 7, 0)


@pytest.mark.parametrize(("length", "size"), [(14, 21), (26, 25), (60, 33), (130, 49), (213, 57)])
def test_the_smallest_version_that_fits_is_chosen(segno, length, size):
    assert len(qr_matrix("a" * length)) == size


def test_text_beyond_version_10_gets_no_code_and_the_page_shows_the_link_alone(segno):
    assert qr_matrix("a" * 214) is None
    assert qr_svg("a" * 214) is None


def test_svg_draws_every_dark_module_inside_a_quiet_zone_and_only_our_markup(segno):
    svg = qr_svg(URL)
    modules = qr_matrix(URL)
    size = len(modules) + 8

    assert svg.startswith(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}"')
    assert "<script" not in svg and "style=" not in svg
    drawn = {(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)h1v1h-1z", svg)}
    dark = {(x + 4, y + 4) for y, row in enumerate(modules) for x, on in enumerate(row) if on}
    assert drawn == dark


def test_without_segno_there_is_no_qr_code_and_no_error(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "segno", None)  # import segno raises ImportError
    monkeypatch.setattr(qr, "_missing_logged", False)

    with caplog.at_level("INFO", logger=qr.__name__):
        assert qr_svg(URL) is None
        assert qr_svg(URL) is None

    assert [r.getMessage() for r in caplog.records] == [
        "The OAC login page shows no QR code: install airflow-provider-oac[qr] (segno) for one."
    ]


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (Debian zbar-tools) is not installed")
def test_a_scanner_reads_the_url_back(segno, tmp_path):
    modules, scale, quiet = qr_matrix(URL), 6, 4
    size = (len(modules) + 2 * quiet) * scale

    def dark(x: int, y: int) -> bool:
        col, row = x // scale - quiet, y // scale - quiet
        return 0 <= row < len(modules) and 0 <= col < len(modules) and modules[row][col]

    image = tmp_path / "qr.pgm"
    pixels = bytes(0 if dark(x, y) else 255 for y in range(size) for x in range(size))
    image.write_bytes(f"P5 {size} {size} 255\n".encode() + pixels)

    result = subprocess.run(["zbarimg", "-q", "--raw", str(image)], capture_output=True, text=True)

    assert result.stdout.strip() == URL
