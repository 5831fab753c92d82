"""The one module that touches cffi.

It loads the native library (lazily: importing vegafs never calls into it), declares its C API from
``vega.h``, turns status codes into exceptions, guards against use after ``fork()``, and owns every
native allocation until it is freed. Everything else in vegafs calls the Pythonic wrappers here.
"""
from __future__ import annotations

import array
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from . import errors
from ._paths import splitter

ABI_VERSION = 3
_LIBRARY_FILE = "libvega.so"
_HEADER_FILE = "vega.h"
_POLL_MS = 50

_lock = threading.Lock()
_loaded: tuple[Any, Any, str] | None = None
_forked_child = False


def _mark_forked_child() -> None:
    global _forked_child
    _forked_child = _loaded is not None


os.register_at_fork(after_in_child=_mark_forked_child)


def _cdef(header: str) -> str:
    start = header.index("/* BEGIN CDEF */")
    end = header.index("/* END CDEF */")
    return header[start + len("/* BEGIN CDEF */"):end]


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def library_path() -> str:
    """Where the native library is loaded from: ``$VEGAFS_LIBRARY`` or the package directory."""
    return os.environ.get("VEGAFS_LIBRARY") or str(_package_dir() / _LIBRARY_FILE)


def _load() -> tuple[Any, Any, str]:
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        try:
            from cffi import FFI
        except ImportError as exc:  # pragma: no cover - cffi is a hard dependency
            raise errors.NativeLibraryError("vegafs needs the 'cffi' package") from exc
        path = library_path()
        header = _package_dir() / _HEADER_FILE
        try:
            ffi = FFI()
            ffi.cdef(_cdef(header.read_text()))
            # Never unload (RTLD_NODELETE; the library is also linked -z nodelete): a dlclose at exit
            # would unmap code that the .NET runtime's threads are still running.
            lib = ffi.dlopen(path, ffi.RTLD_NOW | ffi.RTLD_NODELETE)
        except (OSError, ValueError) as exc:
            raise errors.NativeLibraryError(f"cannot load the vegafs native library {path}: {exc}") from exc
        found = lib.vega_abi_version()
        if found != ABI_VERSION or lib.VEGA_ABI_VERSION != ABI_VERSION:
            raise errors.NativeLibraryError(
                f"the native library {path} has ABI version {found}, but this vegafs package needs "
                f"{ABI_VERSION}: reinstall vegafs so that the package and its library match")
        _loaded = (ffi, lib, path)
        return _loaded


def native() -> tuple[Any, Any]:
    """``(ffi, lib)``, loading the library on first use; refuses a forked child."""
    if _forked_child:
        raise errors.ForkError(
            "vegafs was used in this process's parent before fork(); the .NET runtime inside it does not "
            "survive fork. Use multiprocessing with the 'spawn' or 'forkserver' start method, or fork "
            "before the first vegafs call.")
    loaded = _loaded or _load()
    return loaded[0], loaded[1]


def info() -> dict[str, Any]:
    """The loaded native library: its path, version text and ABI version."""
    ffi, lib = native()
    text = ffi.new("uint8_t**")
    length = ffi.new("size_t*")
    check(lib.vega_library_version(text, length))
    return {
        "backend": "native",
        "library": _loaded[2] if _loaded else library_path(),
        "version": bytes(ffi.buffer(text[0], length[0])).decode(),
        "abi_version": ABI_VERSION,
    }


def check(status: int) -> None:
    """Raise the exception for a non-zero status, described by the thread's last native error."""
    if status != 0:
        raise _error(status)


def _error(status: int) -> Exception:
    ffi, lib = native()
    code = ffi.new("int32_t*")
    message = ffi.new("uint8_t**")
    message_length = ffi.new("size_t*")
    path = ffi.new("uint8_t**")
    path_length = ffi.new("size_t*")
    lib.vega_error_last(code, message, message_length, path, path_length)
    text = bytes(ffi.buffer(message[0], message_length[0])).decode("utf-8", "replace") if message[0] else ""
    filename = os.fsdecode(bytes(ffi.buffer(path[0], path_length[0]))) if path[0] else None
    if status in (2, 3, 4, 5):
        return errors.os_error(code[0], filename)
    if status == 1:
        return errors.InvalidArgumentError(text)
    if status == 6:
        return errors.CancelledError(text)
    return errors.NativeError(text or f"native status {status}")


