"""A dependency-free PNG bar chart: one stacked bar per day, one colour per model, with numeric labels.

Enough for a cost report's picture without matplotlib: bars, axes, the y-axis maximum and each
bar's day (``MM-DD``) drawn in a 3x5 pixel digit font. Colours follow the order of ``series``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence

RGB = tuple[int, int, int]
PALETTE: tuple[RGB, ...] = ((66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188), (0, 172, 193))
BACKGROUND: RGB = (255, 255, 255)
INK: RGB = (60, 60, 60)
_GLYPHS = {  # 3x5 bitmaps, rows top to bottom
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    "-": ("000", "000", "111", "000", "000"),
    ".": ("000", "000", "000", "000", "010"),
    " ": ("000", "000", "000", "000", "000"),
}


class Canvas:
    """An RGB pixel buffer that encodes itself as PNG."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [bytearray(bytes(BACKGROUND) * width) for _ in range(height)]

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: RGB) -> None:
        """Fill ``[x0, x1) x [y0, y1)``, clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        for y in range(max(0, y0), min(self.height, y1)):
            self.rows[y][3 * x0 : 3 * x1] = bytes(colour) * max(0, x1 - x0)

    def text(self, x: int, y: int, text: str, scale: int = 2, colour: RGB = INK) -> None:
        """Draw digits, ``-``, ``.`` and spaces (other characters as spaces) with top-left at ``(x, y)``."""
        for index, char in enumerate(text):
            for row, bits in enumerate(_GLYPHS.get(char, _GLYPHS[" "])):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        left, top = x + (index * 4 + col) * scale, y + row * scale
                        self.rect(left, top, left + scale, top + scale, colour)

    def png(self) -> bytes:
        """The canvas as PNG bytes (8-bit RGB, no interlace)."""
        raw = b"".join(b"\x00" + bytes(row) for row in self.rows)

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
        )


def stacked_bars(
    days: Sequence[str],
    series: Sequence[str],
    values: Mapping[tuple[str, str], float],
    width: int = 720,
    height: int = 360,
) -> bytes:
    """A PNG of one bar per day (``YYYY-MM-DD``), stacked by ``series`` (``values[(day, name)]``)."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 70, width - 20, 20, height - 40
    totals = [sum(values.get((day, name), 0.0) for name in series) for day in days]
    peak = max(totals, default=0.0) or 1.0
    canvas.rect(left - 2, top, left, bottom, INK)
    canvas.rect(left - 2, bottom, right, bottom + 2, INK)
    canvas.text(4, top, f"{peak:.4f}"[:8])
    canvas.text(4, bottom - 10, "0")
    slot = (right - left) / max(1, len(days))
    for index, day in enumerate(days):
        x0 = left + int(index * slot + slot * 0.15)
        x1 = left + int((index + 1) * slot - slot * 0.15)
        y = bottom
        for number, name in enumerate(series):
            size = int((bottom - top) * values.get((day, name), 0.0) / peak)
            canvas.rect(x0, y - size, max(x1, x0 + 1), y, PALETTE[number % len(PALETTE)])
            y -= size
        canvas.text(x0, bottom + 10, day[5:10])
    return canvas.png()
