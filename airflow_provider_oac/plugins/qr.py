"""A small QR code encoder (ISO/IEC 18004): byte mode, error correction level M, versions 1-10.

Enough for a verification URL (up to 213 bytes) on the login page, without a dependency. The
output is an SVG of dark squares on a white quiet zone. Plain Python, no imports beyond the
standard library.
"""

from __future__ import annotations

from itertools import pairwise

#: Per version (index 0 = version 1), level M: (EC codewords per block, [data codewords per block]).
_BLOCKS_M: tuple[tuple[int, tuple[int, ...]], ...] = (
    (10, (16,)),
    (16, (28,)),
    (26, (44,)),
    (18, (32, 32)),
    (24, (43, 43)),
    (16, (27, 27, 27, 27)),
    (18, (31, 31, 31, 31)),
    (22, (38, 38, 39, 39)),
    (22, (36, 36, 36, 37, 37)),
    (26, (43, 43, 43, 43, 44)),
)
_ALIGNMENT = (
    (),
    (6, 18),
    (6, 22),
    (6, 26),
    (6, 30),
    (6, 34),
    (6, 22, 38),
    (6, 24, 42),
    (6, 26, 46),
    (6, 28, 50),
)
_FORMAT_LEVEL_M = 0b00
MAX_VERSION = len(_BLOCKS_M)


def qr_matrix(text: str) -> list[list[bool]]:
    """The modules of the smallest QR code (level M) holding ``text`` as UTF-8; True is dark.
    Raises ValueError when ``text`` does not fit version 10."""
    data = text.encode("utf-8")
    version = next((v for v in range(1, MAX_VERSION + 1) if _fits(len(data), v)), None)
    if version is None:
        raise ValueError(f"{len(data)} bytes do not fit a version {MAX_VERSION} QR code")
    codewords = _codewords(data, version)
    best: list[list[bool]] | None = None
    best_penalty = 0
    for mask in range(8):
        symbol = _Symbol(version)
        symbol.place(codewords, mask)
        penalty = _penalty(symbol.modules)
        if best is None or penalty < best_penalty:
            best, best_penalty = symbol.modules, penalty
    assert best is not None
    return best


def qr_svg(text: str, *, quiet_zone: int = 4) -> str:
    """``text`` as a QR code in a self-contained SVG (one path), scalable with CSS."""
    modules = qr_matrix(text)
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


# --- data and error correction ---------------------------------------------------------------


def _capacity(version: int) -> int:
    return sum(_BLOCKS_M[version - 1][1])


def _count_bits(version: int) -> int:
    return 8 if version < 10 else 16


def _fits(length: int, version: int) -> bool:
    return 4 + _count_bits(version) + 8 * length <= 8 * _capacity(version)


def _codewords(data: bytes, version: int) -> list[int]:
    bits: list[int] = []

    def put(value: int, count: int) -> None:
        bits.extend((value >> i) & 1 for i in reversed(range(count)))

    capacity_bits = 8 * _capacity(version)
    put(0b0100, 4)  # byte mode
    put(len(data), _count_bits(version))
    for byte in data:
        put(byte, 8)
    put(0, min(4, capacity_bits - len(bits)))  # terminator
    put(0, -len(bits) % 8)
    payload = [int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8)]
    pad = (0xEC, 0x11)
    payload += [pad[i % 2] for i in range(_capacity(version) - len(payload))]

    ec_length, block_lengths = _BLOCKS_M[version - 1]
    blocks, start = [], 0
    for length in block_lengths:
        blocks.append(payload[start : start + length])
        start += length
    divisor = _rs_generator(ec_length)
    ecc = [_rs_remainder(block, divisor) for block in blocks]
    interleaved = [block[i] for i in range(max(block_lengths)) for block in blocks if i < len(block)]
    interleaved += [ec[i] for i in range(ec_length) for ec in ecc]
    return interleaved


def _gf_multiply(x: int, y: int) -> int:
    """Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1 (0x11D)."""
    result = 0
    for i in reversed(range(8)):
        result = (result << 1) ^ ((result >> 7) * 0x11D)
        result ^= ((y >> i) & 1) * x
    return result


def _rs_generator(degree: int) -> list[int]:
    """Coefficients (highest first, leading 1 dropped) of prod(x - a^i), i < degree."""
    coefficients = [0] * (degree - 1) + [1]
    root = 1
    for _ in range(degree):
        for j in range(degree):
            coefficients[j] = _gf_multiply(coefficients[j], root)
            if j + 1 < degree:
                coefficients[j] ^= coefficients[j + 1]
        root = _gf_multiply(root, 0x02)
    return coefficients


def _rs_remainder(data: list[int], divisor: list[int]) -> list[int]:
    result = [0] * len(divisor)
    for byte in data:
        factor = byte ^ result.pop(0)
        result.append(0)
        for i, coefficient in enumerate(divisor):
            result[i] ^= _gf_multiply(coefficient, factor)
    return result


