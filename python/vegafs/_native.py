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
from typing import Any, Callable, Iterator, TypeVar

from . import errors
from ._paths import ENCODE_ERRORS, ENCODING, splitter

ABI_VERSION = 10
_LIBRARY_FILE = "libvega.so"
_HEADER_FILE = "vega.h"
_POLL_MS = 50
_BACKGROUND_BYTES = 4 << 20  # a buffer from which a native call runs on a helper thread, for Ctrl-C
T = TypeVar("T")

_lock = threading.Lock()
_loaded: tuple[Any, Any, LibraryChoice] | None = None
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


_FAST_LIBRARY_FILE = "libvega-avx2.so"
# Every instruction set the fast build is compiled for (setup.py FAST_INSTRUCTION_SET), as /proc/cpuinfo
# names them ("pni" is SSE3). The NativeAOT runtime checks the same set with CPUID when the library loads
# and aborts the whole process if one is missing, so the library is loaded only when all are listed.
# LZCNT ("abm") is left out of the build on purpose: hypervisors hide it from /proc/cpuinfo on CPUs
# whose AVX2 and FMA work, and nothing hot here counts leading zeros.
FAST_BUILD_FLAGS = frozenset({"pni", "ssse3", "sse4_1", "sse4_2", "popcnt", "avx", "avx2", "fma", "bmi1",
                              "bmi2", "movbe"})
_SIMD_NAMES = {1: "vector128", 2: "vector256", 4: "vector512", 8: "avx2", 16: "fma", 32: "advsimd"}


@dataclass(frozen=True)
class LibraryChoice:
    """Which native library to load, which build that is, and why it was chosen."""
    path: str
    build: str  # "avx2", "baseline" or "custom" ($VEGAFS_LIBRARY)
    reason: str


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU's feature flags as the kernel lists them, or None if it does not say."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def choose_library(flags: frozenset[str] | None = None) -> LibraryChoice:
    """``$VEGAFS_LIBRARY`` if set; else the package's AVX2/FMA build when the CPU reports every
    instruction set it needs (``flags``, read from /proc/cpuinfo by default); else the baseline build."""
    chosen = os.environ.get("VEGAFS_LIBRARY")
    if chosen:
        return LibraryChoice(chosen, "custom", "VEGAFS_LIBRARY is set")
    baseline = str(_package_dir() / _LIBRARY_FILE)
    fast = _package_dir() / _FAST_LIBRARY_FILE
    if not fast.exists():
        return LibraryChoice(baseline, "baseline", f"this installation has no {_FAST_LIBRARY_FILE} "
                                                   "(it is built for x86-64 only)")
    if flags is None:
        flags = cpu_flags()
    if flags is None:
        return LibraryChoice(baseline, "baseline", "/proc/cpuinfo lists no CPU flags, so the AVX2 build "
                                                   "cannot be proven safe to load")
    missing = sorted(FAST_BUILD_FLAGS - flags)
    if missing:
        return LibraryChoice(baseline, "baseline", "the CPU does not report " + ", ".join(missing)
                             + ", which the AVX2 build needs")
    return LibraryChoice(str(fast), "avx2", "the CPU reports every instruction set the AVX2 build needs: "
                         + ", ".join(sorted(FAST_BUILD_FLAGS)))


def library_path() -> str:
    """Where the native library is loaded from (see :func:`choose_library`)."""
    return choose_library().path


