"""``scan_tree`` (a columnar listing) and ``count`` (du-like totals), built natively in one pass."""
from __future__ import annotations

import array
import enum
import operator
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple, Optional, Union

from . import _backend, _native
from ._paths import StrOrBytesPath, check_limits, fspath
from ._patterns import PatternArg, PatternMatcher, Selection, walk_filter
from ._progress import ProgressArg, reporter
from .errors import os_error


class Kind(str, enum.Enum):
    """What an entry is, from lstat (a symbolic link is ``SYMLINK`` whatever it points to)."""

    UNKNOWN = "unknown"
    FILE = "file"
    DIRECTORY = "dir"
    SYMLINK = "symlink"
    FIFO = "fifo"
    SOCKET = "socket"
    CHAR_DEVICE = "char"
    BLOCK_DEVICE = "block"

    def __str__(self) -> str:
        return self.value


_KINDS = list(Kind)  # indexed by the native kind code (vega.h VEGA_KIND_*)
STAT_COLUMNS = ("size", "mtime_ns", "mode", "inode", "device", "nlink")


class Entry(NamedTuple):
    """One row of a listing. The stat fields are None without ``stat=True``, and -1 if the entry vanished."""

    path: Union[str, bytes]
    kind: Kind
    size: Optional[int] = None
    mtime_ns: Optional[int] = None
    mode: Optional[int] = None
    inode: Optional[int] = None
    device: Optional[int] = None
    nlink: Optional[int] = None


class Columns:
    """Rows of a listing stored by column: ``paths`` (list), ``kind_codes`` (bytes), stat (array of int64)."""

    def __init__(self, paths: list[Any], kind_codes: bytes, stats: array.array[int] | None) -> None:
        self.paths = paths
        self.kind_codes = kind_codes
        self._stats = stats

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Entry]:
        stats = self._stats
        for i, path in enumerate(self.paths):
            kind = _KINDS[self.kind_codes[i]]
            yield Entry(path, kind) if stats is None else Entry(path, kind, *stats[i * 6:i * 6 + 6])

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self)} entries{'' if self._stats is None else ', with stat'}>"

    @property
    def has_stat(self) -> bool:
        return self._stats is not None

    @property
    def kinds(self) -> list[Kind]:
        return [_KINDS[code] for code in self.kind_codes]

    def column(self, name: str) -> array.array[int]:
        """A stat column (``size``, ``mtime_ns``, ``mode``, ``inode``, ``device``, ``nlink``) as int64 array."""
        if not isinstance(name, str):
            raise TypeError(f"a column name is a str, not {type(name).__name__}")
        if name not in STAT_COLUMNS:
            raise ValueError(f"unknown column {name!r}: one of {', '.join(STAT_COLUMNS)}")
        if self._stats is None:
            raise ValueError("this listing was made without stat=True")
        return self._stats[STAT_COLUMNS.index(name)::len(STAT_COLUMNS)]

    sizes = property(lambda self: self.column("size"))
    mtimes_ns = property(lambda self: self.column("mtime_ns"))
    modes = property(lambda self: self.column("mode"))
    inodes = property(lambda self: self.column("inode"))
    devices = property(lambda self: self.column("device"))
    nlinks = property(lambda self: self.column("nlink"))

    def to_pandas(self) -> Any:
        """A pandas DataFrame with columns path, kind and (with stat) the stat columns."""
        try:
            import numpy as np
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_pandas() needs pandas and numpy: pip install 'vegafs[pandas]'") from exc
        data: dict[str, Any] = {
            "path": self.paths,
            "kind": pd.Categorical.from_codes(np.frombuffer(self.kind_codes, dtype=np.uint8),
                                              categories=[k.value for k in _KINDS]),
        }
        if self._stats is not None:
            table = np.frombuffer(self._stats, dtype=np.int64).reshape(-1, len(STAT_COLUMNS))
            for i, name in enumerate(STAT_COLUMNS):
                data[name] = table[:, i].copy()
        return pd.DataFrame(data)


