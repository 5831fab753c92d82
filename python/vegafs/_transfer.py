"""The side effects of :func:`vegafs.shuffle`: copying and moving entries without going through links.

A local tree is reached through directory handles: its root as the caller named it (links in that
path are the caller's), everything below one component at a time with ``O_NOFOLLOW``, so a link
planted in a source or a destination (or swapped in while shuffle runs) is refused instead of
followed. Entries are read, linked, renamed and removed relative to those handles; a link inside a
structure is carried as a link. A source is only removed once its data is in place at the destination
(renamed there, or copied, size-checked and renamed there). fsspec trees have no handles and (mostly)
no links: there the guarantees are the path checks made while planning (docs/patterns.md).
"""
from __future__ import annotations

import errno as codes
import os
import posixpath
import stat
import uuid
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple, Optional, cast

from . import _backend

Parts = tuple[str, ...]
Identity = tuple[int, int]  # (st_dev, st_ino)

_DIRECTORY = os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)  # O_PATH: search, no read right
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a FIFO swapped in never blocks
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Errors of link() and rename() after which a move falls back to copy-then-remove.
_NO_IN_PLACE_MOVE = {codes.EXDEV, codes.EPERM, codes.EMLINK, codes.ENOTSUP, codes.EOPNOTSUPP, codes.ENOSYS}
_CHUNK = 1 << 20


@dataclass
class ShuffleItem:
    """One file of a shuffle: ``status`` is planned (dry run), done, skipped (the destination exists) or
    failed (``error`` says why; the source is left in place)."""

    source: str
    destination: str
    bytes: int
    status: str
    error: Optional[str] = None


class Refused(Exception):
    """An entry (or a whole structure) that is not transferred; the message says why."""


class Found(NamedTuple):
    """What is at a path, never through a link: kind is file, link, directory or other."""

    kind: str
    size: int
    identity: Optional[Identity] = None  # local only
    mtime_ns: Optional[int] = None  # local only


class Endpoint(NamedTuple):
    """A tree root: a local path (``fs`` None) or a path of an fsspec filesystem."""

    fs: Any
    path: str

    @classmethod
    def of(cls, text: str) -> "Endpoint":
        """``file://`` URLs are local paths here, so that they get the local guarantees."""
        if not _backend.is_fsspec(text):
            return cls(None, text)
        fs, inner = _backend.resolve(text)
        return cls(None, inner) if "file" in _protocols(fs) else cls(fs, inner)

    def key(self) -> str:
        """The root's name independent of its spelling, to compare places while planning: links in the
        root's own path are resolved, as they are followed when the tree is opened (the components
        below it, never followed, are joined to this literally)."""
        if self.fs is None:
            return os.path.realpath(self.path)
        return str(self.fs.unstrip_protocol(self.path))


def _protocols(fs: Any) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def within(key: str, other: str) -> bool:
    """Is the place ``key`` the place ``other`` or below it?"""
    return key == other or key.startswith(other.rstrip("/") + "/")


@dataclass(eq=False)
class Structure:
    """One matched directory to transfer: the source root, the destination base (taken as given) and
    the components from the base to the structure's destination directory, and its entries."""

    source: Endpoint
    base: Endpoint
    below: Parts
    entries: list[tuple[Parts, ShuffleItem]] = field(default_factory=list)


def _identity(status: os.stat_result) -> Identity:
    return status.st_dev, status.st_ino


def _found(status: os.stat_result) -> Found:
    mode = status.st_mode
    kind = ("file" if stat.S_ISREG(mode) else "link" if stat.S_ISLNK(mode) else
            "directory" if stat.S_ISDIR(mode) else "other")
    return Found(kind, status.st_size, _identity(status), status.st_mtime_ns)


