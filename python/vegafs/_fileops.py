"""Reading, atomic writing and file information (Vespera's file operations), for local paths and URLs.

Reading returns Python objects, so the I/O is Python's own: one unbuffered ``read`` into a buffer of
the file's size is the fastest way to a ``bytes`` object at most sizes, and never far behind (the
native library would have to copy into Python memory anyway). A memory map is faster only around
16 MiB, and is not used: a file truncated while mapped kills the process with SIGBUS. docs/files.md
has the measurements (scripts/bench_read.py) and the atomic-write protocol.
"""
from __future__ import annotations

import errno as codes
import os
import re
import secrets
import stat as stat_module
from dataclasses import dataclass
from typing import Any, Iterator

from . import _backend
from ._paths import StrOrBytesPath, fspath, is_url
from ._scan import Kind
from .errors import os_error

_KINDS = {
    stat_module.S_IFREG: Kind.FILE, stat_module.S_IFDIR: Kind.DIRECTORY, stat_module.S_IFLNK: Kind.SYMLINK,
    stat_module.S_IFIFO: Kind.FIFO, stat_module.S_IFSOCK: Kind.SOCKET, stat_module.S_IFCHR: Kind.CHAR_DEVICE,
    stat_module.S_IFBLK: Kind.BLOCK_DEVICE,
}
_STREAM_CHUNK = 1 << 20
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _vega_error(error: OSError, path: Any) -> OSError:
    """The vegafs exception (a subclass of the builtin one) for an OSError, naming ``path``."""
    if error.errno is None:
        return error
    return os_error(error.errno, path)


def _url(path: str | bytes) -> str | None:
    return path if isinstance(path, str) and is_url(path) else None


def read_file_bytes(path: StrOrBytesPath) -> bytes:
    """The whole content of a file. Raises FileNotFoundError, IsADirectoryError, PermissionError (as
    vegafs errors naming ``path``). ``path`` may be an fsspec URL."""
    name = fspath(path)
    url = _url(name)
    if url is not None:
        return _fsspec_read(url)
    try:
        with open(name, "rb", buffering=0) as handle:
            return handle.readall()
    except OSError as error:
        raise _vega_error(error, name) from None


def read_file_string(path: StrOrBytesPath, encoding: str = "utf-8", errors: str = "strict") -> str:
    """The whole content of a text file, decoded (newlines are not translated). Invalid data raises
    UnicodeDecodeError naming the file and the byte offset, unless ``errors`` says otherwise
    ("replace", "surrogateescape", ...)."""
    data = read_file_bytes(path)
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError as error:
        raise UnicodeDecodeError(error.encoding, error.object, error.start, error.end,
                                 f"{error.reason} (in {os.fsdecode(fspath(path))!r})") from None


