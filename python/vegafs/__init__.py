"""vegafs: fast, safe operations on large file trees, with a NativeAOT engine behind a Pythonic API.

Local paths are served by the native engine (loaded on first use, never at import); fsspec URLs
(``memory://``, ``s3://``, ``file://``...) by fsspec, with the same result types.
"""
from __future__ import annotations

from typing import Any

from ._analyze import analyze
from ._fileops import (
    FileInfo,
    get_file_info,
    iter_file_chunks,
    read_file_bytes,
    read_file_lines,
    read_file_string,
    write_file_atomic,
)
from ._glob import glob, glob_files
from ._hashing import (
    ALGORITHMS,
    DuplicateGroup,
    DuplicateReport,
    HashResults,
    available_algorithms,
    compute_file_hash,
    find_duplicates,
    hash_bytes,
    hash_files,
)
from ._native import WalkProgress
from ._patterns import PatternMatcher
from ._progress import IndexProgress, JobProgress
from ._report import (
    DepthStat,
    DirectoryReport,
    ErrorRecord,
    ExtensionStat,
    FileStat,
    FolderStat,
    NameCount,
    Totals,
)
from ._search import SearchCounts, SearchMatch, SearchResults, SearchSummary, search_counts, search_files, search_text
from ._scan import Columns, CountResult, Entry, Kind, ScanResult, count, scan_tree
from ._structure import (
    Explanation,
    FileStructurePattern,
    PatternError,
    ShuffleItem,
    ShuffleReport,
    StructureMatch,
    assess,
    scan,
    shuffle,
    shuffle_to,
    shuffle_with,
)
from ._vectors import HashingEmbedder, QueryResult, Record, VectorStore
from ._walk import walk, walk_parallel
from .filoma import DirectoryProfiler
from .errors import (
    CancelledError,
    ForkError,
    InvalidArgumentError,
    NativeError,
    NativeLibraryError,
    RegexError,
    VectorStoreError,
    VegaError,
    VegaFileExistsError,
    VegaFileNotFoundError,
    VegaIsADirectoryError,
    VegaNotADirectoryError,
    VegaOSError,
    VegaPermissionError,
)

__version__ = "0.1.0"


def native_info() -> dict[str, Any]:
    """The native library in use: ``library`` (its path), ``build`` (``"avx2"``, ``"baseline"`` or
    ``"custom"`` when ``$VEGAFS_LIBRARY`` names it), ``reason`` (why that build was chosen), ``simd``
    (the vector instruction sets its code runs on this CPU), ``version``, ``abi_version``, ``backend``."""
    from . import _native
    return _native.info()


def get_backend_info(path: Any = None) -> dict[str, Any]:
    """Which backend serves ``path``: the native library for local paths, fsspec for URLs."""
    from . import _backend
    return _backend.backend_info(path)


__all__ = [
    "ALGORITHMS", "DuplicateGroup", "DuplicateReport", "FileInfo", "HashResults", "JobProgress",
    "available_algorithms", "compute_file_hash", "find_duplicates", "get_file_info", "hash_bytes", "hash_files",
    "HashingEmbedder", "IndexProgress", "QueryResult", "Record", "VectorStore", "VectorStoreError", "RegexError", "SearchCounts", "SearchMatch", "SearchResults", "SearchSummary", "search_counts", "search_files",
    "search_text", "iter_file_chunks", "read_file_bytes", "read_file_lines", "read_file_string", "write_file_atomic",
    "CancelledError", "Columns", "CountResult", "DepthStat", "DirectoryProfiler", "DirectoryReport", "Entry",
    "ErrorRecord", "ExtensionStat", "FileStat", "FolderStat", "NameCount", "Totals", "analyze", "Explanation", "FileStructurePattern", "ForkError",
    "InvalidArgumentError", "Kind", "NativeError", "NativeLibraryError", "PatternError", "PatternMatcher",
    "ScanResult", "ShuffleItem", "ShuffleReport", "StructureMatch", "assess", "scan", "shuffle", "shuffle_to",
    "shuffle_with", "VegaError", "VegaFileExistsError",
    "VegaFileNotFoundError", "VegaIsADirectoryError", "VegaNotADirectoryError", "VegaOSError",
    "VegaPermissionError", "WalkProgress", "count", "get_backend_info", "glob", "glob_files", "native_info", "scan_tree",
    "walk", "walk_parallel", "__version__",
]