class ScanResult(Columns):
    """The listing of every entry below a root (the root itself excluded), in one native pass.

    The walk starts when :func:`scan_tree` returns and is read on first use: ``len()``, iteration,
    ``paths`` and the columns read it all into memory; :meth:`iter_batches` streams it instead, with
    memory bounded by the batch size, for trees of any size. Directories that could not be read are in
    :attr:`errors` (OSErrors naming the path), not raised.
    """

    def __init__(self, root: str | bytes, source: Iterator[Columns], errors: list[OSError]) -> None:
        self.root = root
        self.errors = errors
        self._source: Iterator[Columns] | None = source
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        if self._source is None:
            raise RuntimeError("this listing was consumed by iter_batches()")
        parts = list(self._source)
        # The first batch's list and array become the accumulators: one copy fewer of the largest data.
        paths: list[Any] = parts[0].paths if parts else []
        stats = parts[0]._stats if parts else None
        for part in parts[1:]:
            paths.extend(part.paths)
            if stats is not None and part._stats is not None:
                stats.extend(part._stats)
        codes = b"".join(part.kind_codes for part in parts)
        self._source = None
        Columns.__init__(self, paths, codes, stats)
        self._loaded = True

    def __getattr__(self, name: str) -> Any:
        if name in ("paths", "kind_codes", "_stats"):
            self._load()
            return self.__dict__[name]
        raise AttributeError(name)

    def iter_batches(self, size: int = 100_000) -> Iterator[Columns]:
        """Yields the listing as :class:`Columns` of at most ``size`` rows, without keeping them."""
        try:
            size = operator.index(size)
        except TypeError:
            raise TypeError(f"size must be an int, not {type(size).__name__}") from None
        if size < 1:
            raise ValueError("size must be at least 1")
        if self._loaded:
            for start in range(0, len(self.paths), size):
                yield _slice(self, start, start + size)
            return
        source, self._source = self._source, None
        if source is None:
            raise RuntimeError("this listing was already consumed by iter_batches()")
        pending: list[Columns] = []
        held = 0
        for part in source:
            pending.append(part)
            held += len(part)
            while held >= size:
                joined = _join(pending)
                yield _slice(joined, 0, size)
                rest = _slice(joined, size, len(joined))
                pending, held = ([rest], len(rest)) if len(rest) else ([], 0)
        if held:
            yield _join(pending)


def _slice(c: Columns, start: int, stop: int) -> Columns:
    stats = None if c._stats is None else c._stats[start * 6:stop * 6]
    return Columns(c.paths[start:stop], c.kind_codes[start:stop], stats)