class LocalTree:
    """Handles on a local tree's directories: the root as given, every directory below it without
    following links (and created with ``create``). Only the handles on the path to the directory
    used last are kept, so entries visited in sorted order open each directory once, and a wide tree
    never runs out of file descriptors."""

    def __init__(self, root: str, create: bool) -> None:
        self.root = root
        self.create = create
        if create:
            os.makedirs(root, exist_ok=True)
        try:
            fd: Optional[int] = os.open(root, _DIRECTORY)
        except FileNotFoundError:
            if create:
                raise
            fd = None
        self._fds: dict[Parts, Optional[int]] = {(): fd}

    def close(self) -> None:
        for fd in self._fds.values():
            if fd is not None:
                os.close(fd)
        self._fds.clear()

    def directory(self, parts: Parts) -> Optional[int]:
        """The handle of ``parts`` (None when it does not exist and is not created)."""
        if parts in self._fds:
            return self._fds[parts]
        for other in [p for p in self._fds if p and p != parts[:len(p)]]:
            fd = self._fds.pop(other)
            if fd is not None:
                os.close(fd)
        parent = self.directory(parts[:-1])
        fd = None if parent is None else self._open_below(parent, parts)
        self._fds[parts] = fd
        return fd

    def _open_below(self, parent: int, parts: Parts) -> Optional[int]:
        name = parts[-1]
        if self.create:
            try:
                os.mkdir(name, dir_fd=parent)
            except FileExistsError:
                pass
        try:
            return os.open(name, _DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        except FileNotFoundError:
            if self.create:
                raise
            return None
        except OSError as error:
            if error.errno not in (codes.ENOTDIR, codes.ELOOP, codes.EMLINK):  # what O_NOFOLLOW gives for a link
                raise
            path = posixpath.join(self.root, *parts)
            try:
                link = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
            except OSError:
                raise error from None
            if link:
                raise Refused(f"{path} is a symbolic link: shuffle never goes through links") from None
            raise Refused(f"{path} is not a directory") from None

    def find(self, parts: Parts) -> Optional[Found]:
        directory = self.directory(parts[:-1])
        if directory is None:
            return None
        try:
            return _found(os.stat(parts[-1], dir_fd=directory, follow_symlinks=False))
        except FileNotFoundError:
            return None

    def ancestry(self, parts: Parts) -> set[Identity]:
        """The identities of ``parts`` (or of its nearest existing ancestor) and of all directories
        above it, found through ``..``: links cannot disguise where a directory really is."""
        while self.directory(parts) is None and parts:
            parts = parts[:-1]
        start = self.directory(parts)
        if start is None:
            return set()
        seen: set[Identity] = set()
        current = os.open(".", _DIRECTORY, dir_fd=start)
        try:
            while True:
                identity = _identity(os.fstat(current))
                if identity in seen:  # "/" is its own parent
                    return seen
                seen.add(identity)
                parent = os.open("..", _DIRECTORY, dir_fd=current)
                os.close(current)
                current = parent
        finally:
            os.close(current)

    # Reading and removing (as a source).
    def reader(self, parts: Parts, found: Found) -> BinaryIO:
        fd = os.open(parts[-1], _READ, dir_fd=self._existing(parts[:-1]))
        try:
            opened = os.fstat(fd)
            if _identity(opened) != found.identity or not stat.S_ISREG(opened.st_mode):
                raise Refused("the source changed before it was copied; left in place")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb", buffering=0)
        except BaseException:
            os.close(fd)
            raise

    def link_target(self, parts: Parts) -> str:
        return os.readlink(parts[-1], dir_fd=self._existing(parts[:-1]))

    def remove(self, parts: Parts, found: Found) -> None:
        """Unlinks the entry, unless another one took its name since ``found`` was taken."""
        directory = self._existing(parts[:-1])
        now = os.stat(parts[-1], dir_fd=directory, follow_symlinks=False)
        if _identity(now) != found.identity:
            raise Refused("the source was replaced while it was moved; the copy is in place, the new source is left")
        os.unlink(parts[-1], dir_fd=directory)

    def _existing(self, parts: Parts) -> int:
        directory = self.directory(parts)
        if directory is None:
            raise FileNotFoundError(codes.ENOENT, "No such directory", posixpath.join(self.root, *parts))
        return directory

    # Writing (as a destination): a temporary entry beside the destination, then placed.
    def temporary_name(self, parts: Parts) -> str:
        return f".{parts[-1]}.vegafs-{uuid.uuid4().hex[:12]}"

    def write(self, parts: Parts, temporary: str, reader: BinaryIO) -> int:
        """Copies ``reader`` into ``temporary``, with the source's mode, times and extended attributes
        when the source is a local file (as shutil.copy2); returns the size of the copy."""
        fd = os.open(temporary, _CREATE, 0o600, dir_fd=self._existing(parts[:-1]))
        with os.fdopen(fd, "wb", buffering=0) as writer:
            _pump(reader, writer)
            source_fd = _fileno(reader)
            if source_fd is not None:
                _copy_metadata(source_fd, fd)
            return os.fstat(fd).st_size

    def write_link(self, parts: Parts, temporary: str, target: str, like: Found) -> None:
        directory = self._existing(parts[:-1])
        os.symlink(target, temporary, dir_fd=directory)
        if like.mtime_ns is not None and os.utime in os.supports_follow_symlinks:
            os.utime(temporary, ns=(like.mtime_ns, like.mtime_ns), dir_fd=directory, follow_symlinks=False)

    def place(self, parts: Parts, temporary: str, overwrite: bool) -> Optional[Identity]:
        """Renames ``temporary`` to the destination; without ``overwrite`` with link(), which fails
        (FileExistsError) rather than replace an entry that appeared meanwhile."""
        directory = self._existing(parts[:-1])
        if overwrite:
            os.replace(temporary, parts[-1], src_dir_fd=directory, dst_dir_fd=directory)
        else:
            os.link(temporary, parts[-1], src_dir_fd=directory, dst_dir_fd=directory, follow_symlinks=False)
        return _identity(os.stat(parts[-1], dir_fd=directory, follow_symlinks=False))

    def discard(self, parts: Parts, temporary: str) -> None:
        directory = self.directory(parts[:-1])
        if directory is not None:
            try:
                os.unlink(temporary, dir_fd=directory)
            except FileNotFoundError:
                pass


class FsspecTree:
    """The same operations on an fsspec filesystem, by path: no handles, no links to refuse."""

    def __init__(self, endpoint: Endpoint, create: bool) -> None:
        self.fs = endpoint.fs
        self.root = endpoint.path.rstrip("/") or "/"
        self.create = create

    def close(self) -> None:
        pass

    def path(self, parts: Parts) -> str:
        return posixpath.join(self.root, *parts)

    def directory(self, parts: Parts) -> Optional[str]:
        if self.create:
            self.fs.makedirs(self.path(parts), exist_ok=True)
        return self.path(parts)

    def find(self, parts: Parts) -> Optional[Found]:
        try:
            info = self.fs.info(self.path(parts))
        except FileNotFoundError:
            return None
        kind = {"file": "file", "directory": "directory"}.get(info.get("type"), "other")
        return Found(kind, int(info.get("size") or 0))

    def ancestry(self, parts: Parts) -> set[Identity]:
        return set()

    def reader(self, parts: Parts, found: Found) -> BinaryIO:
        return cast(BinaryIO, self.fs.open(self.path(parts), "rb"))

    def link_target(self, parts: Parts) -> str:
        raise Refused("links are only carried between local trees")

    def remove(self, parts: Parts, found: Found) -> None:
        self.fs.rm(self.path(parts))

    def temporary_name(self, parts: Parts) -> str:
        return self.path(parts[:-1] + (f".{parts[-1]}.vegafs-{uuid.uuid4().hex[:12]}",))

    def write(self, parts: Parts, temporary: str, reader: BinaryIO) -> int:
        self.directory(parts[:-1])
        with self.fs.open(temporary, "wb") as writer:
            _pump(reader, writer)
        return int(self.fs.size(temporary))

    def write_link(self, parts: Parts, temporary: str, target: str, like: Found) -> None:
        raise Refused("links are only carried between local trees")

    def place(self, parts: Parts, temporary: str, overwrite: bool) -> Optional[Identity]:
        if not overwrite and self.fs.exists(self.path(parts)):
            raise FileExistsError(codes.EEXIST, "File exists", self.path(parts))
        self.fs.mv(temporary, self.path(parts))
        return None

    def discard(self, parts: Parts, temporary: str) -> None:
        if self.fs.exists(temporary):
            self.fs.rm(temporary)


Tree = Any  # LocalTree or FsspecTree


def open_tree(endpoint: Endpoint, create: bool) -> Tree:
    return LocalTree(endpoint.path, create) if endpoint.fs is None else FsspecTree(endpoint, create)


def _fileno(handle: Any) -> Optional[int]:
    try:
        return int(handle.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def _pump(reader: BinaryIO, writer: BinaryIO) -> int:
    """Copies everything; between two local files in the kernel (sendfile) when it can."""
    source, target = _fileno(reader), _fileno(writer)
    copied = 0
    if source is not None and target is not None and hasattr(os, "sendfile"):
        try:
            while True:
                sent = os.sendfile(target, source, copied, _CHUNK * 8)
                if sent == 0:
                    return copied
                copied += sent
        except OSError as error:
            if copied or error.errno not in (codes.EINVAL, codes.ENOSYS, codes.ENOTSUP, codes.EOPNOTSUPP):
                raise
    while True:
        chunk = reader.read(_CHUNK)
        if not chunk:
            return copied
        writer.write(chunk)
        copied += len(chunk)


def _copy_metadata(source: int, target: int) -> None:
    """What shutil.copy2 keeps: extended attributes (as far as allowed), mode, access and modification times."""
    if hasattr(os, "listxattr"):
        try:
            names = os.listxattr(source)
        except OSError as error:
            if error.errno not in (codes.ENOTSUP, codes.ENODATA, codes.EINVAL):
                raise
            names = []
        for name in names:
            try:
                os.setxattr(target, name, os.getxattr(source, name))
            except OSError as error:
                if error.errno not in (codes.EPERM, codes.ENOTSUP, codes.ENODATA, codes.EINVAL, codes.EACCES):
                    raise
    status = os.fstat(source)
    os.fchmod(target, stat.S_IMODE(status.st_mode))
    os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))


