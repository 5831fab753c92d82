"""Reading, atomic writing and file information (Vespera's file operations), for local paths and URLs.

Reading returns Python objects, so the I/O is Python's own: one unbuffered ``read`` into a buffer of
the file's size is the fastest way to a ``bytes`` object at most sizes, and never far behind (the
native library would have to copy into Python memory anyway). A memory map is faster only around
16 MiB, and is not used: a file truncated while mapped kills the process with SIGBUS. docs/files.md
has the measurements (scripts/bench_read.py) and the atomic-write protocol.
"""
from __future__ import annotations

import contextlib
import errno as codes
import os
import re
import secrets
import stat as stat_module
import sys
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
_DIRECTORY = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC  # enough for the *at calls; no read permission needed
_SYMLINK_HOPS = 40  # the kernel's limit before ELOOP
_NAME_MAX = 255
_RANDOM_HEX = 12
# A temporary name is ".<prefix>.<random hex>.tmp", the prefix cut so that it fits in NAME_MAX.
_TEMPORARY_PREFIX_MAX = _NAME_MAX - len(b"..") - _RANDOM_HEX - len(b".tmp")
_TEMPORARY_ATTEMPTS = 100


def _vega_error(error: OSError, path: Any) -> OSError:
    """The vegafs exception (a subclass of the builtin one) for an OSError, naming ``path``."""
    if error.errno is None:
        return error
    return os_error(error.errno, path, error.strerror)


def _open_regular(name: str | bytes) -> int:
    """A descriptor reading ``name``, which must be a regular file (a directory is EISDIR, any other kind
    EINVAL, as for hashing). O_NONBLOCK keeps the open of a FIFO without a writer from blocking; it is
    cleared once the file is known to be regular."""
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _require_regular(os.fstat(fd))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _require_regular(st: os.stat_result) -> None:
    if stat_module.S_ISREG(st.st_mode):
        return
    if stat_module.S_ISDIR(st.st_mode):
        raise OSError(codes.EISDIR, os.strerror(codes.EISDIR))
    kind = _KINDS.get(stat_module.S_IFMT(st.st_mode), Kind.UNKNOWN)
    raise OSError(codes.EINVAL, f"not a regular file ({kind})")


