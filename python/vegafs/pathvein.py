"""pathvein's API under its own names, so that ``from vegafs.pathvein import scan, shuffle_to, ...``
replaces ``from pathvein import ...`` unchanged. ``ScanResult`` here is pathvein's (source, pattern)
pair, :class:`vegafs.StructureMatch`; it is not :class:`vegafs.ScanResult`, the listing of scan_tree."""
from __future__ import annotations

from . import get_backend_info
from ._patterns import PatternMatcher
from ._structure import FileStructurePattern, assess, scan, shuffle, shuffle_to, shuffle_with
from ._structure import StructureMatch as ScanResult
from ._walk import walk_parallel

__all__ = ["FileStructurePattern", "PatternMatcher", "ScanResult", "assess", "get_backend_info", "scan",
           "shuffle", "shuffle_to", "shuffle_with", "walk_parallel"]
