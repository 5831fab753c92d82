"""``DirectoryReport``: what :func:`vegafs.analyze` returns, and its conversions.

Both engines (native, and Python for fsspec URLs) produce the same raw tables (vega.h, VEGA_TABLE_*);
:func:`build_report` turns them into typed rows. Paths are str or bytes as the analysed path was;
extensions and folder names are always str (decoded like ``os.fsdecode``).
"""
from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Iterator, Optional, Union

from ._native import RawTable

NO_EXTENSION = "<no extension>"

TOTALS_FIELDS = ("files", "directories", "symlinks", "others", "apparent_bytes", "disk_bytes", "file_bytes",
                 "empty_files", "empty_folders", "max_depth", "vanished", "errors")

PathText = Union[str, bytes]


@dataclass(frozen=True)
class Totals:
    """Counts of the whole tree. ``files`` are regular files, ``directories`` exclude the root;
    ``apparent_bytes`` and ``disk_bytes`` are ``du -sb`` and ``du -s -B1`` (the root included, hard
    links once; ``disk_bytes`` is None where the backend cannot tell); ``file_bytes`` sums regular files
    only. ``max_depth`` is the depth of the deepest entry (the root's entries are at depth 1).
    ``vanished`` counts entries deleted between being listed and being examined."""

    files: int
    directories: int
    symlinks: int
    others: int
    apparent_bytes: int
    disk_bytes: Optional[int]
    file_bytes: int
    empty_files: int
    empty_folders: int
    max_depth: int
    vanished: int
    errors: int

    @property
    def folders(self) -> int:
        """Directories including the root, as filoma counts them."""
        return self.directories + 1

    @property
    def entries(self) -> int:
        return self.files + self.directories + self.symlinks + self.others


@dataclass(frozen=True)
class ExtensionStat:
    """Regular files per extension, case-folded (``""`` for files without one, shown as <no extension>)."""

    extension: str
    files: int
    bytes: int
    disk_bytes: Optional[int]

    @property
    def label(self) -> str:
        return self.extension or NO_EXTENSION


@dataclass(frozen=True)
class FileStat:
    """A regular file in a ranked table (largest, smallest, newest, oldest)."""

    path: PathText
    size: int
    mtime_ns: int

    @property
    def mtime(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.mtime_ns / 1e9, tz=datetime.timezone.utc)


@dataclass(frozen=True)
class FolderStat:
    """A directory: regular files directly inside it, and its whole subtree's (itself included, du-style)."""

    path: PathText
    files: int
    subtree_files: int
    subtree_bytes: int
    subtree_disk_bytes: Optional[int]


@dataclass(frozen=True)
class DepthStat:
    """Directories and regular files at one depth (the root is the one directory at depth 0)."""

    depth: int
    folders: int
    files: int
    file_bytes: int


@dataclass(frozen=True)
class NameCount:
    name: str
    count: int


@dataclass(frozen=True)
class ErrorRecord:
    """Something that could not be read: an unreadable directory, a failed lstat, a symlink loop."""

    path: PathText
    errno: int
    message: str

    def to_exception(self) -> OSError:
        from .errors import os_error
        return os_error(self.errno, self.path, self.message)


