"""Progress display for long calls: ``progress=True`` draws a line on stderr (or, in Jupyter, a line in
the cell's output), a callable receives :class:`WalkProgress`, and None shows progress only where someone
is watching: a terminal on stderr, or a Jupyter kernel."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Union

from ._native import WalkProgress


@dataclass(frozen=True)
class JobProgress:
    """Progress of a job over files: files done, bytes read, errors so far, and the stage it is in
    (``find_duplicates``: "sizes", "partial hashes", "full hashes", "done"; else None)."""

    files: int
    bytes: int
    errors: int
    stage: str | None = None


@dataclass(frozen=True)
class IndexProgress:
    """Progress of building a vector store's HNSW index: rows inserted into the graph, of ``total``."""

    rows: int
    total: int


ProgressArg = Union[bool, Callable[[WalkProgress], None], None]
IndexProgressArg = Union[bool, Callable[[IndexProgress], None], None]
JobProgressArg = Union[bool, Callable[[JobProgress], None], None]
_STAGES = {1: "sizes", 2: "partial hashes", 3: "full hashes", 4: "done"}


class _Line:
    """A single self-overwriting status line on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._started = self._last = time.monotonic()
        self._drawn = False

    def text(self, p: WalkProgress | JobProgress | IndexProgress) -> str:
        if isinstance(p, IndexProgress):
            return f"{self._label}: {p.rows:,} of {p.total:,} rows ({time.monotonic() - self._started:.1f} s)"
        if isinstance(p, JobProgress):
            text = f"{self._label}{' (' + p.stage + ')' if p.stage else ''}: {p.files:,} files"
        else:
            text = f"{self._label}: {p.directories:,} dirs, {p.entries:,} entries"
        if p.bytes:
            text += f", {human_bytes(p.bytes)}"
        if p.errors:
            text += f", {p.errors:,} errors"
        return text + f" ({time.monotonic() - self._started:.1f} s)"

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        self.show(self.text(p))
        self._drawn = True

    def show(self, text: str) -> None:
        sys.stderr.write("\r" + text + "\x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


class _NotebookLine(_Line):
    """The same line as one updating output in a Jupyter cell (a terminal escape would print there as text)."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self._handle: Any = None

    def show(self, text: str) -> None:
        from IPython.display import display
        if self._handle is None:
            self._handle = display(text, display_id=True)
        else:
            self._handle.update(text)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.update("")


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    try:
        return bool(shell.get_ipython() is not None)
    except AttributeError:
        return False


def human_bytes(n: float) -> str:
    """A byte count for people: 1.5 KiB, 2.0 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def reporter(progress: ProgressArg, label: str) -> tuple[Callable[[WalkProgress], None] | None, Callable[[], None]]:
    """``(callback, close)`` for a ``progress`` argument (None: shown on a terminal or in Jupyter)."""
    if progress is None:
        notebook = _in_notebook()
        if not (notebook or (sys.stderr is not None and sys.stderr.isatty())):
            return None, lambda: None
        line = _NotebookLine(label) if notebook else _Line(label)
        return line, line.close
    if not progress:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    line = _NotebookLine(label) if _in_notebook() else _Line(label)
    return line, line.close



def job_reporter(progress: JobProgressArg, label: str, kind: str) -> tuple[Callable[[list[int]], None] | None, Callable[[], None]]:
    """Like :func:`reporter`, for a file job whose native counters (vega.h) are turned into JobProgress:
    ``kind`` "hash" (files, bytes, errors, directories) or "dupes" (stage, files, bytes, errors)."""
    show, close = reporter(progress, label)  # type: ignore[arg-type]
    if show is None:
        return None, close
    shown: Callable[[Any], None] = show

    def convert(counters: list[int]) -> None:
        if kind == "dupes":
            stage, files, nbytes, errors = counters
            shown(JobProgress(files, nbytes, errors, _STAGES.get(stage)))
        else:
            files, nbytes, errors, _dirs = counters
            shown(JobProgress(files, nbytes, errors))
    return convert, close


def index_reporter(progress: IndexProgressArg) -> tuple[Callable[[IndexProgress], None] | None, Callable[[], None]]:
    """Like :func:`reporter`, for building a vector store's HNSW index."""
    show, close = reporter(progress, "indexing")  # type: ignore[arg-type]
    return show, close  # type: ignore[return-value]