# Walk outputs and flags (vega.h); WALK_ANALYZE is this module's name for vega_analyze_start.
WALK_NAMES, WALK_PATHS, WALK_COUNT, WALK_ANALYZE = 0, 1, 2, 3
FOLLOW_LINKS, STAT, CLASSIFY_LINKS, GITIGNORE = 1, 2, 4, 8
GROUP_FIELDS = 6
STAT_FIELDS = 6


@dataclass(frozen=True)
class WalkProgress:
    """Progress of a running walk: directories read, entries seen, bytes seen (with stat) and errors."""

    directories: int
    entries: int
    bytes: int
    errors: int


@dataclass
class RawBatch:
    """One native batch turned into Python objects: groups as ints, kinds as bytes, stats as an int64
    array, and the blob's strings split (and decoded, for str) by the job's ``split``."""

    groups: list[int]
    kinds: bytes
    stats: array.array[int] | None
    strings: list[Any]


@dataclass
class RawTable:
    """One report table: ``columns`` int64 values per row, flat, and one byte string per row (or None)."""

    columns: int
    values: list[int]
    texts: list[bytes] | None

    def rows(self) -> list[list[int]]:
        c = self.columns
        return [self.values[i:i + c] for i in range(0, len(self.values), c)]


def _release(free: str, handle: int) -> None:
    """Calls the library's ``free`` function on a handle (a job or a glob set), from a finalizer."""
    if _forked_child or _loaded is None:
        return  # never call into the runtime in a forked child, not even to clean up
    getattr(_loaded[1], free)(handle)


class WalkJob:
    """A running native walk. Iterate :meth:`batches`; :meth:`close` (or garbage collection) frees it."""

    def __init__(self, root: bytes, output: int, flags: int, max_depth: int, threads: int,
                 split: Callable[[Any], list[Any]], include: GlobSet | None = None,
                 exclude: GlobSet | None = None, top_n: int | None = None) -> None:
        ffi, lib = native()
        self._split = split
        job = ffi.new("int64_t*")
        sets = include.id if include else 0, exclude.id if exclude else 0
        if output == WALK_ANALYZE:
            check(lib.vega_analyze_start(root, len(root), flags, max_depth, threads, *sets, top_n or 0, job))
        else:
            check(lib.vega_walk_start(root, len(root), output, flags, max_depth, threads, *sets, job))
        self._id: int | None = job[0]
        self._finalizer = weakref.finalize(self, _release, "vega_walk_free", job[0])

    @classmethod
    def start(cls, path: str | bytes, output: int, flags: int, max_depth: int | None,
              threads: int | None, include: GlobSet | None = None, exclude: GlobSet | None = None,
              top_n: int | None = None) -> "WalkJob":
        """Starts a walk (or with ``WALK_ANALYZE``, an analysis keeping ``top_n`` rows per ranked
        table) of a caller's path: results come back str or bytes as ``path`` is, and an error for
        the root names ``path`` as the caller spelled it."""
        try:
            return cls(os.fsencode(path), output, flags, max_depth or 0, threads or 0,
                       splitter(isinstance(path, bytes)), include, exclude, top_n)
        except OSError as error:
            error.filename = path
            raise

    def batches(self, on_progress: Callable[[WalkProgress], None] | None = None) -> Iterator[RawBatch]:
        """Yields batches until the walk ends. Waits in short slices so Ctrl-C is seen within ~50 ms;
        a KeyboardInterrupt (or closing the generator) cancels the native work."""
        ffi, lib = native()
        out = ffi.new("vega_batch**")
        finished = ffi.new("int32_t*")
        try:
            while True:
                check(lib.vega_walk_next(self._live_id(), _POLL_MS, out, finished))
                if out[0] != ffi.NULL:
                    yield _take_batch(ffi, lib, out, self._split)
                elif finished[0]:
                    break
                if on_progress is not None:
                    on_progress(self.progress())
        except BaseException:
            if out[0] != ffi.NULL:  # interrupted between receiving a batch and taking it
                lib.vega_batch_free(out[0])
                out[0] = ffi.NULL
            self.close()
            raise
        if on_progress is not None:
            on_progress(self.progress())

    def progress(self) -> WalkProgress:
        ffi, lib = native()
        counters = ffi.new("int64_t[4]")
        check(lib.vega_walk_progress(self._live_id(), counters))
        return WalkProgress(*counters)

    def totals(self) -> list[int]:
        ffi, lib = native()
        totals = ffi.new("int64_t[7]")
        check(lib.vega_walk_totals(self._live_id(), totals))
        return list(totals)

    def report(self) -> list[RawTable]:
        """The tables of a finished analysis (vega.h VEGA_TABLE_*), in order, copied out of one native block."""
        ffi, lib = native()
        out = ffi.new("vega_report**")
        check(lib.vega_walk_report(self._live_id(), out))
        report = out[0]
        try:
            tables = []
            for k in range(report.table_count):
                table = report.tables[k]
                values = ffi.unpack(table.values, table.rows * table.columns)
                texts = None
                if table.text != ffi.NULL:
                    texts = bytes(ffi.buffer(table.text, table.text_size)).split(b"\0")[:-1]
                tables.append(RawTable(table.columns, values, texts))
            return tables
        finally:
            lib.vega_report_free(report)

    def cancel(self) -> None:
        if self._id is not None:
            native()[1].vega_walk_cancel(self._id)

    def close(self) -> None:
        if self._id is not None:
            self._id = None
            self._finalizer()

    def _live_id(self) -> int:
        if self._id is None:
            raise errors.InvalidArgumentError("this walk has been closed")
        return self._id

    def __enter__(self) -> "WalkJob":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _take_batch(ffi: Any, lib: Any, out: Any, split: Callable[[Any], list[Any]]) -> RawBatch:
    batch = out[0]
    try:
        groups = ffi.unpack(batch.groups, batch.group_count * GROUP_FIELDS)
        kinds = ffi.buffer(batch.kinds, batch.entry_count)[:]
        stats = None
        if batch.stats != ffi.NULL:
            stats = array.array("q")
            stats.frombytes(ffi.buffer(batch.stats, batch.entry_count * STAT_FIELDS * 8))
        strings = split(ffi.buffer(batch.blob, batch.blob_size))
    finally:
        out[0] = ffi.NULL
        lib.vega_batch_free(batch)
    return RawBatch(groups, kinds, stats, strings)


