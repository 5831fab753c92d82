"""``PatternMatcher``: a glob set compiled once in the native engine and matched many times.

The glob syntax and matching rules are in docs/patterns.md. In short: ``*``, ``?`` and ``[...]`` never
match ``/``; ``**`` as a whole path segment matches across directories; ``{a,b}`` alternates (nested);
``\\`` escapes; a glob without ``/`` matches a path's last component, a glob with ``/`` the whole path;
a trailing ``/`` matches directories only (a path ending in ``/`` is a directory).
"""
from __future__ import annotations

import itertools
import os
from typing import Any, Iterable, List, Sequence, TypeVar, Union

from . import _native
from ._paths import ENCODING, ENCODE_ERRORS

PathT = TypeVar("PathT", str, bytes, "os.PathLike[str]", "os.PathLike[bytes]")
PatternArg = Union[str, bytes, Iterable[Union[str, bytes]]]


def pattern_list(patterns: PatternArg, argument: str = "patterns") -> list[bytes]:
    """One glob or an iterable of globs, fsencoded and checked: never empty, no NUL."""
    items: list[Any] = [patterns] if isinstance(patterns, (str, bytes, os.PathLike)) else list(patterns)
    if not items:
        raise ValueError(f"{argument} must name at least one glob, not an empty list")
    encoded = []
    for item in items:
        if not isinstance(item, (str, bytes)):
            raise TypeError(f"{argument} must be str or bytes globs, not {type(item).__name__}")
        raw = os.fsencode(item)
        if b"\0" in raw:
            position = os.fsdecode(raw).index("\0")
            raise ValueError(f"invalid glob {item!r}: NUL character at position {position}")
        if not raw:
            raise ValueError(f"invalid glob {item!r}: empty pattern at position 0")
        encoded.append(raw)
    return encoded


class PatternMatcher:
    """A set of globs compiled once natively, for matching many paths.

    >>> m = PatternMatcher(["*.py", "src/**/*.rs", "docs/"])
    >>> m.matches("pkg/mod.py"), m.which("src/a/b.rs"), m.filter(["a.py", "b.txt"])
    (True, [1], ['a.py'])

    ``case_sensitive=False`` folds case the way Python's ``re.IGNORECASE`` does. Invalid globs raise
    ValueError naming the glob and the position.
    """

    def __init__(self, patterns: PatternArg, *, case_sensitive: bool = True) -> None:
        encoded = pattern_list(patterns)
        self.patterns: tuple[str, ...] = tuple(os.fsdecode(p) for p in encoded)
        self.case_sensitive = case_sensitive
        self._set = _native.GlobSet(encoded, 0 if case_sensitive else _native.GLOB_IGNORE_CASE)

    def __repr__(self) -> str:
        flag = "" if self.case_sensitive else ", case_sensitive=False"
        return f"PatternMatcher({list(self.patterns)!r}{flag})"

    def __len__(self) -> int:
        return len(self.patterns)

    def matches(self, path: str | bytes | os.PathLike[Any]) -> bool:
        """True if any glob matches ``path``."""
        return self._set.match(_encode(path), 1)[2] == 1

    def which(self, path: str | bytes | os.PathLike[Any]) -> list[int]:
        """The indices (into :attr:`patterns`) of every glob that matches ``path``, ascending."""
        return self._set.which(_encode(path))

    def filter(self, paths: Iterable[PathT]) -> List[PathT]:
        """The paths that some glob matches, in order, as the same objects (str, bytes or PathLike).
        The whole list is matched in one native call (in parallel for long lists)."""
        items: Sequence[Any] = paths if isinstance(paths, (list, tuple)) else list(paths)
        if not items:
            return []
        matched, indices, found = self._set.match(_join(items), len(items))
        if found * 4 < len(items):  # few matches: fetching them by index beats scanning every flag
            return list(map(items.__getitem__, indices()))
        return list(itertools.compress(items, matched))


def _encode(path: str | bytes | os.PathLike[Any]) -> bytes:
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError("embedded null byte")
    return raw


def _join(items: Sequence[Any]) -> bytes:
    """All paths in one buffer, separated by NULs: one C-level join for a list of only str or only bytes,
    a per-item conversion otherwise. (A NUL inside a path is caught natively: one separator too many.)"""
    try:
        if isinstance(items[0], str):
            return "\0".join(items).encode(ENCODING, ENCODE_ERRORS)
        return b"\0".join(items)
    except TypeError:
        return b"\0".join(_encode(item) for item in items)


def walk_filter(patterns: PatternArg | PatternMatcher | None, argument: str) -> _native.GlobSet | None:
    """A walk's include= or exclude=: globs matched against paths relative to the walk's root, where a
    leading '/' anchors a glob at the root. A PatternMatcher is used as it is."""
    if patterns is None:
        return None
    if isinstance(patterns, PatternMatcher):
        return patterns._set
    return _native.GlobSet(pattern_list(patterns, argument), _native.GLOB_ANCHOR_SLASH)


class Selection:
    """include=/exclude= applied in Python, for the fsspec backend (the native walk applies them itself).
    Same rules as the native walk: exclude drops entries and prunes directories; include selects
    entries, while directories are still descended (and, for walk, still listed)."""

    def __init__(self, include: PatternArg | PatternMatcher | None, exclude: PatternArg | PatternMatcher | None) -> None:
        self.include = walk_filter(include, "include")
        self.exclude = walk_filter(exclude, "exclude")

    def __bool__(self) -> bool:
        return self.include is not None or self.exclude is not None

    def decide(self, relative_dir: str, names: Sequence[str], is_dir: Sequence[bool]) -> tuple[list[bool], list[bool]]:
        """For the entries ``names`` of the directory ``relative_dir`` ("" or ending in "/"): whether each
        is selected, and whether each is kept at all (not excluded)."""
        if not names:
            return [], []
        paths = [relative_dir + name + ("/" if d else "") for name, d in zip(names, is_dir)]
        blob = _join(paths)
        kept = [not m for m in self.exclude.match(blob, len(paths))[0]] if self.exclude else [True] * len(paths)
        selected = [bool(m) for m in self.include.match(blob, len(paths))[0]] if self.include else [True] * len(paths)
        return [k and s for k, s in zip(kept, selected)], kept
