"""``walk`` and ``walk_parallel``: os.walk's answer, read by the parallel native walker."""
from __future__ import annotations

import os
from typing import Any, AnyStr, Callable, Iterator, List, Optional, Tuple, Union, cast

from . import _backend, _native
from ._paths import check_limits, fspath
from ._patterns import PatternArg, PatternMatcher, Selection, walk_filter
from .errors import os_error

WalkTuple = Tuple[AnyStr, List[AnyStr], List[AnyStr]]
OnError = Optional[Callable[[OSError], object]]


def walk(top: AnyStr | os.PathLike[AnyStr], topdown: bool = True, onerror: OnError = None, followlinks: bool = False,
         *, max_depth: int | None = None, threads: int | None = None, sort: bool = False,
         include: PatternArg | PatternMatcher | None = None, exclude: PatternArg | PatternMatcher | None = None,
         gitignore: bool = False) -> Iterator[WalkTuple[AnyStr]]:
    """Directory tree generator with the contract of :func:`os.walk`, read in parallel.

    Yields ``(dirpath, dirnames, filenames)`` for every directory, as ``os.walk`` would: the same
    triples, str or bytes as ``top`` is, symlinks to directories listed in ``dirnames`` and only walked
    with ``followlinks=True``, and errors passed to ``onerror`` (an OSError whose ``filename`` is the
    path) instead of raised. With ``topdown=True`` a directory comes before its subdirectories and
    removing names from ``dirnames`` prunes them.

    Differences from os.walk, all deliberate:

    - Order: without ``sort`` the order among siblings follows the parallel read. ``sort=True`` gives
      os.walk's order over sorted names (and buffers the tree, as ``topdown=False`` also does).
    - With ``followlinks=True`` a link back to one of its own ancestors is not followed: ``onerror``
      gets an ELOOP error naming it (os.walk would recurse until the kernel's ELOOP limit).
    - Paths longer than PATH_MAX are read (os.walk reports ENAMETOOLONG).
    - Names added to ``dirnames`` are not walked; pruned subtrees may still be read, just not yielded.

    ``max_depth`` limits the depth of listed entries (1: only ``top``'s own listing). ``threads``
    defaults to one per CPU. ``top`` may also be an fsspec URL (``memory://``, ``s3://``, ``file://``).

    Filtering happens in the native walk (docs/patterns.md has the glob rules). Globs are matched
    against paths relative to ``top``; a leading ``/`` anchors a glob at ``top``.

    - ``include``: only files that a glob matches are listed in ``filenames`` (``dirnames`` are kept, so
      the walk still descends everywhere).
    - ``exclude``: matching files and directories are left out, and excluded directories are not walked.
    - ``gitignore=True``: leave out what ``.gitignore`` (inside a git repository), ``.ignore`` and
      ``.git/info/exclude`` ignore, as fd and ripgrep do, and the ``.git`` directory itself.
    """
    path = fspath(top)
    check_limits(max_depth, threads)
    if onerror is not None and not callable(onerror):
        raise TypeError(f"onerror must be callable or None, not {type(onerror).__name__}")
    triples: Iterator[WalkTuple[Any]]
    if isinstance(path, str) and _backend.is_fsspec(path):
        _backend.check_no_gitignore(gitignore)
        triples = _backend.fsspec_walk(path, topdown, onerror, max_depth, sort, Selection(include, exclude))
    else:
        groups = _native_groups(path, followlinks, max_depth, threads, onerror, walk_filter(include, "include"),
                                walk_filter(exclude, "exclude"), gitignore)
        triples = _stream_topdown(groups, onerror) if topdown and not sort else _buffered(groups, topdown, onerror, sort)
    yield from cast(Iterator[WalkTuple[AnyStr]], triples)


def walk_parallel(path: AnyStr | os.PathLike[AnyStr], *, followlinks: bool = False, threads: int | None = None,
                  sort: bool = False, include: PatternArg | PatternMatcher | None = None,
                  exclude: PatternArg | PatternMatcher | None = None,
                  gitignore: bool = False) -> list[WalkTuple[AnyStr]]:
    """All of :func:`walk`'s triples as a list (pathvein's ``walk_parallel``)."""
    return list(walk(path, followlinks=followlinks, threads=threads, sort=sort, include=include, exclude=exclude,
                     gitignore=gitignore))


# One group per directory: (id, parent id, index in parent's dirnames, errno, dirpath, dirnames, filenames).
_Group = Tuple[int, int, int, int, Any, List[Any], List[Any]]


def _native_groups(path: str | bytes, followlinks: bool, max_depth: int | None, threads: int | None,
                   onerror: OnError, include: _native.GlobSet | None, exclude: _native.GlobSet | None,
                   gitignore: bool) -> Iterator[_Group]:
    flags = (_native.CLASSIFY_LINKS | (_native.FOLLOW_LINKS if followlinks else 0)
             | (_native.GITIGNORE if gitignore else 0))
    try:
        job = _native.WalkJob.start(path, _native.WALK_NAMES, flags, max_depth, threads, include, exclude)
    except OSError as error:
        if onerror is not None:
            onerror(error)
        return
    with job:
        for batch in job.batches():
            parts = batch.strings
            k = 0
            fields = iter(batch.groups)
            for gid, pid, ndirs, count, err, index in zip(fields, fields, fields, fields, fields, fields):
                names = parts[k + 1:k + 1 + count]
                yield gid, pid, index, err, parts[k], names[:ndirs], names[ndirs:]
                k += 1 + count


def _stream_topdown(groups: Iterator[_Group], onerror: OnError) -> Iterator[WalkTuple[Any]]:
    pruned: dict[int, set[Any]] = {}  # group id -> names the caller removed from its dirnames
    skipped: set[int] = set()
    for gid, pid, _index, err, dirpath, dirnames, filenames in groups:
        if pid in skipped or (pid in pruned and os.path.basename(dirpath) in pruned[pid]):
            skipped.add(gid)
            continue
        if err:
            if onerror is not None:
                onerror(os_error(err, dirpath))
            continue
        listed = dirnames[:]
        yield dirpath, dirnames, filenames
        if dirnames != listed:
            pruned[gid] = set(listed).difference(dirnames)


def _buffered(groups: Iterator[_Group], topdown: bool, onerror: OnError, sort: bool) -> Iterator[WalkTuple[Any]]:
    """os.walk's exact traversal (pre- or post-order) over a tree read in full first."""
    nodes: dict[int, _Group] = {}
    children: dict[int, list[int]] = {}
    for group in groups:
        nodes[group[0]] = group
        children.setdefault(group[1], []).append(group[0])
    if 0 not in nodes:
        return

    def subdirs(gid: int, listed: list[Any], dirnames: list[Any]) -> list[int]:
        by_name = {listed[nodes[c][2]]: c for c in children.get(gid, ())}
        return [by_name[name] for name in dirnames if name in by_name]

    # Each stack item is (group id, None) to visit, or (group id, triple) to yield after its children.
    stack: list[tuple[int, WalkTuple[Any] | None]] = [(0, None)]
    while stack:
        gid, pending = stack.pop()
        if pending is not None:
            yield pending
            continue
        _, _, _, err, dirpath, dirnames, filenames = nodes.pop(gid)
        if err:
            if onerror is not None:
                onerror(os_error(err, dirpath))
            continue
        listed = dirnames[:]
        if sort:
            dirnames.sort()
            filenames.sort()
        if topdown:
            yield dirpath, dirnames, filenames
        else:
            stack.append((gid, (dirpath, dirnames, filenames)))
        stack.extend((c, None) for c in reversed(subdirs(gid, listed, dirnames)))
