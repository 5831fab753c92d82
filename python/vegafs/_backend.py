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
    from ._patterns import Selection
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


def opener(path: str) -> Callable[[], Any]:
    """A function opening ``path`` (a URL or a local path) for binary reading."""
    if is_fsspec(path):
        fs, inner = resolve(path)
        return lambda: fs.open(inner, "rb")
    return lambda: open(path, "rb")


def resolve(url: str) -> tuple[Any, str]:
    """The fsspec filesystem serving ``url``, and ``url`` as a path of it (protocol removed)."""
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec is a dependency
        raise ImportError("URL paths need fsspec: pip install fsspec") from exc
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def check_dir(fs: Any, path: str, url: str) -> None:
    # isdir first: some fsspec versions answer exists() == False for pseudo-directories.
    if fs.isdir(path):
        return
    if fs.exists(path):
        raise VegaNotADirectoryError(20, "Not a directory", url)
    raise VegaFileNotFoundError(2, "No such file or directory", url)


def _url(fs: Any, path: str) -> str:
    return str(fs.unstrip_protocol(path))


def check_no_gitignore(gitignore: bool) -> None:
    if gitignore:
        raise ValueError("gitignore=True is supported for local paths only, not for fsspec URLs")


def _relative(root: str, path: str) -> str:
    """``path`` relative to ``root``: "" for the root itself, else ending in "/" (a directory part)."""
    prefix = root.rstrip("/")
    rest = path.rstrip("/")[len(prefix):].lstrip("/")
    return rest + "/" if rest else ""


def fsspec_walk(url: str, topdown: bool, onerror: Callable[[OSError], object] | None, max_depth: int | None,
                sort: bool, selection: Selection) -> Iterator[WalkTriple]:
    """os.walk over an fsspec filesystem. Its own walk is not used: fsspec 2022.x ignores pruning of
    dirnames, which both os.walk's contract and exclude= need."""
    fs, root = resolve(url)
    try:
        check_dir(fs, root, url)
    except OSError as error:
        if onerror is not None:
            onerror(error)
        return

    def visit(path: str, relative: str, depth: int) -> Iterator[WalkTriple]:
        try:
            entries = fs.ls(path, detail=True)
        except OSError as error:
            if onerror is not None:
                onerror(error)
            return
        dirnames: list[str] = []
        filenames: list[str] = []
        own = path.rstrip("/")
        for info in entries:
            full = str(info["name"]).rstrip("/")
            if full == own:
                continue
            (dirnames if info.get("type") == "directory" else filenames).append(full.rsplit("/", 1)[-1])
        if selection:
            _, kept = selection.decide(relative, dirnames, [True] * len(dirnames))
            dirnames = [name for name, k in zip(dirnames, kept) if k]
            chosen, _ = selection.decide(relative, filenames, [False] * len(filenames))
            filenames = [name for name, c in zip(filenames, chosen) if c]
        if sort:
            dirnames.sort()
            filenames.sort()
        triple = (url if own == root.rstrip("/") else _url(fs, path)), dirnames, filenames
        if topdown:
            yield triple
        if max_depth is None or depth < max_depth:
            for name in list(dirnames):
                yield from visit(own + "/" + name, relative + name + "/", depth + 1)
        if not topdown:
            yield triple

    yield from visit(root, "", 1)


def _listing(url: str, max_depth: int | None,
             selection: Selection | None = None) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    fs, root = resolve(url)
    check_dir(fs, root, url)
    found = fs.find(root, maxdepth=max_depth, withdirs=True, detail=True)
    prefix = root.rstrip("/")
    entries = [(p, info) for p, info in sorted(found.items()) if p.rstrip("/") != prefix]
    if selection:
        entries = _select(root, entries, selection)
    return fs, entries


def _select(root: str, entries: list[tuple[str, dict[str, Any]]], selection: Selection) -> list[tuple[str, dict[str, Any]]]:
    """The entries a native walk with the same include=/exclude= would list."""
    relative = [_relative(root, p)[:-1] for p, _ in entries]
    is_dir = [info.get("type") == "directory" for _, info in entries]
    chosen, kept = selection.decide("", relative, is_dir)
    excluded = tuple(r + "/" for r, k, d in zip(relative, kept, is_dir) if not k and d)
    return [entry for entry, r, c in zip(entries, relative, chosen) if c and not (excluded and r.startswith(excluded))]


_FSSPEC_KINDS = {"file": 1, "directory": 2, "link": 3}


def stat_row(info: dict[str, Any]) -> list[int]:
    mtime = info.get("mtime", info.get("LastModified", info.get("created")))
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    mtime_ns = int(float(mtime) * 1e9) if mtime is not None else -1
    return [int(info.get("size") or 0), mtime_ns, int(info.get("mode", -1)), int(info.get("ino", -1)),
            int(info.get("dev", -1)), int(info.get("nlink", -1))]


def fsspec_scan(url: str, stat: bool, max_depth: int | None, selection: Selection) -> ScanResult:
    from ._scan import Columns, ScanResult
    fs, entries = _listing(url, max_depth, selection)
    paths = [_url(fs, p) for p, _ in entries]
    kinds = bytes(_FSSPEC_KINDS.get(str(info.get("type")), 0) for _, info in entries)
    stats = None
    if stat:
        stats = array.array("q")
        for _, info in entries:
            stats.extend(stat_row(info))
    return ScanResult(url, iter([Columns(paths, kinds, stats)]), [])


def fsspec_count(url: str, selection: Selection) -> CountResult:
    from ._scan import CountResult
    fs, entries = _listing(url, None, selection)
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


def fsspec_files(url: str, max_depth: int | None, selection: Selection, gitignore: bool) -> list[str]:
    """The files under an fsspec URL (the URL itself if it is a file), as URLs."""
    check_no_gitignore(gitignore)
    fs, root = resolve(url)
    if fs.isfile(root):
        return [url]
    scan = fsspec_scan(url, False, max_depth, selection)
    from ._scan import Kind
    return [str(p) for p, k in zip(scan.paths, scan.kinds) if k == Kind.FILE]