def _load() -> tuple[Any, Any, LibraryChoice]:
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        try:
            from cffi import FFI
        except ImportError as exc:  # pragma: no cover - cffi is a hard dependency
            raise errors.NativeLibraryError("vegafs needs the 'cffi' package") from exc
        choice = choose_library()
        path = choice.path
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
        _loaded = (ffi, lib, choice)
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
    """The loaded native library: its path, build and why it was chosen, version, ABI version, and the
    SIMD code it runs on this CPU."""
    ffi, lib = native()
    choice = _load()[2]
    text = ffi.new("uint8_t**")
    length = ffi.new("size_t*")
    check(lib.vega_library_version(text, length))
    simd = lib.vega_simd_features()
    return {
        "backend": "native",
        "library": choice.path,
        "build": choice.build,
        "reason": choice.reason,
        "simd": [name for bit, name in _SIMD_NAMES.items() if simd & bit],
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
        refused = errors.InvalidArgumentError(text)
        refused.detail = code[0]
        return refused
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
    """One result table: ``columns`` int64 values per row, flat, and ``text_columns`` byte strings per
    row, flat and row-major (``texts`` is None without any)."""

    kind: int
    columns: int
    values: list[int]
    texts: list[Any] | None  # bytes, or str where decoded
    text_columns: int = 1

    def rows(self) -> list[list[int]]:
        c = self.columns
        return [self.values[i:i + c] for i in range(0, len(self.values), c)]

    def text_column(self, j: int) -> list[Any]:
        assert self.texts is not None
        return self.texts[j::self.text_columns]


def _take_report(ffi: Any, lib: Any, report: Any, as_str: bool = False) -> list[RawTable]:
    """Copies every table out of a native vega_report, then frees it. Texts are bytes, or with
    ``as_str`` str decoded as os.fsdecode would (for paths), straight from native memory."""
    try:
        tables = []
        for k in range(report.table_count):
            table = report.tables[k]
            values = ffi.unpack(table.values, table.rows * table.columns)
            texts: Any = None
            if table.text_columns:
                count = table.rows * table.text_columns
                offsets = ffi.unpack(table.text_offsets, count + 1)
                blob = ffi.buffer(table.text, offsets[-1])
                # Each string is followed by a NUL (vega.h): without NULs inside, one split finds them all.
                texts = (str(blob, ENCODING, ENCODE_ERRORS) if as_str else blob[:]).split("\0" if as_str else b"\0")[:-1]
                if len(texts) != count:
                    raw = blob[:]
                    texts = [raw[offsets[i]:offsets[i + 1] - 1] for i in range(count)]
                    if as_str:
                        texts = [os.fsdecode(t) for t in texts]
            tables.append(RawTable(table.kind, table.columns, values, texts, table.text_columns or 1))
        return tables
    finally:
        lib.vega_report_free(report)


def _release(free: str, handle: int) -> None:
    """Calls the library's ``free`` function on a handle (a job or a glob set), from a finalizer."""
    if _forked_child or _loaded is None:
        return  # never call into the runtime in a forked child, not even to clean up
    getattr(_loaded[1], free)(handle)


def job_progress(job: int) -> list[int]:
    """A job's 4 progress counters (their meaning per job kind is in vega.h)."""
    ffi, lib = native()
    counters = ffi.new("int64_t[4]")
    check(lib.vega_job_progress(job, counters))
    return list(counters)


class _Job:
    """A native job id and its lifetime: :meth:`close` (or garbage collection) frees it, once."""

    _id: int | None

    def _own(self, job: int) -> None:
        self._id = job
        self._finalizer = weakref.finalize(self, _release, "vega_job_free", job)

    def _poll(self, next_call: Callable[[int, int, Any, Any], int], out: Any, take: Callable[[Any], Any],
              free: Callable[[Any], None], on_progress: Callable[[list[int]], None] | None) -> Iterator[Any]:
        """Yields ``take(result)`` for each result of the job's *_next call until it finishes, waiting in
        short slices so Ctrl-C is seen within ~50 ms; an exception (KeyboardInterrupt) or closing the
        generator cancels the native work. ``take`` owns (and frees) each result it is given."""
        ffi, _ = native()
        finished = ffi.new("int32_t*")
        try:
            while True:
                check(next_call(self._live_id(), _POLL_MS, out, finished))
                if out[0] != ffi.NULL:
                    result, out[0] = out[0], ffi.NULL
                    yield take(result)
                elif finished[0]:
                    break
                if on_progress is not None:
                    on_progress(job_progress(self._live_id()))
        except BaseException:
            if out[0] != ffi.NULL:  # interrupted between receiving a result and taking it
                free(out[0])
                out[0] = ffi.NULL
            self.close()
            raise
        if on_progress is not None:
            on_progress(job_progress(self._live_id()))

    def cancel(self) -> None:
        if self._id is not None:
            native()[1].vega_job_cancel(self._id)

    def close(self) -> None:
        if self._id is not None:
            self._id = None
            self._finalizer()

    def _live_id(self) -> int:
        if self._id is None:
            raise errors.InvalidArgumentError("this job has been closed")
        return self._id


class WalkJob(_Job):
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
        self._own(job[0])

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
        """Yields batches until the walk ends; see :meth:`_Job._poll` for Ctrl-C and cancellation."""
        ffi, lib = native()
        out = ffi.new("vega_batch**")
        progress = None if on_progress is None else (lambda c: on_progress(WalkProgress(*c)))
        return self._poll(lib.vega_walk_next, out, lambda batch: _take_batch(ffi, lib, batch, self._split),
                          lib.vega_batch_free, progress)

    def progress(self) -> WalkProgress:
        return WalkProgress(*job_progress(self._live_id()))

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
        return _take_report(ffi, lib, out[0])

    def __enter__(self) -> "WalkJob":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _take_batch(ffi: Any, lib: Any, batch: Any, split: Callable[[Any], list[Any]]) -> RawBatch:
    try:
        groups = ffi.unpack(batch.groups, batch.group_count * GROUP_FIELDS)
        kinds = ffi.buffer(batch.kinds, batch.entry_count)[:]
        stats = None
        if batch.stats != ffi.NULL:
            stats = array.array("q")
            stats.frombytes(ffi.buffer(batch.stats, batch.entry_count * STAT_FIELDS * 8))
        strings = split(ffi.buffer(batch.blob, batch.blob_size))
    finally:
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


# Hash algorithms (vega.h VEGA_HASH_*) and file job result tables.
HASH_ALGORITHMS = {"sha256": 0, "sha1": 1, "md5": 2, "blake2b": 3, "xxh64": 4, "xxh3_64": 5, "xxh3_128": 6, "crc32": 7}
TABLE_HASHES, TABLE_DUPLICATES, TABLE_FILE_ERRORS = 20, 21, 22
ERRNO_CHANGED = -1


def file_source(paths: list[bytes] | None = None, root: bytes | None = None, flags: int = 0,
                max_depth: int | None = None, threads: int | None = None, include: GlobSet | None = None,
                exclude: GlobSet | None = None) -> int:
    """A native file source: a list of paths, or the regular files under ``root`` (walked at once, so a
    bad root raises here). Give it to :class:`FileJob`, which takes it over."""
    ffi, lib = native()
    out = ffi.new("int64_t*")
    if paths is not None:
        blob = b"\0".join(paths)
        check(lib.vega_files_list(blob, len(blob), len(paths), out))
    else:
        assert root is not None
        sets = include.id if include else 0, exclude.id if exclude else 0
        check(lib.vega_files_tree(root, len(root), flags, max_depth or 0, threads or 0, *sets, out))
    source: int = out[0]
    return source


class FileJob(_Job):
    """A running native file job (hashing, duplicates): iterate :meth:`results`; :meth:`close` (or
    garbage collection) frees it. Starting takes over ``source``; it is freed here if the start fails."""

    def __init__(self, start: Callable[[Any, Any, int], int], source: int) -> None:
        ffi, lib = native()
        job = ffi.new("int64_t*")
        try:
            check(start(lib, job, source))
        finally:
            lib.vega_files_free(source)  # INVALID_ARGUMENT (ignored) once a job has taken it
        self._own(job[0])

    @classmethod
    def hash(cls, source: int, algorithm: int, threads: int | None) -> "FileJob":
        return cls(lambda lib, job, src: int(lib.vega_hash_start(src, algorithm, threads or 0, job)), source)

    @classmethod
    def duplicates(cls, source: int, algorithm: int, min_size: int, threads: int | None) -> "FileJob":
        return cls(lambda lib, job, src: int(lib.vega_dupes_start(src, algorithm, min_size, threads or 0, job)), source)

    @classmethod
    def search(cls, source: int, searcher: "Searcher", options: "SearchOptions", threads: int | None) -> "FileJob":
        native_options = options.to_native()
        return cls(lambda lib, job, src: int(lib.vega_search_start(src, searcher.id, native_options, threads or 0, job)),
                   source)

    def results(self, on_progress: Callable[[list[int]], None] | None = None,
                as_str: bool = False) -> Iterator[list[RawTable]]:
        """Yields result sets until the job ends (texts decoded to str with ``as_str``); see
        :meth:`_Job._poll` for Ctrl-C and cancellation."""
        ffi, lib = native()
        out = ffi.new("vega_report**")
        return self._poll(lib.vega_job_next, out, lambda report: _take_report(ffi, lib, report, as_str),
                          lib.vega_report_free, on_progress)


class Hasher:
    """An incremental native hasher over Python buffers (bytes, bytearray, memoryview)."""

    def __init__(self, algorithm: int) -> None:
        ffi, lib = native()
        out = ffi.new("int64_t*")
        check(lib.vega_hasher_new(algorithm, out))
        self._id: int = out[0]
        self._finalizer = weakref.finalize(self, _release, "vega_hasher_free", out[0])

    def update(self, data: Any) -> None:
        ffi, lib = native()
        check(lib.vega_hasher_update(self._id, ffi.from_buffer(data), len(memoryview(data).cast("B"))))

    def digest(self) -> bytes:
        """The digest of everything so far; the hasher starts over."""
        ffi, lib = native()
        digest = ffi.new("uint8_t[64]")
        length = ffi.new("size_t*")
        check(lib.vega_hasher_digest(self._id, digest, 64, length))
        return bytes(ffi.buffer(digest, length[0]))


# Search (vega.h VEGA_SEARCH_*, VEGA_TABLE_SEARCH_*).
SEARCH_FIXED_STRINGS, SEARCH_IGNORE_CASE, SEARCH_SMART_CASE = 1, 2, 4
TABLE_SEARCH_FILES, TABLE_SEARCH_LINES, TABLE_SEARCH_SPANS = 23, 24, 25
SEARCH_FILE_FINAL, SEARCH_FILE_BINARY, SEARCH_FILE_MAX_COUNT, SEARCH_FILE_TOO_LARGE = 1, 2, 4, 8
ERRNO_LINE_TOO_LONG = -2


@dataclass(frozen=True)
class SearchOptions:
    """vega_search_options: what a search does with each file."""

    count_only: bool = False
    binary: bool = False
    before: int = 0
    after: int = 0
    max_count: int = 0
    max_filesize: int = 0

    def to_native(self) -> Any:
        ffi, _ = native()
        options = ffi.new("vega_search_options*")
        options.flags = (1 if self.count_only else 0) | (2 if self.binary else 0)
        options.before, options.after = self.before, self.after
        options.max_count, options.max_filesize = self.max_count, self.max_filesize
        return options


class Searcher:
    """Compiled native search patterns. A refused pattern raises :class:`errors.RegexError` (a ValueError)
    naming it and the position."""

    def __init__(self, patterns: list[bytes], flags: int, shown: list[Any]) -> None:
        ffi, lib = native()
        blob = b"\0".join(patterns) + b"\0"
        out = ffi.new("int64_t*")
        which = ffi.new("int32_t*")
        position = ffi.new("int32_t*")
        status = lib.vega_search_compile(blob, len(blob), len(patterns), flags, out, which, position)
        if status != 0:
            error = _error(status)
            if which[0] >= 0 and isinstance(error, errors.InvalidArgumentError):
                detail = str(error).split(": ", 1)[-1]
                raise errors.RegexError(detail, shown[which[0]], position[0]) from None
            raise error
        self.id: int = out[0]
        self._finalizer = weakref.finalize(self, _release, "vega_searcher_free", out[0])

    def search_buffer(self, data: Any, path: bytes, options: SearchOptions) -> list[RawTable]:
        """Searches one buffer as a file named ``path`` (the GIL is released meanwhile; Ctrl-C stops a large one)."""
        ffi, lib = native()
        report = ffi.new("vega_report**")
        view = memoryview(data).cast("B")
        interruptible(lambda token: check(lib.vega_search_buffer(self.id, ffi.from_buffer(view), len(view), path, len(path),
                                                                 options.to_native(), token, report)),
                      background=len(view) >= _BACKGROUND_BYTES)
        return _take_report(ffi, lib, report[0])


# Vector stores (vega.h VEGA_STORE_*, VEGA_METRIC_*).
METRICS = {"cosine": 0, "l2": 1, "ip": 2}
STORE_CREATE, STORE_READONLY, STORE_UPSERT, STORE_MISSING_OK, STORE_UNKNOWN_ID = 1, 2, 1, 1, 3
INDEX_FLAT, INDEX_HNSW, SEARCH_EXACT = 0, 1, 1
SNAPSHOT_CREATE, SNAPSHOT_RESTORE, SNAPSHOT_DELETE = 0, 1, 2
STORE_INFO_FIELDS = 11
TABLE_STORE_ROWS = 30


def _strings(items: list[bytes]) -> bytes:
    return b"\0".join(items) + b"\0"


def interruptible(call: Callable[[int], T], background: bool = True) -> T:
    """Runs ``call(token)``, one native call that takes a cancel token, so that Ctrl-C stops it promptly.

    Python runs SIGINT handlers on the main thread only, between bytecodes: during a long native call
    there, Ctrl-C would wait for the call to end. So on the main thread (when ``background``) the call
    runs on a helper thread while this one waits; KeyboardInterrupt (or any exception) while waiting
    sets the token, waits for the call to stop (native loops look at the token every few ms of work, and
    leave what they were changing as it was) and propagates. Elsewhere the call runs inline."""
    if not background or threading.current_thread() is not threading.main_thread():
        return call(0)  # no token: nothing here could set it
    ffi, lib = native()
    out = ffi.new("int64_t*")
    check(lib.vega_cancel_new(out))
    token = out[0]
    try:
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((True, call(token)))
            except BaseException as error:  # handed to the waiting thread
                outcome.append((False, error))

        worker = threading.Thread(target=run, name="vegafs-call", daemon=True)
        worker.start()
        try:
            worker.join()
        except BaseException:
            lib.vega_cancel_set(token)
            while worker.is_alive():
                try:
                    worker.join()
                except KeyboardInterrupt:  # a second Ctrl-C: the call is stopping already
                    pass
            raise
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]
    finally:
        lib.vega_cancel_free(token)