# Glob set flags (vega.h).
GLOB_IGNORE_CASE, GLOB_ANCHOR_SLASH = 1, 2


_allocate: Any = None


def _uncleared(ctype: str, count: int) -> Any:
    """A cffi array that is not zeroed first (the native side writes what is read)."""
    global _allocate
    if _allocate is None:
        _allocate = native()[0].new_allocator(should_clear_after_alloc=False)
    return _allocate(ctype, count)


class GlobSet:
    """A compiled native glob set. ``patterns`` are fsencoded; an invalid one raises InvalidArgumentError
    (a ValueError) naming it and the position."""

    def __init__(self, patterns: list[bytes], flags: int) -> None:
        ffi, lib = native()
        blob = b"\0".join(patterns) + b"\0"
        out = ffi.new("int64_t*")
        check(lib.vega_globset_new(blob, len(blob), len(patterns), flags, out))
        self.id: int = out[0]
        self.count = len(patterns)
        self._finalizer = weakref.finalize(self, _release, "vega_globset_free", out[0])

    def match(self, blob: bytes, count: int) -> tuple[bytearray, Callable[[], list[int]], int]:
        """``blob`` holds ``count`` (>= 1) paths separated by NULs. Returns one byte per path (1 where a
        glob matches), a function giving the matching indices, and how many matched. Long lists are
        matched in parallel, with the GIL released."""
        ffi, lib = native()
        matched = bytearray(count)
        indices = _uncleared("int64_t[]", count)
        found = ffi.new("int64_t*")
        check(lib.vega_globset_match(self.id, blob, len(blob), count, ffi.from_buffer(matched), indices, found))
        count_found: int = found[0]

        def matching() -> list[int]:
            return list(ffi.unpack(indices, count_found))

        return matched, matching, count_found

    def which(self, path: bytes) -> list[int]:
        ffi, lib = native()
        indices = ffi.new("int32_t[]", self.count)
        found = ffi.new("int32_t*")
        check(lib.vega_globset_which(self.id, path, len(path), indices, self.count, found))
        return list(indices[0:found[0]])