def read_file_lines(path: StrOrBytesPath, encoding: str = "utf-8", errors: str = "strict",
                    keepends: bool = False) -> list[str]:
    """The lines of a text file (split on \\n, \\r\\n and \\r like ``str.splitlines``, but not on the other
    Unicode line breaks, which are rarely meant as such in files)."""
    text = read_file_string(path, encoding, errors)
    if keepends:
        return _LINE_WITH_END.findall(text)
    lines = _LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def iter_file_chunks(path: StrOrBytesPath, chunk_size: int = _STREAM_CHUNK) -> Iterator[bytes]:
    """The content of a file in chunks of ``chunk_size`` bytes (the last may be shorter), for files too
    large to hold in memory at once."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    name = fspath(path)
    url = _url(name)
    try:
        opened: Any = _backend.opener(url)() if url is not None else open(name, "rb")
    except OSError as error:
        raise _vega_error(error, name) from None
    with opened as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def write_file_atomic(path: StrOrBytesPath, data: str | bytes | bytearray | memoryview, *,
                      mode: int | None = None, fsync: bool = True, encoding: str = "utf-8") -> None:
    """Replace a file's content all at once: readers see the old content or the new, never a mix.

    The data goes to a new temporary file in the same directory, which is flushed to disk
    (``fsync=True``), given the target's permission bits (or ``mode``) and owner where allowed, and
    renamed over the target; then the directory is flushed so the rename itself survives a crash.
    A symlink at ``path`` is kept and its target file is replaced. If anything fails, the temporary
    file is removed and the target is untouched. str data is encoded with ``encoding``.

    For fsspec URLs the data is written with one ``pipe_file`` call: as atomic as the backend makes a
    single-object write (object stores and memory:// are; other backends may not be).
    """
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"data must be str or a bytes-like object, not {type(data).__name__}")
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    if mode is not None and (not isinstance(mode, int) or not 0 <= mode <= 0o7777):
        raise ValueError(f"mode must be an integer permission value such as 0o644, not {mode!r}")
    name = fspath(path)
    url = _url(name)
    if url is not None:
        fs, inner = _backend.resolve(url)
        fs.pipe_file(inner, payload)
        return
    target = os.path.realpath(name) if os.path.islink(name) else name
    directory = os.path.dirname(target) or (b"." if isinstance(target, bytes) else ".")
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise _vega_error(error, name) from None
    if existing is not None and stat_module.S_ISDIR(existing.st_mode):
        raise os_error(codes.EISDIR, name)
    # A unique hidden name beside the target (same file system, so the rename is atomic).
    temporary = os.fsencode(directory) + b"/." + os.fsencode(os.path.basename(target)) + f".{secrets.token_hex(6)}.tmp".encode()
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600 if existing or mode is not None else 0o666)
    except OSError as error:
        raise _vega_error(error, name) from None
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            if existing is not None:
                try:
                    os.fchown(fd, existing.st_uid, existing.st_gid)
                except PermissionError:
                    pass  # not ours to give away: the new file keeps the writer's ownership
            if mode is not None or existing is not None:
                os.fchmod(fd, mode if mode is not None else stat_module.S_IMODE(existing.st_mode))  # type: ignore[union-attr]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, os.fsencode(target))
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise _vega_error(error, name) from None
        raise
    if fsync:
        _fsync_directory(directory)


def _fsync_directory(directory: str | bytes) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class FileInfo:
    """What the file system knows about one path (from ``stat``, or ``lstat`` with
    ``follow_symlinks=False``). Times are integer nanoseconds since the epoch. ``symlink_target`` is
    the link's text when ``path`` itself is a symbolic link, else None. For fsspec URLs, fields the
    backend does not report are None."""

    path: str | bytes
    kind: Kind
    size: int
    mode: int | None
    uid: int | None
    gid: int | None
    atime_ns: int | None
    mtime_ns: int | None
    ctime_ns: int | None
    inode: int | None
    device: int | None
    nlink: int | None
    symlink_target: str | bytes | None = None

    @property
    def permissions(self) -> str | None:
        """The mode as ``ls -l`` shows it, e.g. ``-rw-r--r--``."""
        return None if self.mode is None else stat_module.filemode(self.mode)

    @property
    def is_file(self) -> bool:
        return self.kind is Kind.FILE

    @property
    def is_dir(self) -> bool:
        return self.kind is Kind.DIRECTORY

    def to_dict(self) -> dict[str, Any]:
        def text(value: Any) -> Any:
            return os.fsdecode(value) if isinstance(value, bytes) else value
        return {
            "path": text(self.path), "kind": str(self.kind), "size": self.size, "mode": self.mode,
            "permissions": self.permissions, "uid": self.uid, "gid": self.gid, "atime_ns": self.atime_ns,
            "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns, "inode": self.inode, "device": self.device,
            "nlink": self.nlink, "symlink_target": text(self.symlink_target),
        }


def get_file_info(path: StrOrBytesPath, follow_symlinks: bool = True) -> FileInfo:
    """Size, kind, mode, owner, times (ns), inode, device, link count and symlink target of ``path``.
    A missing path raises FileNotFoundError (a dangling symlink too, unless ``follow_symlinks=False``)."""
    name = fspath(path)
    url = _url(name)
    if url is not None:
        return _fsspec_info(url)
    target: str | bytes | None = None
    try:
        st = os.stat(name, follow_symlinks=follow_symlinks)
        if os.path.islink(name):
            target = os.readlink(name) if isinstance(name, str) else os.readlink(name)
    except OSError as error:
        raise _vega_error(error, name) from None
    return FileInfo(name, _KINDS.get(stat_module.S_IFMT(st.st_mode), Kind.UNKNOWN), st.st_size, st.st_mode,
                    st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev,
                    st.st_nlink, target)


def _fsspec_read(url: str) -> bytes:
    fs, inner = _backend.resolve(url)
    if fs.isdir(inner):
        raise os_error(codes.EISDIR, url)
    try:
        return bytes(fs.cat_file(inner))
    except FileNotFoundError:
        raise os_error(codes.ENOENT, url) from None


def _fsspec_info(url: str) -> FileInfo:
    fs, inner = _backend.resolve(url)
    try:
        info = fs.info(inner)
    except FileNotFoundError:
        raise os_error(codes.ENOENT, url) from None
    kind = Kind.DIRECTORY if info.get("type") == "directory" else Kind.FILE
    mtime = _backend.stat_row(info)[1]
    mode = info.get("mode")
    return FileInfo(url, kind, int(info.get("size") or 0), int(mode) if mode is not None else None,
                    info.get("uid"), info.get("gid"), None, mtime if mtime >= 0 else None, None,
                    info.get("ino"), None, info.get("nlink"), None)