@dataclass
class Options:
    dryrun: bool
    overwrite: bool
    move: bool
    written: set[Identity] = field(default_factory=set)  # local destinations this shuffle created


def run(structures: list[Structure], options: Options) -> None:
    """Transfers every entry not already failed while planning, filling in its item."""
    for structure in structures:
        pending = [(parts, item) for parts, item in structure.entries if item.status == "pending"]
        if not pending:
            continue
        source = destination = None
        try:
            source = open_tree(structure.source, create=False)
            destination = open_tree(structure.base, create=not options.dryrun)
            _check_overlap(source, destination, structure.below)
            for parts, item in pending:
                _settle(item, source, destination, structure.below + parts, parts, options)
        except (Refused, OSError) as error:
            for _, item in pending:
                if item.status == "pending":
                    _fail(item, error)
        finally:
            for tree in (source, destination):
                if tree is not None:
                    tree.close()


def _check_overlap(source: Tree, destination: Tree, below: Parts) -> None:
    """Refuses a structure whose destination is, or is inside, its source, or whose source is inside
    its destination, by the identities of the directories (local trees; planning checked the paths)."""
    if not (isinstance(source, LocalTree) and isinstance(destination, LocalTree)):
        return
    source_root = source.directory(())
    if source_root is None:
        raise Refused(f"the source {source.root} is gone")
    above_source = source.ancestry(())
    source_identity = _identity(os.fstat(source_root))
    if source_identity in destination.ancestry(below[:-1]):
        raise Refused(f"the destination is inside the source {source.root}")
    target = destination.directory(below)
    if target is not None:
        target_identity = _identity(os.fstat(target))
        if target_identity == source_identity:
            raise Refused("the destination is the source itself")
        if target_identity in above_source:
            raise Refused("the source is inside the destination")


