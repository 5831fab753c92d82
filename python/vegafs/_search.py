"""Text search over files, ripgrep-style: native and parallel for local paths, fsspec for URLs.

Search works on bytes. A file's text is UTF-8 as far as it is valid; any other byte matches itself
(as the char U+DC00 + byte in a str pattern, Python's "surrogateescape"). Lines come back as bytes
without their newline; spans and offsets are byte offsets. The regex dialect is in docs/search.md.
"""
from __future__ import annotations

import errno as codes
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence, Union

from . import _backend, _native
from ._hashing import Filter, _walk_flags
from ._patterns import Selection, walk_filter
from ._paths import StrOrBytesPath, check_limits, fspath, is_url
from ._progress import JobProgressArg, job_reporter
from .errors import os_error

Patterns = Union[str, bytes, Sequence[Union[str, bytes]]]
PathsOrRoot = Union[StrOrBytesPath, Iterable[StrOrBytesPath]]


class SearchMatch(NamedTuple):
    """One line of a search result: a matching line, or (``is_context``) a line around one. A named
    tuple: cheap to make by the hundred thousand, immutable, and unpackable."""

    path: Any
    """The file, as str or bytes like the path given (URLs as str)."""
    line_number: int
    """1 for the first line."""
    offset: int
    """Byte offset of the line's first byte in the file."""
    line: bytes
    """The line's bytes, without its newline (a "\\r" before it stays)."""
    spans: tuple[tuple[int, int], ...] = ()
    """(start, end) byte offsets of every match in ``line``; empty for a context line."""
    is_context: bool = False

    @property
    def text(self) -> str:
        """The line decoded as UTF-8, invalid bytes replaced by U+FFFD (for display)."""
        return self.line.decode("utf-8", "replace")

    @property
    def matches(self) -> list[bytes]:
        """The matched bytes, one per span."""
        return [self.line[start:end] for start, end in self.spans]

    def to_dict(self) -> dict[str, Any]:
        return {"path": _text(self.path), "line_number": self.line_number, "offset": self.offset,
                "line": self.text, "spans": [list(s) for s in self.spans],
                "type": "context" if self.is_context else "match"}


@dataclass
class SearchSummary:
    """What a search did besides matching: files skipped and files that could not be read."""

    files_matched: int = 0
    lines_matched: int = 0
    errors: list[OSError] = field(default_factory=list)
    """One OSError per file (or directory) that could not be read, naming it."""
    binary_files: list[Any] = field(default_factory=list)
    """Files skipped because they hold a NUL byte (``binary=True`` searches them)."""
    too_large: list[Any] = field(default_factory=list)
    """Files skipped for being larger than ``max_filesize``."""


