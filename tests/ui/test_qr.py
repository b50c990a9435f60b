"""The QR encoder, checked against an independent encoder's output."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from airflow_provider_oac.plugins.qr import _codewords, _Symbol, qr_matrix, qr_svg

# python-qrcode 8.2: version 2, level M, mask 5, byte mode, b"https://ex.com/d?c=ABCD".
REFERENCE_V2_MASK5 = [
    "#######....#.##...#######",
    "#.....#.####.#..#.#.....#",
    "#.###.#.#.#...#.#.#.###.#",
    "#.###.#.##...###..#.###.#",
    "#.###.#..#...##...#.###.#",
    "#.....#...###.#...#.....#",
    "#######.#.#.#.#.#.#######",
    "........###.#.#.#........",
    "#.....#.##.#..##.##..###.",
    "..#.##...###..##.#.#####.",
    "......#...###..##..#.#.##",
    ".#.#.#....##..###.##.#..#",
    "#.##..####..##..####....#",
    "#.##.#..#.#....#...#...#.",
    "#...######.###.###.###.##",
    "#..#...#####..#....#.##.#",
    "#.######...#..#.#####.#..",
    "........#...#...#...#....",
    "#######...##..#.#.#.#...#",
    "#.....#..#..#.###...#..#.",
    "#.###.#..#..#.#######.###",
    "#.###.#...#...##.##....##",
    "#.###.#...###.#.#....##.#",
    "#.....#....#....#.###...#",
    "#######.#...###.#....#..#",
]


def _rows(modules) -> list[str]:
    return ["".join("#" if dark else "." for dark in row) for row in modules]


def test_symbol_matches_an_independent_encoder_module_for_module():
    symbol = _Symbol(2)
    symbol.place(_codewords(b"https://ex.com/d?c=ABCD", 2), mask=5)

    assert _rows(symbol.modules) == REFERENCE_V2_MASK5


@pytest.mark.parametrize(("length", "size"), [(14, 21), (26, 25), (60, 33), (130, 49), (213, 57)])
def test_the_smallest_version_that_fits_is_chosen(length, size):
    assert len(qr_matrix("a" * length)) == size


def test_text_beyond_version_10_is_refused():
    with pytest.raises(ValueError, match="do not fit"):
        qr_matrix("a" * 214)


def test_svg_has_a_quiet_zone_and_only_our_markup():
    svg = qr_svg("https://ex.com/d?c=ABCD")

    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 33 33"')
    assert "<script" not in svg and "style=" not in svg


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (Debian zbar-tools) is not installed")
def test_a_scanner_reads_the_url_back(tmp_path):
    url = "https://idcs-0123456789abcdef.identity.oraclecloud.com/ui/v1/device?user_code=WXYZ-ABCD"
    modules, scale, quiet = qr_matrix(url), 6, 4
    size = (len(modules) + 2 * quiet) * scale

    def dark(x: int, y: int) -> bool:
        col, row = x // scale - quiet, y // scale - quiet
        return 0 <= row < len(modules) and 0 <= col < len(modules) and modules[row][col]

    image = tmp_path / "qr.pgm"
    pixels = bytes(0 if dark(x, y) else 255 for y in range(size) for x in range(size))
    image.write_bytes(f"P5 {size} {size} 255\n".encode() + pixels)

    result = subprocess.run(["zbarimg", "-q", "--raw", str(image)], capture_output=True, text=True)

    assert result.stdout.strip() == url