def _fail(item: ShuffleItem, error: BaseException) -> None:
    item.status = "failed"
    item.error = str(error) if isinstance(error, Refused) else f"{type(error).__name__}: {error}"


def _settle(item: ShuffleItem, source: Tree, destination: Tree, target: Parts, parts: Parts, options: Options) -> None:
    try:
        item.status, item.error = _transfer(item, source, destination, target, parts, options)
    except FileExistsError:  # a destination that appeared meanwhile is never replaced without overwrite
        item.status, item.error = "skipped", "destination exists"
    except (Refused, OSError) as error:
        _fail(item, error)


def _transfer(item: ShuffleItem, source: Tree, destination: Tree, target: Parts, parts: Parts,
              options: Options) -> tuple[str, Optional[str]]:
    found = source.find(parts)
    if found is None:
        raise Refused("the source is gone")
    item.bytes = found.size
    if found.kind == "directory":
        raise Refused("the source is a directory now")
    existing = destination.find(target)
    if existing is not None:
        if existing.identity is not None and existing.identity == found.identity:
            raise Refused("the destination is the source file itself")
        if existing.identity in options.written:
            raise Refused("collision: an earlier file of this shuffle was written to the same destination")
        if existing.kind == "directory":
            raise Refused("the destination is a directory")
        if not options.overwrite:
            return "skipped", "destination exists"
    if options.dryrun:
        return "planned", None
    if options.move and isinstance(source, LocalTree) and isinstance(destination, LocalTree):
        placed = _move_in_place(source, destination, target, parts, found, replace=existing is not None)
        if placed is not None:
            options.written.add(placed)
            return "done", None
    placed = _copy(source, destination, target, parts, found, options.overwrite)
    if placed is not None:
        options.written.add(placed)
    if options.move:
        source.remove(parts, found)
    return "done", None