# --- the symbol --------------------------------------------------------------------------------


class _Symbol:
    def __init__(self, version: int):
        self.version = version
        self.size = 17 + 4 * version
        self.modules = [[False] * self.size for _ in range(self.size)]
        self.reserved = [[False] * self.size for _ in range(self.size)]
        self._function_patterns()

    def _set(self, x: int, y: int, dark: bool) -> None:
        self.modules[y][x] = dark
        self.reserved[y][x] = True

    def _function_patterns(self) -> None:
        size = self.size
        for i in range(size):
            self._set(6, i, i % 2 == 0)
            self._set(i, 6, i % 2 == 0)
        for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < size and 0 <= y < size:
                        self._set(x, y, max(abs(dx), abs(dy)) not in (2, 4))
        positions = _ALIGNMENT[self.version - 1]
        last = len(positions) - 1
        for i, ax in enumerate(positions):
            for j, ay in enumerate(positions):
                if (i, j) in ((0, 0), (0, last), (last, 0)):
                    continue  # on a finder pattern
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        self._set(ax + dx, ay + dy, max(abs(dx), abs(dy)) != 1)
        self._format(0)  # reserve the format areas; rewritten with the real mask
        self._version_info()

    def _format(self, mask: int) -> None:
        data = _FORMAT_LEVEL_M << 3 | mask
        remainder = data
        for _ in range(10):
            remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537)
        bits = (data << 10 | remainder) ^ 0x5412
        size = self.size

        def bit(i: int) -> bool:
            return (bits >> i) & 1 == 1

        for i in range(6):
            self._set(8, i, bit(i))
        self._set(8, 7, bit(6))
        self._set(8, 8, bit(7))
        self._set(7, 8, bit(8))
        for i in range(9, 15):
            self._set(14 - i, 8, bit(i))
        for i in range(8):
            self._set(size - 1 - i, 8, bit(i))
        for i in range(8, 15):
            self._set(8, size - 15 + i, bit(i))
        self._set(8, size - 8, True)  # the dark module

    def _version_info(self) -> None:
        if self.version < 7:
            return
        remainder = self.version
        for _ in range(12):
            remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25)
        bits = self.version << 12 | remainder
        for i in range(18):
            dark = (bits >> i) & 1 == 1
            a, b = self.size - 11 + i % 3, i // 3
            self._set(a, b, dark)
            self._set(b, a, dark)

    def place(self, codewords: list[int], mask: int) -> None:
        """Codewords in the zigzag order, then ``mask`` over them and its format bits."""
        size, index, total = self.size, 0, len(codewords) * 8
        right = size - 1
        while right >= 1:
            if right == 6:
                right = 5  # the vertical timing pattern
            upward = (right + 1) & 2 == 0
            for vertical in range(size):
                y = size - 1 - vertical if upward else vertical
                for x in (right, right - 1):
                    if self.reserved[y][x]:
                        continue
                    dark = False
                    if index < total:
                        dark = (codewords[index >> 3] >> (7 - (index & 7))) & 1 == 1
                        index += 1
                    self.modules[y][x] = dark != _MASKS[mask](x, y)
            right -= 2
        self._format(mask)


_MASKS = (
    lambda x, y: (x + y) % 2 == 0,
    lambda x, y: y % 2 == 0,
    lambda x, y: x % 3 == 0,
    lambda x, y: (x + y) % 3 == 0,
    lambda x, y: (x // 3 + y // 2) % 2 == 0,
    lambda x, y: x * y % 2 + x * y % 3 == 0,
    lambda x, y: (x * y % 2 + x * y % 3) % 2 == 0,
    lambda x, y: ((x + y) % 2 + x * y % 3) % 2 == 0,
)


def _penalty(modules: list[list[bool]]) -> int:
    """ISO/IEC 18004 §7.8.3 penalty (N1 runs, N2 blocks, N3 finder-like, N4 balance): lower is
    easier to scan. Any mask decodes; this only picks the cleanest."""
    size = len(modules)
    columns = [[modules[y][x] for y in range(size)] for x in range(size)]
    score = 0
    finder = (True, False, True, True, True, False, True, False, False, False, False)
    finder_like = {finder, finder[::-1]}
    for line in [*modules, *columns]:
        run = 1
        for previous, current in pairwise(line):
            if current == previous:
                run += 1
            else:
                score += 3 + run - 5 if run >= 5 else 0
                run = 1
        score += 3 + run - 5 if run >= 5 else 0
        for start in range(size - 10):
            if tuple(line[start : start + 11]) in finder_like:
                score += 40
    for y in range(size - 1):
        for x in range(size - 1):
            if modules[y][x] == modules[y][x + 1] == modules[y + 1][x] == modules[y + 1][x + 1]:
                score += 3
    dark = sum(map(sum, modules))
    total = size * size
    score += 10 * (abs(dark * 20 - total * 10) // total)
    return score