class SearchResults(Iterator[SearchMatch]):
    """The lines a search finds, streamed while the search runs, in line order per file and files in
    the order they finish. Iterate once; :attr:`summary` is complete when iteration ends. Closing it
    (or leaving a ``with`` block) early cancels the search."""

    def __init__(self, records: Iterator[SearchMatch], summary: SearchSummary) -> None:
        self._records = records
        self.summary = summary

    def __iter__(self) -> "SearchResults":
        return self

    def __next__(self) -> SearchMatch:
        return next(self._records)

    def close(self) -> None:
        close = getattr(self._records, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "SearchResults":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def errors(self) -> list[OSError]:
        return self.summary.errors


class SearchCounts(Mapping[Any, int]):
    """Matching lines per file (files without a match are absent), like ``rg --count``, plus
    :attr:`summary` (errors, skipped files)."""

    def __init__(self, counts: dict[Any, int], summary: SearchSummary) -> None:
        self._counts = counts
        self.summary = summary

    def __getitem__(self, path: Any) -> int:
        return self._counts[os.fspath(path)]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    def __repr__(self) -> str:
        return f"<SearchCounts: {len(self)} files, {self.summary.lines_matched} lines, {len(self.summary.errors)} errors>"

    @property
    def errors(self) -> list[OSError]:
        return self.summary.errors

    @property
    def total(self) -> int:
        return self.summary.lines_matched


@dataclass(frozen=True)
class _Query:
    """A search's compiled patterns and per-file options, shared by the native and fsspec paths."""

    searcher: _native.Searcher
    options: _native.SearchOptions


def _query(pattern: Patterns, fixed_strings: bool, ignore_case: bool, smart_case: bool,
           count_only: bool, binary: bool, before: int | None, after: int | None, context: int | None,
           max_count: int | None, max_filesize: int | None) -> _Query:
    given: list[str | bytes] = [pattern] if isinstance(pattern, (str, bytes)) else list(pattern)
    if not given:
        raise ValueError("no patterns to search for")
    for p in given:
        if not isinstance(p, (str, bytes)):
            raise TypeError(f"a pattern must be str or bytes, not {type(p).__name__}")
        if "\0" in p if isinstance(p, str) else b"\0" in p:
            raise ValueError(f"pattern {p!r} contains a NUL character: write it as \\x00")
    flags = ((_native.SEARCH_FIXED_STRINGS if fixed_strings else 0) | (_native.SEARCH_IGNORE_CASE if ignore_case else 0)
             | (_native.SEARCH_SMART_CASE if smart_case else 0))
    searcher = _native.Searcher([_pattern_bytes(p) for p in given], flags, given)
    before = _count_arg("before", before if before is not None else context)
    after = _count_arg("after", after if after is not None else context)
    if max_count is not None and (not isinstance(max_count, int) or max_count < 1):
        raise ValueError(f"max_count must be a positive integer or None, not {max_count!r}")
    if max_filesize is not None and (not isinstance(max_filesize, int) or max_filesize < 0):
        raise ValueError(f"max_filesize must be a byte count >= 0 or None, not {max_filesize!r}")
    # Limits past 2**63 - 1 (the native field) cannot be reached: the same as that.
    options = _native.SearchOptions(count_only, binary, 0 if count_only else before, 0 if count_only else after,
                                    min(max_count or 0, _MAX_INT64), min(max_filesize or 0, _MAX_INT64))
    return _Query(searcher, options)


_MAX_INT64 = (1 << 63) - 1


def _pattern_bytes(pattern: str | bytes) -> bytes:
    try:
        return os.fsencode(pattern)
    except UnicodeEncodeError as e:
        raise ValueError(f"pattern {pattern!r} has a lone surrogate {pattern[e.start]!r} at position {e.start}: only "
                         "U+DC80..U+DCFF stand for raw bytes (os.fsdecode's escapes)") from None


def _count_arg(name: str, value: int | None) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or not 0 <= value < 1 << 31:
        raise ValueError(f"{name} must be a line count >= 0, not {value!r}")
    return value


def search_files(pattern: Patterns, paths_or_root: PathsOrRoot, *, fixed_strings: bool = False,
                 ignore_case: bool = False, smart_case: bool = False, include: Filter = None,
                 exclude: Filter = None, gitignore: bool = False, follow_links: bool = False,
                 max_depth: int | None = None, max_count: int | None = None, before: int | None = None,
                 after: int | None = None, context: int | None = None, max_filesize: int | None = None,
                 binary: bool = False, threads: int | None = None,
                 progress: JobProgressArg = None) -> SearchResults:
    """Search the files under a directory (or a list of files, or one file) for lines matching
    ``pattern``, in parallel natively; the lines stream while the search runs.

    ``pattern`` is a regex (docs/search.md: .NET syntax plus Python's ``(?P<name>...)``, run in linear
    time), a literal with ``fixed_strings``, or a list of them (a line matches if any does).
    ``ignore_case``; ``smart_case`` ignores case for patterns without an uppercase letter. The tree is
    walked like :func:`vegafs.scan_tree` (``include``/``exclude`` globs, ``gitignore``, ``max_depth``,
    symlinks followed only with ``follow_links``; hidden files are searched). ``max_count`` stops a file
    after that many matching lines; ``before``/``after``/``context`` add lines around matches;
    files over ``max_filesize`` bytes are skipped, and files holding a NUL byte are skipped unless
    ``binary``. A pattern the engine refuses raises :class:`vegafs.RegexError` (a ValueError) with the
    position; a bad root raises OSError; unreadable files are in ``summary.errors``.
    """
    query = _query(pattern, fixed_strings, ignore_case, smart_case, False, binary, before, after, context,
                   max_count, max_filesize)
    summary = SearchSummary()
    return SearchResults(_run(query, paths_or_root, summary, include, exclude, gitignore, follow_links,
                              max_depth, threads, progress), summary)


def search_counts(pattern: Patterns, paths_or_root: PathsOrRoot, *, fixed_strings: bool = False,
                  ignore_case: bool = False, smart_case: bool = False, include: Filter = None,
                  exclude: Filter = None, gitignore: bool = False, follow_links: bool = False,
                  max_depth: int | None = None, max_count: int | None = None, max_filesize: int | None = None,
                  binary: bool = False, threads: int | None = None, progress: JobProgressArg = None) -> SearchCounts:
    """The number of matching lines per file (``rg --count``); arguments as for :func:`search_files`."""
    query = _query(pattern, fixed_strings, ignore_case, smart_case, True, binary, None, None, None,
                   max_count, max_filesize)
    summary = SearchSummary()
    counts: dict[Any, int] = {}
    for _ in _run(query, paths_or_root, summary, include, exclude, gitignore, follow_links, max_depth, threads,
                  progress, counts):
        pass
    return SearchCounts(counts, summary)


def search_text(pattern: Patterns, path: StrOrBytesPath, *, fixed_strings: bool = False, ignore_case: bool = False,
                smart_case: bool = False, max_count: int | None = None, before: int | None = None,
                after: int | None = None, context: int | None = None, binary: bool = False) -> list[SearchMatch]:
    """The matching lines of one file (or fsspec URL), in order; arguments as for :func:`search_files`.
    Raises FileNotFoundError, PermissionError or IsADirectoryError naming ``path``. A file holding a
    NUL byte has no matches unless ``binary``."""
    query = _query(pattern, fixed_strings, ignore_case, smart_case, False, binary, before, after, context,
                   max_count, None)
    name = fspath(path)
    summary = SearchSummary()
    if isinstance(name, str) and is_url(name):
        fs, inner = _backend.resolve(name)
        if fs.isdir(inner):
            raise os_error(codes.EISDIR, name)
        found = list(_fsspec_records(query, [name], summary, None))
    else:
        source = _native.file_source(paths=[os.fsencode(name)])
        found = list(_native_records(_native.FileJob.search(source, query.searcher, query.options, 1),
                                     [name], summary, None, False))
    if summary.errors:
        raise summary.errors[0]
    return found


def _run(query: _Query, paths_or_root: PathsOrRoot, summary: SearchSummary, include: Filter, exclude: Filter,
         gitignore: bool, follow_links: bool, max_depth: int | None, threads: int | None, progress: JobProgressArg,
         counts: dict[Any, int] | None = None) -> Iterator[SearchMatch]:
    check_limits(max_depth, threads)
    if isinstance(paths_or_root, (str, bytes, os.PathLike)):
        root = fspath(paths_or_root)
        if isinstance(root, str) and is_url(root):
            urls = _backend.fsspec_files(root, max_depth, Selection(include, exclude), gitignore)
            return _fsspec_records(query, urls, summary, counts)
        if not os.path.isdir(root):
            if not os.path.lexists(root):
                raise os_error(codes.ENOENT, root)  # at the call, as for a missing directory
            return _list_records(query, [root], summary, counts, threads, progress, single=True)
        source = _native.file_source(root=os.fsencode(root), flags=_walk_flags(follow_links, gitignore),
                                     max_depth=max_depth, threads=threads,
                                     include=walk_filter(include, "include"), exclude=walk_filter(exclude, "exclude"))
        job = _native.FileJob.search(source, query.searcher, query.options, threads)
        return _native_records(job, None, summary, counts, isinstance(root, bytes), progress)
    paths = [fspath(p) for p in paths_or_root]
    if any(isinstance(p, str) and is_url(p) for p in paths):
        if not all(isinstance(p, str) and is_url(p) for p in paths):
            raise ValueError("a list of paths must be all local paths or all URLs")
        return _fsspec_records(query, [str(p) for p in paths], summary, counts)
    return _list_records(query, paths, summary, counts, threads, progress)


def _list_records(query: _Query, paths: list[Any], summary: SearchSummary, counts: dict[Any, int] | None,
                  threads: int | None, progress: JobProgressArg, single: bool = False) -> Iterator[SearchMatch]:
    if not paths:
        return iter(())
    source = _native.file_source(paths=[os.fsencode(p) for p in paths])
    records = _native_records(_native.FileJob.search(source, query.searcher, query.options, threads), paths,
                              summary, counts, False, progress)
    if not single:
        return records
    # One path given (not a directory): it cannot be read is an exception, as for a root.
    return _raising_first_error(records, summary)


def _raising_first_error(records: Iterator[SearchMatch], summary: SearchSummary) -> Iterator[SearchMatch]:
    yield from records
    if summary.errors:
        raise summary.errors[0]


def _native_records(job: _native.FileJob, given: list[Any] | None, summary: SearchSummary,
                    counts: dict[Any, int] | None, as_bytes: bool,
                    progress: JobProgressArg = False) -> Iterator[SearchMatch]:
    """Turns a search job's result sets into records (or, with ``counts``, fills it). ``given`` maps a
    list source's indices back to the caller's paths."""
    callback, close = job_reporter(progress, "searching", "hash")
    try:
        for tables in job.results(callback):
            paths: dict[int, Any] = {}
            files = tables[0]
            texts = files.texts or []
            values = files.values
            for row in range(len(texts)):
                file_id, index, matched, errno, flags = values[5 * row:5 * row + 5]
                path = given[index] if given is not None else texts[row] if as_bytes else os.fsdecode(texts[row])
                paths[file_id] = path
                if flags & _native.SEARCH_FILE_FINAL:
                    _account(summary, counts, path, matched, errno, flags)
            if len(tables) > 1:
                yield from _lines(tables[1], tables[2], paths)
    finally:
        close()
        job.close()


def _account(summary: SearchSummary, counts: dict[Any, int] | None, path: Any, matched: int, errno: int,
             flags: int) -> None:
    """Records a file's final row in the summary (and counts)."""
    if matched:
        summary.files_matched += 1
        summary.lines_matched += matched
        if counts is not None:
            counts[path] = matched
    if errno:
        summary.errors.append(_file_error(errno, path))
    if flags & _native.SEARCH_FILE_BINARY:
        summary.binary_files.append(path)
    if flags & _native.SEARCH_FILE_TOO_LARGE:
        summary.too_large.append(path)


def _lines(lines: _native.RawTable, spans: _native.RawTable, paths: dict[int, Any]) -> list[SearchMatch]:
    """One result set's line rows as records (the hot loop of a search with many matches)."""
    span_values = spans.values
    columns = iter(lines.values)
    records = []
    make = tuple.__new__  # SearchMatch's own __new__ is a Python function: this skips a frame per record
    for (file_id, number, offset, is_match, first, count), line in zip(zip(*[columns] * 6), lines.texts or []):
        if count == 1:
            found: tuple[tuple[int, int], ...] = ((span_values[2 * first], span_values[2 * first + 1]),)
        else:
            ends = span_values[2 * first:2 * (first + count)]
            found = tuple(zip(ends[0::2], ends[1::2]))
        records.append(make(SearchMatch, (paths[file_id], number, offset, line, found, not is_match)))
    return records


def _fsspec_records(query: _Query, urls: list[str], summary: SearchSummary,
                    counts: dict[Any, int] | None) -> Iterator[SearchMatch]:
    """Searches URLs one by one: fsspec reads each whole file, the native engine searches it."""
    for url in urls:
        fs, path = _backend.resolve(url)
        try:
            if query.options.max_filesize and (fs.size(path) or 0) > query.options.max_filesize:
                summary.too_large.append(url)
                continue
            data = fs.cat_file(path)
        except FileNotFoundError:
            summary.errors.append(os_error(codes.ENOENT, url))
            continue
        except IsADirectoryError:
            summary.errors.append(os_error(codes.EISDIR, url))
            continue
        except PermissionError:
            summary.errors.append(os_error(codes.EACCES, url))
            continue
        tables = query.searcher.search_buffer(data, os.fsencode(url), query.options)
        values = tables[0].values
        for row in range(len(values) // 5):
            _, _, matched, errno, flags = values[5 * row:5 * row + 5]
            if flags & _native.SEARCH_FILE_FINAL:
                _account(summary, counts, url, matched, errno, flags)
        if len(tables) > 1:
            yield from _lines(tables[1], tables[2], {0: url})


def _file_error(errno: int, path: Any) -> OSError:
    if errno == _native.ERRNO_LINE_TOO_LONG:
        return os_error(codes.EFBIG, path, "a line is longer than 128 MiB; the search of the file stopped there")
    return os_error(errno, path)


def _text(path: Any) -> str:
    return os.fsdecode(path) if isinstance(path, bytes) else str(path)