class NativeStore:
    """An open native vector store. Arrays cross as pointers into numpy buffers (no copies); the caller
    passes float32 C-contiguous arrays and int64 row arrays. Calls that can run long take a cancel token
    through :func:`interruptible`, so Ctrl-C stops them within milliseconds."""

    def __init__(self, path: bytes, dim: int, metric: int, flags: int, index: tuple[int, int, int, int] | None) -> None:
        """``index``: (kind, M, ef_construction, ef), or None to keep the store's own."""
        ffi, lib = native()
        out = ffi.new("int64_t*")
        options = ffi.NULL if index is None else ffi.new("vega_index_options*", index)
        interruptible(lambda token: check(lib.vega_store_open(path, len(path), dim, metric, flags, options, token, out)))
        self.id: int = out[0]
        self._finalizer = weakref.finalize(self, _release, "vega_store_close", out[0])

    def info(self) -> list[int]:
        ffi, lib = native()
        info = ffi.new("int64_t[]", STORE_INFO_FIELDS)
        check(lib.vega_store_info(self.id, info))
        return list(info)

    def add(self, vectors: Any, ids: list[bytes], metadata: list[bytes] | None, documents: list[bytes] | None,
            upsert: bool) -> None:
        ffi, lib = native()
        ids_blob = _strings(ids)
        meta_blob = _strings(metadata) if metadata is not None else ffi.NULL
        docs_blob = _strings(documents) if documents is not None else ffi.NULL
        interruptible(lambda token: check(lib.vega_store_add(
            self.id, ffi.from_buffer("float[]", vectors), len(ids), ids_blob, len(ids_blob),
            meta_blob, 0 if metadata is None else len(meta_blob), docs_blob, 0 if documents is None else len(docs_blob),
            STORE_UPSERT if upsert else 0, token)))

    def search(self, queries: Any, count: int, k: int, filter: bytes | None, threads: int | None, ef: int,
               exact: bool, distances: Any, rows: Any, background: bool) -> RawTable:
        """Fills ``distances`` and ``rows``; returns the rows' texts (id, metadata, document), read with the
        search. ``background``: the search is long enough to be worth a helper thread for Ctrl-C."""
        ffi, lib = native()
        report = ffi.new("vega_report**")
        interruptible(lambda token: check(lib.vega_store_search(
            self.id, ffi.from_buffer("float[]", queries), count, k, ffi.NULL if filter is None else filter,
            0 if filter is None else len(filter), threads or 0, ef, SEARCH_EXACT if exact else 0, token,
            ffi.from_buffer("float[]", distances, require_writable=True),
            ffi.from_buffer("int64_t[]", rows, require_writable=True), report)), background)
        return _take_report(ffi, lib, report[0])[0]

    def get(self, ids: list[bytes], rows: Any, vectors: Any) -> RawTable:
        """Fills ``rows`` (-1: unknown) and ``vectors`` for ``ids``; returns their texts, all read at once."""
        ffi, lib = native()
        blob = _strings(ids)
        report = ffi.new("vega_report**")
        check(lib.vega_store_get(self.id, blob, len(blob), len(ids), ffi.from_buffer("int64_t[]", rows, require_writable=True),
                                 ffi.from_buffer("float[]", vectors, require_writable=True), report))
        return _take_report(ffi, lib, report[0])[0]

    def delete(self, ids: list[bytes], missing_ok: bool) -> int:
        ffi, lib = native()
        blob = _strings(ids)
        deleted = ffi.new("int64_t*")
        check(lib.vega_store_delete(self.id, blob, len(blob), len(ids), STORE_MISSING_OK if missing_ok else 0, deleted))
        return int(deleted[0])

    def index(self, max_rows: int, threads: int | None) -> int:
        """Inserts up to ``max_rows`` pending rows into the HNSW graph; returns how many remain."""
        ffi, lib = native()
        pending = ffi.new("int64_t*")
        interruptible(lambda token: check(lib.vega_store_index(self.id, max_rows, threads or 0, token, pending)))
        return int(pending[0])

    def flush(self) -> None:
        _, lib = native()
        check(lib.vega_store_flush(self.id))

    def compact(self) -> int:
        ffi, lib = native()
        reclaimed = ffi.new("int64_t*")
        interruptible(lambda token: check(lib.vega_store_compact(self.id, token, reclaimed)))
        return int(reclaimed[0])

    def snapshot(self, op: int, name: bytes) -> None:
        _, lib = native()
        interruptible(lambda token: check(lib.vega_store_snapshot(self.id, op, name, len(name), token)))

    def close(self) -> None:
        self._finalizer()
