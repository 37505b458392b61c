"""The HTML audit report renders in a real browser (headless Chromium from Debian's packages),
and its execution-order picture is there: red out-of-order jumps, orange hidden-state arcs."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from nbship.notebooks.audit import audit
from nbship.notebooks.report import save_html
from nbship.paths import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
JUMP = (0xCF, 0x22, 0x2E)  # .jump and .late in the report's SVG style
HIDDEN = (0xFB, 0x85, 0x00)  # .hidden

# .ci/run installs chromium, so under CI a missing browser fails the test instead of skipping it.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed"
)


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def png_pixels(path: Path) -> set[tuple[int, int, int]]:
    """The distinct RGB colours of a non-interlaced 8-bit RGB/RGBA PNG (as Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * channels
    previous, colours = bytearray(stride), set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        colours.update(tuple(line[i : i + 3]) for i in range(0, stride, channels))
        previous = line
    return colours


def test_audit_report_renders_with_its_execution_order_picture(tmp_path: Path) -> None:
    report = audit([ROOT / "notebooks" / "90_teaching_pitfalls.ipynb"], root=ROOT, execute=False)
    page = tmp_path / "audit.html"
    save_html(report, page)

    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert "<svg" in dom.stdout and 'class="jump"' in dom.stdout and 'class="hidden"' in dom.stdout

    shot = tmp_path / "audit.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1200,1400", page.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr
    colours = png_pixels(shot)
    assert JUMP in colours, "no out-of-order jump drawn"
    assert HIDDEN in colours, "no hidden-state arc drawn"
