"""Progress display for long calls: ``progress=True`` draws a line on stderr, or pass a callable."""
from __future__ import annotations

import sys
import time
from typing import Callable, Union

from ._native import WalkProgress

ProgressArg = Union[bool, Callable[[WalkProgress], None], None]


class _Line:
    """A single self-overwriting status line on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._last = 0.0
        self._drawn = False

    def __call__(self, p: WalkProgress) -> None:
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        text = f"{self._label}: {p.directories:,} dirs, {p.entries:,} entries"
        if p.bytes:
            text += f", {human_bytes(p.bytes)}"
        if p.errors:
            text += f", {p.errors:,} errors"
        sys.stderr.write("\r" + text + "\x1b[K")
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def human_bytes(n: float) -> str:
    """A byte count for people: 1.5 KiB, 2.0 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def reporter(progress: ProgressArg, label: str) -> tuple[Callable[[WalkProgress], None] | None, Callable[[], None]]:
    """``(callback, close)`` for a ``progress`` argument."""
    if not progress:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    line = _Line(label)
    return line, line.close