def _entry(name: str | bytes, directory: int | None = None) -> tuple[os.stat_result, str | bytes | None]:
    """The lstat of one directory entry and, if it is a symlink, its text: both from one open of the
    entry itself, so they describe the same inode even if the entry is being replaced."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    try:
        st = os.fstat(fd)
        if not stat_module.S_ISLNK(st.st_mode):
            return st, None
        text = os.readlink(b"", dir_fd=fd)
        return st, text if isinstance(name, bytes) else os.fsdecode(text)
    finally:
        os.close(fd)


def _url(path: str | bytes) -> str | None:
    return path if isinstance(path, str) and is_url(path) else None


def read_file_bytes(path: StrOrBytesPath) -> bytes:
    """The whole content of a regular file. Raises FileNotFoundError, IsADirectoryError, PermissionError
    (as vegafs errors naming ``path``), or an OSError with errno EINVAL for a FIFO, socket or device,
    which could block or never end. ``path`` may be an fsspec URL."""
    name = fspath(path)
    url = _url(name)
    if url is not None:
        return _fsspec_read(url)
    try:
        with open(_open_regular(name), "rb", buffering=0) as handle:
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
    large to hold in memory at once. Only regular files are read, as by :func:`read_file_bytes`."""
    if not isinstance(chunk_size, int):
        raise TypeError(f"chunk_size must be an int, not {type(chunk_size).__name__}")
    if not 1 <= chunk_size <= sys.maxsize:
        raise ValueError(f"chunk_size must be between 1 and sys.maxsize, not {chunk_size}")
    name = fspath(path)
    url = _url(name)
    try:
        opened: Any = _backend.opener(url)() if url is not None else open(_open_regular(name), "rb")
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
    Every step works on the directory opened once at the start, so a directory renamed or replaced
    meanwhile never strands the temporary file. Only a regular file (or nothing) is replaced: a
    directory raises IsADirectoryError, a FIFO, socket or device an OSError with errno EINVAL.
    A symlink at ``path`` is kept and its target file is replaced, except a link owned by another user
    (and not by the directory's owner) in a sticky world-writable directory such as /tmp: that raises
    PermissionError, as the kernel's ``fs.protected_symlinks`` would. If anything fails, the
    temporary file is removed and the target is untouched. str data is encoded with ``encoding``.

    For fsspec URLs the data is written with one ``pipe_file`` call: as atomic as the backend makes a
    single-object write (object stores and memory:// are; other backends may not be).
    """
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"data must be str or a bytes-like object, not {type(data).__name__}")
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    if mode is not None and (isinstance(mode, bool) or not isinstance(mode, int)):
        raise TypeError(f"mode must be an int such as 0o644, not {type(mode).__name__}")
    if mode is not None and not 0 <= mode <= 0o7777:
        raise ValueError(f"mode must be a permission value between 0 and 0o7777, not {mode:#o}")
    name = fspath(path)
    url = _url(name)
    if url is not None:
        fs, inner = _backend.resolve(url)
        fs.pipe_file(inner, payload)
        return
    try:
        directory, final, existing = _target(os.fsencode(name))
        try:
            if fsync:  # a directory is flushed through a descriptor open for reading (not O_PATH)
                readable = os.open(b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory)
                os.close(directory)
                directory = readable
            _replace(directory, final, existing, payload, mode, fsync)
        finally:
            os.close(directory)
    except OSError as error:
        raise _vega_error(error, name) from None


def _target(path: bytes) -> tuple[int, bytes, os.stat_result | None]:
    """The directory (an open descriptor), name and lstat (None: absent) of the regular file that
    writing ``path`` replaces. Symlinks at the final component are followed hop by hop, each from the
    directory holding it, and only where the kernel's fs.protected_symlinks rule allows."""
    parent, name = _split(path)
    directory = os.open(parent, _DIRECTORY)
    try:
        for _ in range(_SYMLINK_HOPS + 1):
            try:
                st, link = _entry(name, directory)
            except FileNotFoundError:
                return directory, name, None
            if link is None:
                _require_regular(st)
                return directory, name, st
            _check_may_follow(directory, st)
            parent, name = _split(os.fsencode(link), directory)
            following = os.open(parent, _DIRECTORY, dir_fd=directory)
            os.close(directory)
            directory = following
        raise OSError(codes.ELOOP, os.strerror(codes.ELOOP))
    except BaseException:
        os.close(directory)
        raise


def _split(path: bytes, directory: int | None = None) -> tuple[bytes, bytes]:
    """``path``'s parent directory and final name; a path naming a directory ("d/", ".", "/") is EISDIR,
    or the error its lookup gives."""
    parent, name = os.path.split(path)
    if name in (b"", b".", b".."):
        os.stat(path, dir_fd=directory)
        raise OSError(codes.EISDIR, os.strerror(codes.EISDIR))
    return parent or b".", name


def _check_may_follow(directory: int, link: os.stat_result) -> None:
    """The kernel's fs.protected_symlinks=1 rule, applied whatever the sysctl says: a symlink in a sticky
    world-writable directory is followed only if it belongs to the follower or to the directory's owner."""
    if link.st_uid == os.geteuid():
        return
    holder = os.fstat(directory)
    sticky_and_world_writable = stat_module.S_ISVTX | stat_module.S_IWOTH
    if holder.st_mode & sticky_and_world_writable != sticky_and_world_writable or holder.st_uid == link.st_uid:
        return
    raise OSError(codes.EACCES, "a symlink owned by another user in a sticky world-writable directory "
                                "is not followed (as under fs.protected_symlinks)")


def _replace(directory: int, name: bytes, existing: os.stat_result | None, payload: bytes,
             mode: int | None, fsync: bool) -> None:
    """Writes ``payload`` to a new temporary file in ``directory`` and renames it over ``name``."""
    temporary, fd = _create_temporary(directory, name, 0o600 if existing is not None or mode is not None else 0o666)
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
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=directory)
        raise
    if fsync:
        os.fsync(directory)


def _create_temporary(directory: int, name: bytes, mode: int) -> tuple[bytes, int]:
    """A new, unique hidden file beside ``name`` (same file system, so the rename is atomic): its name and
    a descriptor writing it. The name keeps as much of ``name`` as fits, cut between UTF-8 characters."""
    cut = _TEMPORARY_PREFIX_MAX
    while 0 < cut < len(name) and name[cut] & 0xC0 == 0x80:
        cut -= 1
    for _ in range(_TEMPORARY_ATTEMPTS):
        temporary = b"." + name[:cut] + b"." + secrets.token_hex(_RANDOM_HEX // 2).encode() + b".tmp"
        try:
            return temporary, os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode,
                                      dir_fd=directory)
        except FileExistsError:
            continue
    raise OSError(codes.EEXIST, "no free temporary name")


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
            "path": text(self.path), "kind": str(self.kind), "is_file": self.is_file, "is_dir": self.is_dir,
            "size": self.size, "mode": self.mode,
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
    try:
        st, target = _entry(name)
        if target is not None and follow_symlinks:
            st = os.stat(name)
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
