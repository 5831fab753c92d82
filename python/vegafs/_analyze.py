"""Directory analysis: :func:`analyze` (filoma's ``DirectoryProfiler`` is in :mod:`vegafs.filoma`).

Local trees are analysed by the native engine in one parallel pass (vega_analyze_start): no Python
runs per file. fsspec URLs, and ``engine="python"``, use :class:`_PythonAnalysis`, which computes the
same tables with the same rules in Python (one ``ls``/``scandir`` per directory).
"""
from __future__ import annotations

import errno
import heapq
import os
import stat as st
import time
from collections import Counter
from typing import Any, Callable, Iterator, Literal, Optional

from . import _backend, _native
from ._native import RawTable, WalkProgress
from ._paths import StrOrBytesPath, check_limits, fspath
from ._patterns import Selection, walk_filter
from ._progress import ProgressArg, reporter
from ._report import DirectoryReport, build_report
from ._scan import Filter
from .errors import VegaNotADirectoryError

Engine = Literal["native", "python"]


def analyze(path: StrOrBytesPath, *, max_depth: Optional[int] = None, top_n: int = 10, follow_links: bool = False,
            include: Filter = None, exclude: Filter = None, gitignore: bool = False, threads: Optional[int] = None,
            progress: ProgressArg = None, engine: Engine = "native") -> DirectoryReport:
    """Analyse the directory tree at ``path`` and return a :class:`DirectoryReport`.

    One parallel native pass computes totals (files, folders, symlinks, others; apparent and on-disk
    bytes with hard links counted once, as ``du -sb`` and ``du -s`` count them), extensions by count
    and bytes, the ``top_n`` largest, smallest, newest and oldest files, empty folders, the depth
    distribution, the folders with most files and the largest folders (each folder's whole subtree,
    du-style), the most common folder names, and every error as a record (never raised, except for
    ``path`` itself).

    ``path`` must be a directory (a file raises NotADirectoryError) or an fsspec URL. ``max_depth``
    limits the depth of entries examined (1: only ``path``'s own entries). ``include`` selects files
    (every directory not excluded is still part of the report); ``exclude`` leaves out matches and
    does not descend into them; ``gitignore=True`` leaves out what git would ignore. ``progress``:
    True, False, a callable taking :class:`WalkProgress`, or None to show progress when stderr is a
    terminal or in Jupyter. Ctrl-C stops the analysis within ~50 ms. ``engine="python"`` computes the
    same report without the native library (slower; used for fsspec URLs).
    """
    root = fspath(path)
    check_limits(max_depth, threads)
    if not isinstance(top_n, int) or not 0 <= top_n <= 1_000_000:
        raise ValueError(f"top_n must be an integer from 0 to 1000000, not {top_n!r}")
    if engine not in ("native", "python"):
        raise ValueError(f"engine must be 'native' or 'python', not {engine!r}")
    started = time.perf_counter()
    if isinstance(root, str) and _backend.is_fsspec(root):
        _backend.check_no_gitignore(gitignore)
        fs, inner = _backend.resolve(root)
        tables = _PythonAnalysis(top_n, Selection(include, exclude), max_depth, progress).fsspec(fs, inner, root)
        name = f"python (fsspec {fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]})"
        return build_report(root, name, top_n, tables, False, time.perf_counter() - started)
    if engine == "python":
        if gitignore:
            raise ValueError("gitignore=True needs the native engine")
        tables = _PythonAnalysis(top_n, Selection(include, exclude), max_depth, progress).local(root, follow_links)
        return build_report(root, "python", top_n, tables, True, time.perf_counter() - started)
    flags = (_native.FOLLOW_LINKS if follow_links else 0) | (_native.GITIGNORE if gitignore else 0)
    job = _native.WalkJob.start(root, _native.WALK_ANALYZE, flags, max_depth, threads,
                                walk_filter(include, "include"), walk_filter(exclude, "exclude"), top_n)
    callback, close = reporter(progress, "analyzing")
    try:
        with job:
            for _ in job.batches(callback):
                pass  # an analysis yields no batches: this loop waits, reports progress and sees Ctrl-C
            tables = job.report()
    finally:
        close()
    workers = threads or len(os.sched_getaffinity(0))
    name = "native (sequential)" if workers == 1 else f"native (parallel, {workers} threads)"
    return build_report(root, name, top_n, tables, True, time.perf_counter() - started)


