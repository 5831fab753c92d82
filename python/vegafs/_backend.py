"""Backend choice per path, and the fsspec backend.

Local paths (str, bytes, PathLike) go to the native engine. fsspec URLs (``memory://``, ``s3://``,
``file://``, ...) go through fsspec here, in pure Python, returning the same result types; paths in
results are full URLs, so they can be passed back to vegafs.
"""
from __future__ import annotations

import array
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ._paths import is_url
from .errors import VegaFileNotFoundError, VegaNotADirectoryError

if TYPE_CHECKING:
    from ._scan import CountResult, ScanResult

WalkTriple = tuple[str, list[str], list[str]]


def is_fsspec(path: str | bytes) -> bool:
    """True for an fsspec URL (always a str; bytes paths are local)."""
    return is_url(path)


def backend_info(path: Any = None) -> dict[str, Any]:
    """Which backend serves ``path`` (the native library's details when none is given)."""
    from . import _native
    from ._paths import fspath
    if path is not None and is_fsspec(fspath(path)):
        import fsspec
        fs, _ = fsspec.core.url_to_fs(path)
        return {"backend": "fsspec", "protocol": fs.protocol, "filesystem": type(fs).__name__,
                "fsspec_version": fsspec.__version__}
    return _native.info()


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is a dependency
        raise ImportError("URL paths need fsspec: pip install fsspec") from exc
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _check_dir(fs: Any, path: str, url: str) -> None:
    # isdir first: some fsspec versions answer exists() == False for pseudo-directories.
    if fs.isdir(path):
        return
    if fs.exists(path):
        raise VegaNotADirectoryError(20, "Not a directory", url)
    raise VegaFileNotFoundError(2, "No such file or directory", url)


def _url(fs: Any, path: str) -> str:
    return str(fs.unstrip_protocol(path))


def fsspec_walk(url: str, topdown: bool, onerror: Callable[[OSError], object] | None, max_depth: int | None,
                sort: bool) -> Iterator[WalkTriple]:
    fs, root = _filesystem(url)
    try:
        _check_dir(fs, root, url)
    except OSError as error:
        if onerror is not None:
            onerror(error)
        return
    # fsspec's own walk(topdown=True) honours pruning of dirnames, as os.walk does.
    for dirpath, dirnames, filenames in fs.walk(root, maxdepth=max_depth, topdown=topdown, on_error="omit"):
        if sort:
            dirnames.sort()
            filenames.sort()
        yield (url if dirpath.rstrip("/") == root.rstrip("/") else _url(fs, dirpath)), dirnames, filenames


def _listing(url: str, max_depth: int | None) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    fs, root = _filesystem(url)
    _check_dir(fs, root, url)
    found = fs.find(root, maxdepth=max_depth, withdirs=True, detail=True)
    prefix = root.rstrip("/")
    return fs, [(p, info) for p, info in sorted(found.items()) if p.rstrip("/") != prefix]


_FSSPEC_KINDS = {"file": 1, "directory": 2, "link": 3}


def _stat_row(info: dict[str, Any]) -> list[int]:
    mtime = info.get("mtime", info.get("LastModified", info.get("created")))
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    mtime_ns = int(float(mtime) * 1e9) if mtime is not None else -1
    return [int(info.get("size") or 0), mtime_ns, int(info.get("mode", -1)), int(info.get("ino", -1)),
            int(info.get("dev", -1)), int(info.get("nlink", -1))]


def fsspec_scan(url: str, stat: bool, max_depth: int | None) -> ScanResult:
    from ._scan import Columns, ScanResult
    fs, entries = _listing(url, max_depth)
    paths = [_url(fs, p) for p, _ in entries]
    kinds = bytes(_FSSPEC_KINDS.get(str(info.get("type")), 0) for _, info in entries)
    stats = None
    if stat:
        stats = array.array("q")
        for _, info in entries:
            stats.extend(_stat_row(info))
    return ScanResult(url, iter([Columns(paths, kinds, stats)]), [])


def fsspec_count(url: str) -> CountResult:
    from ._scan import CountResult
    fs, entries = _listing(url, None)
    counts = {"file": 0, "directory": 0, "link": 0}
    others = 0
    size = 0
    for _, info in entries:
        kind = info.get("type")
        if kind in counts:
            counts[kind] += 1
        else:
            others += 1
        size += int(info.get("size") or 0)
    return CountResult(url, counts["file"], counts["directory"], counts["link"], others, size, None, [])
