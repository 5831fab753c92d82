"""``glob`` and Vespera's ``glob_files``: matching paths from one native walk."""
from __future__ import annotations

import itertools
import os
from typing import Any, AnyStr, List

from ._patterns import PatternArg, PatternMatcher
from ._scan import Filter, scan_tree

_FILES_ONLY = bytes(1 if code == 1 else 0 for code in range(256))  # VEGA_KIND_FILE -> 1


def glob(root: AnyStr | os.PathLike[AnyStr], patterns: PatternArg | PatternMatcher, exclude: Filter = None, *,
         gitignore: bool = False, followlinks: bool = False, max_depth: int | None = None,
         threads: int | None = None, files_only: bool = False) -> List[AnyStr]:
    """Every path below ``root`` whose path relative to ``root`` one of ``patterns`` matches.

    The tree is read once, in parallel, and matched natively. As with fd (not :func:`glob.glob`), a glob
    without ``/`` matches at any depth (``"*.py"`` finds every Python file), a glob with ``/`` is
    anchored at ``root`` (``"src/*.py"``, ``"**/test_*.py"``); docs/patterns.md has the rules.
    ``exclude`` leaves out matching entries and does not descend into matching directories.
    Directories that cannot be read are skipped, as glob.glob skips them. Paths are str or bytes as
    ``root`` is; order follows the parallel walk (sort the result for a stable order).
    """
    result = scan_tree(root, include=patterns, exclude=exclude, gitignore=gitignore, followlinks=followlinks,
                       max_depth=max_depth, threads=threads)
    paths: List[Any] = result.paths
    if files_only:
        paths = list(itertools.compress(paths, result.kind_codes.translate(_FILES_ONLY)))
    return paths


def glob_files(root: str | os.PathLike[str], patterns: PatternArg, exclude: Filter = None) -> list[str]:
    """Vespera's ``glob_files``: the regular files below ``root`` that match ``patterns`` and not
    ``exclude``, sorted."""
    return sorted(glob(os.fspath(root), patterns, exclude, files_only=True))