@dataclass(frozen=True, eq=False)
class DirectoryReport(Mapping[str, Any]):
    """The analysis of one directory tree.

    Typed tables as attributes; also a read-only mapping with filoma's keys (``report["summary"]
    ["total_files"]``, ``report["file_extensions"]``, ...), so code written for filoma's dict works.
    ``to_dict()``/``to_json()`` give everything, ``to_pandas()`` DataFrames, ``print_report()`` rich
    tables, and in Jupyter the report displays as HTML tables.
    """

    path: PathText
    engine: str
    top_n: int
    totals: Totals
    extensions: list[ExtensionStat]
    largest: list[FileStat]
    smallest: list[FileStat]
    newest: list[FileStat]
    oldest: list[FileStat]
    empty_folders: list[PathText]
    depths: list[DepthStat]
    folders_by_files: list[FolderStat]
    folders_by_size: list[FolderStat]
    folder_names: list[NameCount]
    errors: list[ErrorRecord]
    elapsed_seconds: float = field(default=0.0)

    # The filoma-compatible mapping view.
    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __repr__(self) -> str:
        t = self.totals
        return (f"<DirectoryReport {os.fsdecode(self.path)!r}: {t.files:,} files, {t.folders:,} folders, "
                f"{t.apparent_bytes:,} bytes, {t.errors} errors, {self.elapsed_seconds:.2f}s ({self.engine})>")

    @cached_property
    def _dict(self) -> dict[str, Any]:
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready values (paths as str: undecodable bytes become lone surrogates, as
        ``os.fsdecode`` makes them). filoma's keys first, then the full tables."""
        t = self.totals

        def text(p: PathText) -> str:
            return os.fsdecode(p)

        def rows(items: list[Any]) -> list[dict[str, Any]]:
            return [{k: text(v) if k == "path" else v for k, v in asdict(item).items()} for item in items]

        items = t.files + t.folders
        return {
            "root_path": text(self.path),
            "summary": {**filoma_summary(t, t.max_depth), **asdict(t)},
            "file_extensions": {e.label: e.files for e in self.extensions},
            "common_folder_names": {n.name: n.count for n in self.folder_names},
            "empty_folders": [text(p) for p in self.empty_folders],
            "top_folders_by_file_count": [(text(f.path), f.files) for f in self.folders_by_files],
            "depth_distribution": {d.depth: d.folders for d in self.depths},
            "extensions": [asdict(e) for e in self.extensions],
            "largest_files": rows(self.largest),
            "smallest_files": rows(self.smallest),
            "newest_files": rows(self.newest),
            "oldest_files": rows(self.oldest),
            "top_folders_by_files": rows(self.folders_by_files),
            "top_folders_by_size": rows(self.folders_by_size),
            "depths": [asdict(d) for d in self.depths],
            "errors": rows(self.errors),
            "timing": {
                "elapsed_seconds": self.elapsed_seconds,
                "implementation": self.engine,
                "items_per_second": items / self.elapsed_seconds if self.elapsed_seconds > 0 else 0,
            },
        }

    def to_json(self, indent: Optional[int] = 2) -> str:
        """:meth:`to_dict` as JSON text (ASCII: undecodable path bytes appear as ``\\udcXX`` escapes)."""
        return json.dumps(self.to_dict(), indent=indent)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every table as a list of row dicts, keyed by the names :meth:`to_pandas` uses."""
        def rows(items: list[Any]) -> list[dict[str, Any]]:
            return [asdict(item) for item in items]
        return {
            "totals": [asdict(self.totals)],
            "extensions": rows(self.extensions),
            "largest": rows(self.largest),
            "smallest": rows(self.smallest),
            "newest": rows(self.newest),
            "oldest": rows(self.oldest),
            "empty_folders": [{"path": p} for p in self.empty_folders],
            "depths": rows(self.depths),
            "folders_by_files": rows(self.folders_by_files),
            "folders_by_size": rows(self.folders_by_size),
            "folder_names": rows(self.folder_names),
            "errors": rows(self.errors),
        }

    def to_pandas(self, table: Optional[str] = None) -> Any:
        """A dict of pandas DataFrames, one per table (see :meth:`tables`), or the DataFrame of ``table``."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_pandas() needs pandas: pip install 'vegafs[pandas]'") from exc
        tables = self.tables()
        if table is not None:
            if table not in tables:
                raise KeyError(f"no table {table!r}; the tables are {', '.join(tables)}")
            return pd.DataFrame(tables[table])
        return {name: pd.DataFrame(rows) for name, rows in tables.items()}

    def to_text(self, width: int = 100) -> str:
        """A compact plain-text summary (what ``vegafs summarize`` prints without rich)."""
        from ._render import text_report
        return text_report(self, width)

    def print_report(self, console: Any = None) -> None:
        """Prints the report as rich tables (plain text if rich is not installed)."""
        from ._render import print_report
        print_report(self, console)

    def _repr_html_(self) -> str:
        from ._render import html_report
        return html_report(self)


def filoma_summary(t: Totals, max_depth: int) -> dict[str, Any]:
    """filoma's ``summary`` keys for these totals, with ``max_depth`` as the caller counts it."""
    return {
        "total_files": t.files,
        "total_folders": t.folders,
        "total_size_bytes": t.file_bytes,
        "total_size_mb": round(t.file_bytes / (1024 * 1024), 2),
        "avg_files_per_folder": round(t.files / t.folders, 2),
        "max_depth": max_depth,
        "empty_folder_count": t.empty_folders,
    }


def build_report(path: PathText, engine: str, top_n: int, tables: list[RawTable], has_disk: bool,
                 elapsed: float) -> DirectoryReport:
    """Typed rows from the raw tables of either engine (VEGA_TABLE_* order)."""
    as_bytes = isinstance(path, bytes)

    def decode(raw: bytes) -> PathText:
        return raw if as_bytes else os.fsdecode(raw)

    def texts(k: int) -> list[bytes]:
        return tables[k].texts or []

    def files(k: int) -> list[FileStat]:
        return [FileStat(decode(p), size, mtime) for p, (size, mtime) in zip(texts(k), tables[k].rows())]

    def folders(k: int) -> list[FolderStat]:
        return [FolderStat(decode(p), f, sf, sb, sd if has_disk else None)
                for p, (f, sf, sb, sd) in zip(texts(k), tables[k].rows())]

    values: dict[str, Any] = dict(zip(TOTALS_FIELDS, tables[0].values))
    if not has_disk:
        values["disk_bytes"] = None
    totals = Totals(**values)

    folded: dict[str, list[int]] = {}
    for raw, (count, size, disk) in zip(texts(1), tables[1].rows()):
        row = folded.setdefault(os.fsdecode(raw).lower(), [0, 0, 0])
        row[0] += count
        row[1] += size
        row[2] += disk
    extensions = [ExtensionStat(ext, c, b, d if has_disk else None)
                  for ext, (c, b, d) in sorted(folded.items(), key=lambda item: (-item[1][0], item[0]))]

    return DirectoryReport(
        path=path, engine=engine, top_n=top_n, totals=totals, extensions=extensions,
        largest=files(2), smallest=files(3), newest=files(4), oldest=files(5),
        empty_folders=[decode(p) for p in texts(6)],
        depths=[DepthStat(*row) for row in tables[7].rows()],
        folders_by_files=folders(8), folders_by_size=folders(9),
        folder_names=[NameCount(os.fsdecode(n), c) for n, (c,) in zip(texts(10), tables[10].rows())],
        errors=[ErrorRecord(decode(p), e, os.strerror(e)) for p, (e,) in zip(texts(11), tables[11].rows())],
        elapsed_seconds=elapsed,
    )
