"""File hashing and duplicate finding: native and parallel for local paths, fsspec for URLs.

Digests are lowercase hex strings equal to ``hashlib.<name>(data).hexdigest()`` (sha256, sha1, md5,
blake2b), ``xxhash.<name>(data).hexdigest()`` (xxh64, xxh3_64, xxh3_128) and
``format(zlib.crc32(data), "08x")`` (crc32).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Union

from . import _backend, _native
from ._patterns import PatternArg, PatternMatcher, Selection, walk_filter
from ._paths import StrOrBytesPath, check_limits, fspath, is_url
from ._progress import JobProgressArg, job_reporter
from .errors import InvalidArgumentError, os_error

Algorithm = str
Filter = Union[PatternArg, PatternMatcher, None]
PathsOrRoot = Union[StrOrBytesPath, Iterable[StrOrBytesPath]]

ALGORITHMS: tuple[str, ...] = tuple(_native.HASH_ALGORITHMS)
_ALIASES = {"xxh3": "xxh3_64", "xxh128": "xxh3_128", "xxh3_64bits": "xxh3_64", "xxh3_128bits": "xxh3_128",
            "blake2b512": "blake2b", "blake2b_512": "blake2b"}
_READ_CHUNK = 1 << 20
_HASH_BYTES_SLICE = 8 << 20  # 4-36 ms of work here (xxh64 to md5, the slowest, on a loaded machine)


def algorithm_code(algorithm: str) -> int:
    """The native code of an algorithm name (case and '-' ignored: "SHA-256" is sha256)."""
    if not isinstance(algorithm, str):
        raise TypeError(f"algorithm must be a str, not {type(algorithm).__name__}")
    name = algorithm.lower().replace("-", "")
    name = _ALIASES.get(name, name)
    if name not in _native.HASH_ALGORITHMS:
        raise ValueError(f"unknown hash algorithm {algorithm!r}; choose one of: {', '.join(ALGORITHMS)}")
    return _native.HASH_ALGORITHMS[name]


def available_algorithms() -> list[str]:
    """The algorithms this machine can compute (sha256, sha1, md5 and blake2b need the system's OpenSSL)."""
    names = []
    for name, code in _native.HASH_ALGORITHMS.items():
        try:
            _native.Hasher(code)
        except InvalidArgumentError:
            continue
        names.append(name)
    return names


def hash_bytes(data: bytes | bytearray | memoryview, algorithm: Algorithm = "sha256") -> str:
    """The hex digest of a buffer (the GIL is released while the native code hashes it). Any C-contiguous
    buffer is hashed as its bytes, like hashlib does."""
    hasher = _native.Hasher(algorithm_code(algorithm))
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
    if not view.c_contiguous:
        raise TypeError("data must be a C-contiguous buffer, not a strided view")
    view = view.cast("B")
    # Slice by slice, so that Ctrl-C (handled between native calls) stops a large buffer promptly.
    for start in range(0, len(view), _HASH_BYTES_SLICE):
        hasher.update(view[start:start + _HASH_BYTES_SLICE])
    return hasher.digest().hex()


def compute_file_hash(path: StrOrBytesPath, algorithm: Algorithm = "sha256") -> str:
    """The hex digest of one file's content.

    Raises FileNotFoundError, PermissionError, IsADirectoryError (as vegafs errors, naming ``path``), or
    ValueError for an unknown or unavailable algorithm. ``path`` may be an fsspec URL.
    """
    code = algorithm_code(algorithm)
    name = fspath(path)
    if isinstance(name, str) and is_url(name):
        return _fsspec_digest(name, code)
    results = _hash_list([name], code, threads=1, progress=False)
    if results.errors:
        raise results.errors[0]
    return results[name]


class HashResults(Mapping[Any, str]):
    """Digests by path (str or bytes as given; in the order given for a list, in the order hashed for a
    tree), plus :attr:`errors`: one OSError per file (or directory) that could not be read, naming it."""

    def __init__(self, algorithm: str, digests: dict[Any, str], sizes: dict[Any, int], errors: list[OSError]) -> None:
        self.algorithm = algorithm
        self._digests = digests
        self._sizes = sizes
        self.errors = errors

    def __getitem__(self, path: Any) -> str:
        return self._digests[os.fspath(path)]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"<HashResults {self.algorithm}: {len(self)} files, {len(self.errors)} errors>"

    @property
    def bytes_hashed(self) -> int:
        return sum(self._sizes.values())

    def size(self, path: Any) -> int:
        """How many bytes were hashed for ``path``."""
        return self._sizes[os.fspath(path)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "files": {_text(p): d for p, d in self._digests.items()},
            "errors": [_error_dict(e) for e in self.errors],
        }


def hash_files(paths_or_root: PathsOrRoot, algorithm: Algorithm = "sha256", threads: int | None = None, *,
               include: Filter = None, exclude: Filter = None, gitignore: bool = False,
               follow_links: bool = False, max_depth: int | None = None,
               progress: JobProgressArg = None) -> HashResults:
    """Hash many files in parallel natively.

    ``paths_or_root`` is a list of files, or one directory whose regular files are hashed (walked with
    the same ``include``/``exclude``/``gitignore``/``max_depth`` rules as :func:`vegafs.scan_tree`;
    symlinks are followed only with ``follow_links``), or one file. Files that cannot be read are in
    ``errors``; the call raises only if the one path given (a root or a file) cannot be read.
    URLs go through fsspec.
    """
    code = algorithm_code(algorithm)
    check_limits(max_depth, threads)
    if isinstance(paths_or_root, (str, bytes, os.PathLike)):
        root = fspath(paths_or_root)
        if isinstance(root, str) and is_url(root):
            return _fsspec_hash(_backend.fsspec_files(root, max_depth, Selection(include, exclude), gitignore), code)
        if not os.path.isdir(root):
            single = _hash_list([root], code, threads, progress)
            if single.errors:
                raise single.errors[0]
            return single
        source = _native.file_source(root=os.fsencode(root), flags=_walk_flags(follow_links, gitignore),
                                     max_depth=max_depth, threads=threads,
                                     include=walk_filter(include, "include"), exclude=walk_filter(exclude, "exclude"))
        return _collect(_native.FileJob.hash(source, code, threads), code, isinstance(root, bytes), None, progress)
    paths = [fspath(p) for p in paths_or_root]
    if any(isinstance(p, str) and is_url(p) for p in paths):
        if not all(isinstance(p, str) and is_url(p) for p in paths):
            raise ValueError("a list of paths must be all local paths or all URLs")
        return _fsspec_hash([str(p) for p in paths], code)
    return _hash_list(paths, code, threads, progress)


def _walk_flags(follow_links: bool, gitignore: bool) -> int:
    return (_native.FOLLOW_LINKS | _native.CLASSIFY_LINKS if follow_links else 0) | (_native.GITIGNORE if gitignore else 0)


def _hash_list(paths: list[Any], code: int, threads: int | None, progress: JobProgressArg) -> HashResults:
    if not paths:
        return HashResults(_name(code), {}, {}, [])
    source = _native.file_source(paths=[os.fsencode(p) for p in paths])
    return _collect(_native.FileJob.hash(source, code, threads), code, False, paths, progress)


def _collect(job: _native.FileJob, code: int, as_bytes: bool, given: list[Any] | None,
             progress: JobProgressArg) -> HashResults:
    """Gathers a hash job's rows. A tree's files come in the order workers finish them; ``given`` (a
    list source) maps row indices back to the caller's paths, whose order the result keeps."""
    digests: dict[Any, str] = {}
    sizes: dict[Any, int] = {}
    errors: list[tuple[int, OSError]] = []
    callback, close = job_reporter(progress, "hashing", "hash")
    try:
        for tables in job.results(callback, as_str=not as_bytes):
            for table in tables:
                values = table.values
                texts = table.texts or []
                keys: list[Any] = texts[0::2] if given is None else values[0::3]
                hexes = texts[1::2] if not as_bytes else [d.decode("ascii") for d in texts[1::2]]
                errnos = values[2::3]
                if any(errnos):
                    failed = [i for i, e in enumerate(errnos) if e]
                    errors += [(values[3 * i], os_error(errnos[i], keys[i] if given is None else given[keys[i]]))
                               for i in failed]
                    ok = [i for i, e in enumerate(errnos) if not e]
                    keys, hexes = [keys[i] for i in ok], [hexes[i] for i in ok]
                    byte_counts = [values[3 * i + 1] for i in ok]
                else:
                    byte_counts = values[1::3]
                digests.update(zip(keys, hexes))
                sizes.update(zip(keys, byte_counts))
    finally:
        close()
        job.close()
    errors.sort(key=lambda e: e[0])
    if given is not None:
        # Keys are indices into the caller's list: back to its paths, in its order.
        digests = {given[i]: digests[i] for i in range(len(given)) if i in digests}
        sizes = {given[i]: sizes[i] for i in range(len(given)) if i in sizes}
    return HashResults(_name(code), digests, sizes, [e for _, e in errors])


def _name(code: int) -> str:
    return next(name for name, c in _native.HASH_ALGORITHMS.items() if c == code)


@dataclass(frozen=True)
class DuplicateGroup:
    """Files with identical content: ``paths`` sorted, ``size`` bytes each, ``digest`` in hex.
    Hard links to one file count once in :attr:`wasted_bytes`."""

    size: int
    digest: str
    paths: list[Any]
    copies: int

    @property
    def wasted_bytes(self) -> int:
        """Bytes that deleting all but one copy would free (hard links share their bytes)."""
        return self.size * (self.copies - 1)


@dataclass
class DuplicateReport:
    """The result of :func:`find_duplicates`: groups by wasted bytes (largest first), and errors."""

    algorithm: str
    groups: list[DuplicateGroup]
    errors: list[OSError] = field(default_factory=list)

    @property
    def wasted_bytes(self) -> int:
        return sum(g.wasted_bytes for g in self.groups)

    @property
    def duplicate_files(self) -> int:
        """Files beyond the first copy in each group."""
        return sum(g.copies - 1 for g in self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[DuplicateGroup]:
        return iter(self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "wasted_bytes": self.wasted_bytes,
            "groups": [{"size": g.size, "digest": g.digest, "copies": g.copies, "wasted_bytes": g.wasted_bytes,
                        "paths": [_text(p) for p in g.paths]} for g in self.groups],
            "errors": [_error_dict(e) for e in self.errors],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def find_duplicates(paths_or_root: PathsOrRoot, *, min_size: int = 1, algorithm: Algorithm = "xxh3_128",
                    include: Filter = None, exclude: Filter = None, gitignore: bool = False,
                    follow_links: bool = False, max_depth: int | None = None, threads: int | None = None,
                    progress: JobProgressArg = None) -> DuplicateReport:
    """Group files with identical content, reading as little as possible.

    Stages: sizes (only sizes shared by different files go on), a hash of the first 4 KiB, then
    ``algorithm`` over whole files. Files smaller than ``min_size`` (default 1: empty files are not
    duplicates of each other) are ignored. Use ``algorithm="sha256"`` where a crafted collision matters
    (xxh3_128 is not a cryptographic hash). Hard links to one file are listed in a group but not
    counted as waste. Unreadable files are in ``errors``. URLs go through fsspec.
    """
    code = algorithm_code(algorithm)
    check_limits(max_depth, threads)
    if not isinstance(min_size, int) or min_size < 0:
        raise ValueError(f"min_size must be a non-negative integer, not {min_size!r}")
    as_bytes = False
    given: list[Any] | None = None
    if isinstance(paths_or_root, (str, bytes, os.PathLike)):
        root = fspath(paths_or_root)
        if isinstance(root, str) and is_url(root):
            return _fsspec_duplicates(_backend.fsspec_files(root, max_depth, Selection(include, exclude), gitignore), code, min_size)
        as_bytes = isinstance(root, bytes)
        source = _native.file_source(root=os.fsencode(root), flags=_walk_flags(follow_links, gitignore) | _native.STAT,
                                     max_depth=max_depth, threads=threads,
                                     include=walk_filter(include, "include"), exclude=walk_filter(exclude, "exclude"))
    else:
        given = [fspath(p) for p in paths_or_root]
        if any(isinstance(p, str) and is_url(p) for p in given):
            return _fsspec_duplicates([str(p) for p in given], code, min_size)
        if not given:
            return DuplicateReport(_name(code), [])
        as_bytes = isinstance(given[0], bytes)
        source = _native.file_source(paths=[os.fsencode(p) for p in given])
    job = _native.FileJob.duplicates(source, code, min_size, threads)
    decode: Callable[[bytes], Any] = (lambda b: b) if as_bytes else os.fsdecode
    groups: list[DuplicateGroup] = []
    errors: list[OSError] = []
    callback, close = job_reporter(progress, "finding duplicates", "dupes")
    try:
        for tables in job.results(callback):
            for table in tables:
                if table.kind == _native.TABLE_DUPLICATES:
                    groups += _groups(table, decode)
                elif table.kind == _native.TABLE_FILE_ERRORS:
                    errors += [_file_error(errno, decode(path)) for errno, path in zip(table.values, table.texts or [])]
    finally:
        close()
        job.close()
    return DuplicateReport(_name(code), groups, errors)


def _groups(table: _native.RawTable, decode: Callable[[bytes], Any]) -> list[DuplicateGroup]:
    groups: list[DuplicateGroup] = []
    rows = table.rows()
    paths = table.text_column(0)
    digests = [d.decode("ascii") for d in table.text_column(1)]
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][0] != rows[start][0]:
            members = range(start, i)
            copies = len({(rows[k][2], rows[k][3]) for k in members})
            groups.append(DuplicateGroup(rows[start][1], digests[start], [decode(paths[k]) for k in members], copies))
            start = i
    return groups


def _file_error(errno: int, path: Any) -> OSError:
    if errno == _native.ERRNO_CHANGED:
        import errno as codes
        return os_error(codes.EAGAIN, path, "the file changed while it was being read")
    return os_error(errno, path)


def _text(path: Any) -> str:
    return os.fsdecode(path) if isinstance(path, bytes) else str(path)


def _error_dict(error: OSError) -> dict[str, Any]:
    return {"path": _text(error.filename), "errno": error.errno, "message": error.strerror}


# --- fsspec: the same results for URLs, hashed here with the native hasher over fsspec reads ---

def _fsspec_digest(url: str, code: int) -> str:
    fs, path = _backend.resolve(url)
    if fs.isdir(path):
        import errno
        raise os_error(errno.EISDIR, url)
    hasher = _native.Hasher(code)
    try:
        with fs.open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                hasher.update(chunk)
    except FileNotFoundError as exc:
        raise os_error(2, url) from exc
    return hasher.digest().hex()


def _fsspec_hash(urls: list[str], code: int) -> HashResults:
    digests: dict[Any, str] = {}
    sizes: dict[Any, int] = {}
    errors: list[OSError] = []
    for url in urls:
        try:
            digests[url] = _fsspec_digest(url, code)
            fs, path = _backend.resolve(url)
            sizes[url] = int(fs.size(path))
        except OSError as error:
            errors.append(error if error.filename else os_error(error.errno or 5, url))
    return HashResults(_name(code), digests, sizes, errors)


def _fsspec_duplicates(urls: list[str], code: int, min_size: int) -> DuplicateReport:
    by_size: dict[int, list[str]] = {}
    errors: list[OSError] = []
    for url in urls:
        try:
            fs, path = _backend.resolve(url)
            size = int(fs.size(path))
        except OSError as error:
            errors.append(os_error(error.errno or 2, url))
            continue
        if size >= min_size:
            by_size.setdefault(size, []).append(url)
    groups = []
    for size, same in by_size.items():
        if len(same) < 2:
            continue
        found = _fsspec_hash(same, code)
        errors += found.errors
        by_digest: dict[str, list[str]] = {}
        for url, digest in found.items():
            by_digest.setdefault(digest, []).append(url)
        groups += [DuplicateGroup(size, d, sorted(p), len(p)) for d, p in by_digest.items() if len(p) > 1]
    groups.sort(key=lambda g: (-g.wasted_bytes, g.paths[0]))
    return DuplicateReport(_name(code), groups, errors)