class _PythonAnalysis:
    """The report's tables computed in Python, by the rules of the native engine (see vega.h,
    VEGA_TABLE_*): used for fsspec URLs and ``engine="python"``."""

    def __init__(self, top_n: int, selection: Selection, max_depth: Optional[int], progress: ProgressArg) -> None:
        self.top_n = top_n
        self.selection = selection
        self.max_depth = max_depth
        self.progress, self._close = reporter(progress, "analyzing")
        self.totals = Counter[str]()
        self.max_seen = 0
        self.extensions: dict[bytes, list[int]] = {}
        self.names = Counter[bytes]()
        self.files: list[tuple[int, int, bytes]] = []  # size, mtime_ns, path
        self.folders: list[list[Any]] = []  # id, parent id, path, depth, entries, files, bytes, disk, readable
        self.depths: dict[int, list[int]] = {0: [1, 0, 0]}
        self.errors: list[tuple[bytes, int]] = []
        self.links: set[tuple[int, int]] = set()
        self.read = self.entries = self.bytes = 0

    def local(self, root: str | bytes, follow_links: bool) -> list[RawTable]:
        """A local tree through os.scandir and lstat (bytes paths, so every name is exact)."""
        top = os.fsencode(root)
        info = os.stat(top)  # raises for a missing root, as the native engine does
        if not st.S_ISDIR(info.st_mode):
            raise VegaNotADirectoryError(20, "Not a directory", root)

        def lister(path: bytes) -> Iterator[tuple[bytes, Optional[os.stat_result], bool]]:
            with os.scandir(path) as entries:
                for entry in entries:
                    try:
                        lstat: Optional[os.stat_result] = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        lstat = None
                    via_link = False
                    if follow_links and lstat is not None and st.S_ISLNK(lstat.st_mode):
                        via_link = entry.is_dir(follow_symlinks=True)
                    yield entry.name, lstat, via_link

        return self._run(top, info.st_size, info.st_blocks * 512, lister, follow_links)

    def fsspec(self, fs: Any, root: str, url: str) -> list[RawTable]:
        """An fsspec tree through ``fs.ls(detail=True)``; paths in the report are URLs."""
        _backend.check_dir(fs, root, url)
        prefix = url.rstrip("/").encode()
        inner = root.rstrip("/")

        def lister(path: bytes) -> Iterator[tuple[bytes, Optional[os.stat_result], bool]]:
            own = inner + path[len(prefix):].decode()
            for item in fs.ls(own, detail=True):
                full = str(item["name"]).rstrip("/")
                if full == own.rstrip("/"):
                    continue
                yield full.rsplit("/", 1)[-1].encode(), _fsspec_stat(item), False

        return self._run(prefix, 0, 0, lister, False)

    def _run(self, root: bytes, root_bytes: int, root_disk: int,
             lister: Callable[[bytes], Iterator[tuple[bytes, Optional[os.stat_result], bool]]],
             follow_links: bool) -> list[RawTable]:
        try:
            # (path, id, parent id, depth, own bytes, own disk bytes, (dev, ino) of ancestors when following links)
            stack: list[tuple[bytes, int, int, int, int, int, frozenset[tuple[int, int]]]] = [
                (root, 0, -1, 0, root_bytes, root_disk, frozenset())]
            next_id = 1
            while stack:
                path, ident, parent, depth, own, own_disk, ancestors = stack.pop()
                prefix = path if path.endswith(b"/") else path + b"/"
                try:
                    if follow_links:
                        here = os.stat(path)
                        ancestors = ancestors | {(here.st_dev, here.st_ino)}
                    listing = list(lister(path))
                except OSError as error:
                    if error.errno == errno.ENOENT and ident != 0:
                        self.totals["vanished"] += 1
                    else:
                        self.errors.append((path, error.errno or 0))
                    self.folders.append([ident, parent, path, depth, 0, 0, own, own_disk, False])
                    continue
                files = size_here = disk_here = 0
                children = []
                relative = os.fsdecode(prefix[len(root if root.endswith(b"/") else root + b"/"):])
                names = [os.fsdecode(name) for name, _, _ in listing]
                is_dir = [lstat is not None and (st.S_ISDIR(lstat.st_mode) or via) for _, lstat, via in listing]
                chosen, kept = (self.selection.decide(relative, names, is_dir) if self.selection
                                else ([True] * len(names), [True] * len(names)))
                for (name, lstat, via_link), directory, selected, keep in zip(listing, is_dir, chosen, kept):
                    if lstat is None:
                        self.totals["vanished"] += 1
                        continue
                    if not keep or (not selected and not directory):
                        continue
                    entry_depth = depth + 1
                    self.max_seen = max(self.max_seen, entry_depth)
                    mode = lstat.st_mode
                    first = st.S_ISDIR(mode) or lstat.st_nlink <= 1 or self._first_link(lstat)
                    size = lstat.st_size if first else 0
                    disk = getattr(lstat, "st_blocks", 0) * 512 if first else 0
                    self.totals["apparent"] += size
                    self.totals["disk"] += disk
                    descend = directory and (self.max_depth is None or entry_depth < self.max_depth)
                    if st.S_ISDIR(mode):
                        self.totals["directories"] += 1
                        self.names[name] += 1
                        self._at_depth(entry_depth, 1, 0, 0)
                        if descend:
                            children.append((prefix + name, next_id, ident, entry_depth, size, disk, ancestors))
                            next_id += 1
                            continue
                    elif st.S_ISREG(mode):
                        self.totals["files"] += 1
                        self.totals["file_bytes"] += size
                        self.totals["empty_files"] += lstat.st_size == 0
                        files += 1
                        row = self.extensions.setdefault(_extension(name), [0, 0, 0])
                        row[0] += 1
                        row[1] += size
                        row[2] += disk
                        self._at_depth(entry_depth, 0, 1, size)
                        self.files.append((lstat.st_size, lstat.st_mtime_ns, prefix + name))
                    elif st.S_ISLNK(mode):
                        self.totals["symlinks"] += 1
                        if descend and follow_links:
                            target = os.stat(prefix + name)
                            if (target.st_dev, target.st_ino) in ancestors:
                                self.errors.append((prefix + name, errno.ELOOP))
                            else:
                                children.append((prefix + name, next_id, ident, entry_depth, 0, 0, ancestors))
                                next_id += 1
                    else:
                        self.totals["others"] += 1
                    size_here += size
                    disk_here += disk
                self.folders.append([ident, parent, path, depth, len(listing), files, size_here + own,
                                     disk_here + own_disk, True])
                stack.extend(reversed(children))
                self.read += 1
                self.entries += len(listing)
                self.bytes += size_here
                if self.progress is not None:
                    self.progress(WalkProgress(self.read, self.entries, self.bytes, len(self.errors)))
            return self._tables(root_bytes, root_disk)
        finally:
            self._close()

    def _first_link(self, lstat: os.stat_result) -> bool:
        key = (lstat.st_dev, lstat.st_ino)
        if key in self.links:
            return False
        self.links.add(key)
        return True

    def _at_depth(self, depth: int, folders: int, files: int, file_bytes: int) -> None:
        row = self.depths.setdefault(depth, [0, 0, 0])
        row[0] += folders
        row[1] += files
        row[2] += file_bytes

    def _tables(self, root_bytes: int, root_disk: int) -> list[RawTable]:
        n = self.top_n
        t = self.totals
        count = max(f[0] for f in self.folders) + 1
        subtree = [[0, 0, 0] for _ in range(count)]
        by_id: list[Optional[list[Any]]] = [None] * count
        for record in self.folders:
            by_id[record[0]] = record
        for ident in range(count - 1, -1, -1):
            folder = by_id[ident]
            if folder is None:
                continue
            own = subtree[ident]
            own[0] += folder[5]
            own[1] += folder[6]
            own[2] += folder[7]
            if folder[1] >= 0:
                parent = subtree[folder[1]]
                parent[0] += own[0]
                parent[1] += own[1]
                parent[2] += own[2]
        empty = sorted((f[2], f[3]) for f in self.folders if f[8] and f[4] == 0)

        def folder_rows(key: Callable[[list[Any]], int]) -> RawTable:
            best = heapq.nsmallest(n, self.folders, key=lambda f: (-key(f), f[2]))
            return _table(4, [[f[5], *subtree[f[0]]] for f in best], [f[2] for f in best])

        def file_rows(key: Callable[[tuple[int, int, bytes]], int]) -> RawTable:
            best = heapq.nsmallest(n, self.files, key=lambda f: (key(f), f[2]))
            return _table(2, [[size, mtime] for size, mtime, _ in best], [p for _, _, p in best])

        extensions = sorted(self.extensions.items(), key=lambda item: (-item[1][0], item[0]))
        names = heapq.nsmallest(n, self.names.items(), key=lambda item: (-item[1], item[0]))
        errors = sorted(self.errors)
        max_depth = self.max_seen
        totals = [t["files"], t["directories"], t["symlinks"], t["others"], t["apparent"] + root_bytes,
                  t["disk"] + root_disk, t["file_bytes"], t["empty_files"], len(empty), max_depth,
                  t["vanished"], len(errors)]
        return [
            _table(12, [totals], None),
            _table(3, [row for _, row in extensions], [ext for ext, _ in extensions]),
            file_rows(lambda f: -f[0]),
            file_rows(lambda f: f[0]),
            file_rows(lambda f: -f[1]),
            file_rows(lambda f: f[1]),
            _table(1, [[depth] for _, depth in empty], [p for p, _ in empty]),
            _table(4, [[d, *self.depths.get(d, [0, 0, 0])] for d in range(max_depth + 1)], None),
            folder_rows(lambda f: int(f[5])),
            folder_rows(lambda f: int(subtree[f[0]][1])),
            _table(1, [[c] for _, c in names], [name for name, _ in names]),
            _table(1, [[e] for _, e in errors], [p for p, _ in errors]),
        ]


def _table(columns: int, rows: list[list[int]], texts: Optional[list[bytes]]) -> RawTable:
    """A table built in Python; its kind is not read (analysis tables are identified by position)."""
    return RawTable(-1, columns, [v for row in rows for v in row], texts)


def _extension(name: bytes) -> bytes:
    """PurePath.suffix's rule, on bytes: from the last dot, unless it is the first or last character."""
    dot = name.rfind(b".")
    return name[dot:] if 0 < dot < len(name) - 1 else b""


def _fsspec_stat(item: dict[str, Any]) -> os.stat_result:
    """An lstat-like result for an fsspec listing entry (no inodes or blocks: hard links cannot be told)."""
    kind = item.get("type")
    mode = st.S_IFDIR if kind == "directory" else st.S_IFLNK if kind == "link" else (
        st.S_IFREG if kind == "file" else 0)
    size, mtime_ns = _backend.stat_row(item)[:2]
    return os.stat_result((mode, 0, 0, 1, 0, 0, size, 0, mtime_ns // 10**9, 0), {"st_mtime_ns": mtime_ns, "st_blocks": 0})