def _join(parts: list[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    paths = [p for part in parts for p in part.paths]
    stats = None
    if parts[0]._stats is not None:
        stats = array.array("q")
        for part in parts:
            stats.extend(part._stats or ())
    return Columns(paths, b"".join(part.kind_codes for part in parts), stats)


Filter = Union[PatternArg, PatternMatcher, None]


def scan_tree(top: StrOrBytesPath, *, stat: bool = False, followlinks: bool = False,
              max_depth: int | None = None, threads: int | None = None, progress: ProgressArg = False,
              include: Filter = None, exclude: Filter = None, gitignore: bool = False) -> ScanResult:
    """List every entry below ``top`` in one parallel native pass, as columns.

    ``stat=True`` adds size, mtime_ns, mode, inode, device and nlink (from lstat). Paths are str or
    bytes as ``top`` is. Raises FileNotFoundError / NotADirectoryError / PermissionError (as
    vegafs errors) if ``top`` itself cannot be read; unreadable directories below it are collected in
    ``result.errors``. ``top`` may also be an fsspec URL.

    ``include``: only entries (of any kind) whose path relative to ``top`` a glob matches are listed;
    every directory is still walked. ``exclude``: matching entries are left out and matching directories
    are not walked. ``gitignore=True``: ignored entries are left out as fd and ripgrep leave them out
    (see :func:`vegafs.walk`). All filtering is native; docs/patterns.md has the glob rules.
    """
    path = fspath(top)
    check_limits(max_depth, threads)
    if isinstance(path, str) and _backend.is_fsspec(path):
        _backend.check_no_gitignore(gitignore)
        return _backend.fsspec_scan(path, stat, max_depth, Selection(include, exclude))
    errors: list[OSError] = []
    flags = ((_native.STAT if stat else 0) | (_native.FOLLOW_LINKS if followlinks else 0)
             | (_native.GITIGNORE if gitignore else 0))
    job = _native.WalkJob.start(path, _native.WALK_PATHS, flags, max_depth, threads,
                                walk_filter(include, "include"), walk_filter(exclude, "exclude"))
    return ScanResult(path, _columns(job, errors, progress), errors)


def _columns(job: _native.WalkJob, errors: list[OSError], progress: ProgressArg,
             label: str = "scanning", keep_open: bool = False) -> Iterator[Columns]:
    callback, close = reporter(progress, label)
    try:
        for batch in job.batches(callback):
            # Readable directories contribute only their entries' full paths to the blob; a directory
            # that could not be read contributes its own path (vega.h, VEGA_WALK_PATHS).
            parts = batch.strings
            parts.pop()  # after the last NUL
            if any(batch.groups[4::_native.GROUP_FIELDS]):
                parts = _take_errors(batch.groups, parts, errors)
            yield Columns(parts, batch.kinds, batch.stats)
    finally:
        close()
        if not keep_open:
            job.close()


def _take_errors(groups: list[int], parts: list[Any], errors: list[OSError]) -> list[Any]:
    paths: list[Any] = []
    k = 0
    fields = iter(groups)
    for _gid, _pid, _ndirs, count, err, _index in zip(fields, fields, fields, fields, fields, fields):
        if err:
            errors.append(os_error(err, parts[k]))
            k += 1
        else:
            paths += parts[k:k + count]
            k += count
    return paths


@dataclass
class CountResult:
    """du-like totals for a tree.

    ``files``, ``directories``, ``symlinks`` and ``others`` count entries below the root. The byte
    sums include the root directory itself and count each hard-linked file once, as ``du -sb``
    (``apparent_bytes``) and ``du -s -B1`` (``disk_bytes``) do. ``disk_bytes`` is None where the
    backend cannot tell (fsspec). Unreadable directories are in ``errors``.
    """

    path: Union[str, bytes]
    files: int
    directories: int
    symlinks: int
    others: int
    apparent_bytes: int
    disk_bytes: Optional[int]
    errors: list[OSError] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return self.files + self.directories + self.symlinks + self.others

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": os.fsdecode(self.path), "files": self.files, "directories": self.directories,
            "symlinks": self.symlinks, "others": self.others, "apparent_bytes": self.apparent_bytes,
            "disk_bytes": self.disk_bytes,
            "errors": [{"path": os.fsdecode(e.filename), "errno": e.errno, "message": e.strerror}
                       for e in self.errors],
        }


def count(top: StrOrBytesPath, *, followlinks: bool = False, threads: int | None = None,
          progress: ProgressArg = False, include: Filter = None, exclude: Filter = None,
          gitignore: bool = False) -> CountResult:
    """Count files, directories, symlinks and others below ``top`` and sum their sizes, in parallel.

    ``include``/``exclude``/``gitignore`` select entries as for :func:`scan_tree`; with any of them the
    sums cover the selected entries only (without them they include ``top`` itself, as du's do).
    """
    path = fspath(top)
    check_limits(None, threads)
    if isinstance(path, str) and _backend.is_fsspec(path):
        _backend.check_no_gitignore(gitignore)
        return _backend.fsspec_count(path, Selection(include, exclude))
    errors: list[OSError] = []
    flags = (_native.FOLLOW_LINKS if followlinks else 0) | (_native.GITIGNORE if gitignore else 0)
    job = _native.WalkJob.start(path, _native.WALK_COUNT, flags, None, threads,
                                walk_filter(include, "include"), walk_filter(exclude, "exclude"))
    with job:
        for _ in _columns(job, errors, progress, "counting", keep_open=True):
            pass
        files, dirs, links, others, apparent, disk, _errors = job.totals()
    return CountResult(path, files, dirs, links, others, apparent, disk, errors)