def _move_in_place(source: LocalTree, destination: LocalTree, target: Parts, parts: Parts, found: Found,
                   replace: bool) -> Optional[Identity]:
    """Moves the entry by renaming it (on one filesystem): its data never leaves the disk. Without a
    destination to replace, link() then unlink(), so that an entry appearing meanwhile is never
    replaced. None when this filesystem cannot (another device, no hard links): then copy."""
    source_directory = source._existing(parts[:-1])
    target_directory = destination._existing(target[:-1])
    try:
        if replace:
            os.replace(parts[-1], target[-1], src_dir_fd=source_directory, dst_dir_fd=target_directory)
            return found.identity
        os.link(parts[-1], target[-1], src_dir_fd=source_directory, dst_dir_fd=target_directory,
                follow_symlinks=False)
    except OSError as error:
        if error.errno in _NO_IN_PLACE_MOVE:
            return None
        raise
    placed = destination.find(target)
    if placed is None or placed.identity != found.identity:
        raise Refused("the source was replaced while it was moved; the new source is left in place")
    source.remove(parts, found)
    return placed.identity


def _copy(source: Tree, destination: Tree, target: Parts, parts: Parts, found: Found,
          overwrite: bool) -> Optional[Identity]:
    """Copies the entry to a temporary name beside the destination, checks it is whole, renames it into place."""
    if found.kind not in ("file", "link"):
        raise Refused("not a regular file or a symbolic link: not copied")
    temporary = destination.temporary_name(target)
    try:
        if found.kind == "link":
            destination.write_link(target, temporary, source.link_target(parts), found)
        else:
            with source.reader(parts, found) as reader:
                size = destination.write(target, temporary, reader)
                if _changed(reader, found):
                    raise Refused("the source changed while it was copied; nothing was placed, the source is left")
            if size != found.size:
                raise Refused(f"the copy has {size} bytes, the source {found.size}; nothing was placed, the source is left")
        placed: Optional[Identity] = destination.place(target, temporary, overwrite)
        return placed
    finally:
        destination.discard(target, temporary)


def _changed(reader: BinaryIO, found: Found) -> bool:
    source = _fileno(reader)
    if source is None or found.mtime_ns is None:
        return False
    now = os.fstat(source)
    return now.st_size != found.size or now.st_mtime_ns != found.mtime_ns

