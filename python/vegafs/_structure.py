"""pathvein's directory-structure patterns: ``FileStructurePattern``, ``scan``, ``assess`` and ``shuffle``.

A directory matches a pattern when its name matches ``directory_name`` (if set), every glob in ``files``
matches at least one file in it, and every pattern in ``directories`` matches at least one of its
subdirectories (recursively). ``optional_files`` and ``optional_directories`` never decide a match; they
only add to what :func:`shuffle` copies. File globs follow docs/patterns.md and match file names.
"""
from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Union

from . import _backend
from ._patterns import PatternMatcher
from ._walk import walk

Listing = tuple[list[str], list[str]]  # (dirnames, filenames)
PathArg = Union[str, "os.PathLike[str]"]


class PatternError(ValueError):
    """A pattern (or its JSON) is invalid; the message names the field, e.g. ``directories[0].files[1]``."""


@dataclass(eq=False)
class FileStructurePattern:
    """The shape of a directory: its name, the files and subdirectories it must (or may) hold."""

    directory_name: Optional[str] = None
    files: list[str] = field(default_factory=list)
    directories: list["FileStructurePattern"] = field(default_factory=list)
    optional_files: list[str] = field(default_factory=list)
    optional_directories: list["FileStructurePattern"] = field(default_factory=list)

    # Builders (each returns the pattern, so calls chain).
    def set_directory_name(self, name: Optional[str]) -> "FileStructurePattern":
        self.directory_name = name
        return self

    def add_file(self, pattern: str, is_optional: bool = False) -> "FileStructurePattern":
        (self.optional_files if is_optional else self.files).append(pattern)
        return self

    def add_files(self, patterns: Iterable[str], is_optional: bool = False) -> "FileStructurePattern":
        for pattern in patterns:
            self.add_file(pattern, is_optional)
        return self

    def add_directory(self, pattern: "FileStructurePattern", is_optional: bool = False) -> "FileStructurePattern":
        (self.optional_directories if is_optional else self.directories).append(pattern)
        return self

    def add_directories(self, patterns: Iterable["FileStructurePattern"], is_optional: bool = False) -> "FileStructurePattern":
        for pattern in patterns:
            self.add_directory(pattern, is_optional)
        return self

    # JSON.
    def to_dict(self) -> dict[str, Any]:
        return {
            "directory_name": self.directory_name, "files": list(self.files),
            "directories": [d.to_dict() for d in self.directories], "optional_files": list(self.optional_files),
            "optional_directories": [d.to_dict() for d in self.optional_directories],
        }

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any, where: str = "pattern") -> "FileStructurePattern":
        """A pattern from parsed JSON; wrong types or unknown fields raise PatternError naming the field."""
        if not isinstance(data, dict):
            raise PatternError(f"{where}: expected an object, not {type(data).__name__}")
        unknown = set(data) - {"directory_name", "files", "directories", "optional_files", "optional_directories"}
        if unknown:
            raise PatternError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        name = data.get("directory_name")
        if name is not None and not isinstance(name, str):
            raise PatternError(f"{where}.directory_name: expected a string or null, not {type(name).__name__}")
        pattern = cls(directory_name=name)
        for key in ("files", "optional_files"):
            values = data.get(key, [])
            if not isinstance(values, list):
                raise PatternError(f"{where}.{key}: expected a list of globs, not {type(values).__name__}")
            for i, value in enumerate(values):
                if not isinstance(value, str):
                    raise PatternError(f"{where}.{key}[{i}]: expected a glob string, not {type(value).__name__}")
            setattr(pattern, key, list(values))
        for key in ("directories", "optional_directories"):
            values = data.get(key, [])
            if not isinstance(values, list):
                raise PatternError(f"{where}.{key}: expected a list of patterns, not {type(values).__name__}")
            setattr(pattern, key, [cls.from_dict(v, f"{where}.{key}[{i}]") for i, v in enumerate(values)])
        pattern.validate(where)
        return pattern

    @classmethod
    def from_json(cls, text: str) -> "FileStructurePattern":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise PatternError(f"pattern JSON is malformed: {error}") from error
        return cls.from_dict(data)

    @classmethod
    def load_json(cls, path: PathArg) -> "FileStructurePattern":
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        try:
            return cls.from_json(text)
        except PatternError as error:
            raise PatternError(f"{os.fspath(path)}: {error}") from error

    def validate(self, where: str = "pattern") -> None:
        """Checks every glob; raises PatternError naming the field and, for a bad glob, the position."""
        globs = [("directory_name", self.directory_name)] if self.directory_name is not None else []
        globs += [(f"files[{i}]", g) for i, g in enumerate(self.files)]
        globs += [(f"optional_files[{i}]", g) for i, g in enumerate(self.optional_files)]
        for name, glob in globs:
            try:
                PatternMatcher([glob])
            except ValueError as error:
                raise PatternError(f"{where}.{name}: {error}") from error
        for key in ("directories", "optional_directories"):
            for i, child in enumerate(getattr(self, key)):
                if not isinstance(child, FileStructurePattern):
                    raise PatternError(f"{where}.{key}[{i}]: expected a FileStructurePattern, not {type(child).__name__}")
                child.validate(f"{where}.{key}[{i}]")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileStructurePattern) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    # Matching.
    def matches(self, directory: PathArg) -> bool:
        """Does the directory match this pattern?"""
        return self.explain(directory).matched

    def explain(self, directory: PathArg) -> "Explanation":
        """Why the directory does or does not match: every missing file or subdirectory, by field."""
        path = _text(directory)
        compiled = _Compiled(self)
        reasons: list[str] = []
        matched = compiled.check(path, _basename(path), _Lister(path), reasons, "pattern")
        return Explanation(path, matched, reasons)


@dataclass(frozen=True)
class Explanation:
    """The result of :meth:`FileStructurePattern.explain`. ``str()`` gives a readable account."""

    directory: str
    matched: bool
    reasons: list[str]

    def __bool__(self) -> bool:
        return self.matched

    def __str__(self) -> str:
        if self.matched:
            return f"{self.directory} matches"
        return f"{self.directory} does not match:\n" + "\n".join(f"  - {r}" for r in self.reasons)


class _Compiled:
    """A pattern's globs compiled once, for matching many directories."""

    def __init__(self, pattern: FileStructurePattern) -> None:
        self.pattern = pattern
        self.name = PatternMatcher([pattern.directory_name]) if pattern.directory_name else None
        self.required = [(glob, PatternMatcher([glob])) for glob in pattern.files]
        every = pattern.files + pattern.optional_files
        self.all_files = PatternMatcher(every) if every else None
        self.directories = [_Compiled(d) for d in pattern.directories]
        self.optional_directories = [_Compiled(d) for d in pattern.optional_directories]

    def check(self, path: str, name: str, lister: "_Lister", reasons: Optional[list[str]], where: str) -> bool:
        if self.name is not None and not self.name.matches(name):
            if reasons is not None:
                reasons.append(f"{where}.directory_name: {name!r} does not match {self.pattern.directory_name!r}")
            return False
        listing = lister(path)
        if listing is None:
            if reasons is not None:
                reasons.append(f"{where}: {path} cannot be listed")
            return False
        dirnames, filenames = listing
        ok = True
        for i, (glob, matcher) in enumerate(self.required):
            if not matcher.filter(filenames):
                if reasons is None:
                    return False
                reasons.append(f"{where}.files[{i}]: no file matches {glob!r}")
                ok = False
        for i, child in enumerate(self.directories):
            if not any(child.check(_join(path, d), d, lister, None, "") for d in dirnames):
                if reasons is None:
                    return False
                label = f" ({child.pattern.directory_name})" if child.pattern.directory_name else ""
                reasons.append(f"{where}.directories[{i}]{label}: no subdirectory matches")
                nearest = [d for d in dirnames if child.name is None or child.name.matches(d)]
                for d in nearest[:3]:
                    child.check(_join(path, d), d, lister, reasons, f"{d}/: {where}.directories[{i}]")
                ok = False
        return ok

    def covered(self, path: str, lister: "_Lister") -> list[str]:
        """The files (relative to ``path``) this pattern takes from a matching directory."""
        listing = lister(path)
        if listing is None:
            return []
        dirnames, filenames = listing
        out = self.all_files.filter(filenames) if self.all_files else []
        for child in self.directories + self.optional_directories:
            for d in dirnames:
                sub = _join(path, d)
                if child.check(sub, d, lister, None, ""):
                    out.extend(f"{d}/{f}" for f in child.covered(sub, lister))
        return out


class _Lister:
    """Directory listings, read once: from a whole-tree walk (scan) or directory by directory (explain, assess)."""

    def __init__(self, root: str, tree: Optional[dict[str, Listing]] = None) -> None:
        self._remote = _backend.is_fsspec(root)
        self._cache: dict[str, Optional[Listing]] = dict(tree or {})

    def __call__(self, path: str) -> Optional[Listing]:
        if path not in self._cache:
            self._cache[path] = self._read(path)
        return self._cache[path]

    def _read(self, path: str) -> Optional[Listing]:
        try:
            if self._remote:
                triple = next(iter(walk(path, max_depth=1)), None)
                return (triple[1], triple[2]) if triple else None
            with os.scandir(path) as entries:
                dirs: list[str] = []
                files: list[str] = []
                for entry in entries:
                    (dirs if entry.is_dir() else files).append(entry.name)
                return dirs, files
        except OSError:
            return None


def _text(path: PathArg) -> str:
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError("structure patterns work on str paths and URLs, not bytes")
    return text.rstrip("/") or "/"


def _join(path: str, name: str) -> str:
    return f"{path}{'' if path.endswith('/') else '/'}{name}"


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) or path


class StructureMatch(NamedTuple):
    """A directory that matches a pattern (pathvein's ``ScanResult``)."""

    source: Any  # str, or the PathLike type the caller gave
    pattern: FileStructurePattern


def _typed(original: PathArg, path: str) -> Any:
    return path if isinstance(original, str) else type(original)(path)  # type: ignore[call-arg]


def scan(source: PathArg, patterns: Iterable[FileStructurePattern] | FileStructurePattern) -> set[StructureMatch]:
    """Every directory below (and including) ``source`` that matches one of ``patterns``. The tree is
    read once by the native parallel walk (or fsspec for URLs); each pattern's globs are compiled once."""
    root = _text(source)
    pattern_list = [patterns] if isinstance(patterns, FileStructurePattern) else list(patterns)
    for i, pattern in enumerate(pattern_list):
        pattern.validate(f"patterns[{i}]")
    tree = {dirpath: (dirnames, filenames) for dirpath, dirnames, filenames in walk(root)}
    lister = _Lister(root, tree)
    compiled = [_Compiled(p) for p in pattern_list]
    found: set[StructureMatch] = set()
    for dirpath in tree:
        for c in compiled:
            if c.check(dirpath, _basename(dirpath), lister, None, ""):
                found.add(StructureMatch(_typed(source, dirpath), c.pattern))
    return found


def assess(file: PathArg, patterns: Iterable[FileStructurePattern] | FileStructurePattern) -> Iterator[StructureMatch]:
    """The pattern roots ``file`` belongs to: each ancestor directory that matches a pattern which takes
    the file (as a required or optional file, at any depth), nearest first."""
    path = _text(file)
    pattern_list = [patterns] if isinstance(patterns, FileStructurePattern) else list(patterns)
    compiled = [_Compiled(p) for p in pattern_list]
    lister = _Lister(path)
    ancestor = path
    while True:
        parent = posixpath.dirname(ancestor.rstrip("/"))
        if not parent or parent == ancestor or parent.endswith("://"):
            return
        ancestor = parent
        relative = path[len(ancestor):].lstrip("/")
        for c in compiled:
            if c.check(ancestor, _basename(ancestor), lister, None, "") and relative in c.covered(ancestor, lister):
                yield StructureMatch(_typed(file, ancestor), c.pattern)


@dataclass
class ShuffleItem:
    """One file of a shuffle: ``status`` is planned (dry run), done, skipped (the destination exists) or
    failed (``error`` says why; nothing is left at the destination)."""

    source: str
    destination: str
    bytes: int
    status: str
    error: Optional[str] = None


@dataclass
class ShuffleReport:
    """What :func:`shuffle` did (or, with ``dryrun``, would do), file by file."""

    items: list[ShuffleItem]
    dryrun: bool
    move: bool

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def bytes(self) -> int:
        return sum(item.bytes for item in self.items if item.status in ("planned", "done"))

    @property
    def failed(self) -> list[ShuffleItem]:
        return [item for item in self.items if item.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"dryrun": self.dryrun, "move": self.move, "bytes": self.bytes,
                "counts": {s: self.count(s) for s in ("planned", "done", "skipped", "failed")},
                "items": [vars(item) for item in self.items]}

    def __str__(self) -> str:
        verb = "would " + ("move" if self.move else "copy") if self.dryrun else ("moved" if self.move else "copied")
        done = self.count("planned") if self.dryrun else self.count("done")
        return (f"{verb} {done} files ({self.bytes:,} bytes); skipped {self.count('skipped')}, "
                f"failed {self.count('failed')}")


Destination = Union[PathArg, Callable[[StructureMatch], PathArg]]


def shuffle(matches: Iterable[StructureMatch], destination: Destination, *, dryrun: bool = False,
            overwrite: bool = False, move: bool = False) -> ShuffleReport:
    """Copy (or ``move``) each matched structure's files to a destination: ``destination / <source name>``
    when ``destination`` is a path, or the path a callable returns for the match.

    Each file is written to a temporary name beside its destination and renamed into place, so a failed
    copy (a full disk, a vanished source) never leaves a partial file. Existing destination files are
    skipped unless ``overwrite``. A destination inside a source structure is refused before anything is
    written. ``dryrun`` plans without writing. Per-file results are in the report; nothing is raised
    for a single file.
    """
    plan: list[tuple[str, str]] = []
    for match in matches:
        source = _text(match.source)
        target = _text(destination(match) if callable(destination) else _join(_text(destination), _basename(source)))
        if _inside(target, source):
            raise ValueError(f"the destination {target} is inside the source {source}")
        lister = _Lister(source)
        for relative in _Compiled(match.pattern).covered(source, lister):
            plan.append((_join(source, relative), _join(target, relative)))
    items = []
    for src, dst in plan:
        size = _size(src)
        if _exists(dst) and not overwrite:
            items.append(ShuffleItem(src, dst, size, "skipped", "destination exists"))
        elif dryrun:
            items.append(ShuffleItem(src, dst, size, "planned"))
        else:
            items.append(_transfer(src, dst, size, overwrite, move))
    return ShuffleReport(items, dryrun, move)


def _inside(path: str, directory: str) -> bool:
    if not _backend.is_fsspec(path) and not _backend.is_fsspec(directory):
        path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _size(path: str) -> int:
    try:
        if _backend.is_fsspec(path):
            fs, inner = _backend.resolve(path)
            return int(fs.size(inner) or 0)
        return os.lstat(path).st_size
    except OSError:
        return 0


def _exists(path: str) -> bool:
    if _backend.is_fsspec(path):
        fs, inner = _backend.resolve(path)
        return bool(fs.exists(inner))
    return os.path.lexists(path)


def _transfer(src: str, dst: str, size: int, overwrite: bool, move: bool) -> ShuffleItem:
    try:
        if _backend.is_fsspec(src) or _backend.is_fsspec(dst):
            _copy_fsspec(src, dst, overwrite)
        else:
            _copy_local(src, dst, overwrite)
        if move:
            _remove(src)
        return ShuffleItem(src, dst, size, "done")
    except FileExistsError:
        return ShuffleItem(src, dst, size, "skipped", "destination exists")
    except OSError as error:
        return ShuffleItem(src, dst, size, "failed", f"{type(error).__name__}: {error}")


def _copy_local(src: str, dst: str, overwrite: bool) -> None:
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    temporary = os.path.join(os.path.dirname(dst), f".{os.path.basename(dst)}.vegafs-{uuid.uuid4().hex[:12]}")
    try:
        shutil.copy2(src, temporary, follow_symlinks=False)
        if overwrite:
            os.replace(temporary, dst)
        else:
            os.link(temporary, dst, follow_symlinks=False)  # fails if dst appeared meanwhile: never clobbers
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _copy_fsspec(src: str, dst: str, overwrite: bool) -> None:
    dst_fs, target = _backend.resolve(dst) if _backend.is_fsspec(dst) else (None, dst)
    temporary = posixpath.join(posixpath.dirname(target), f".{posixpath.basename(target)}.vegafs-{uuid.uuid4().hex[:12]}")
    opener = _backend.opener(src)
    try:
        if dst_fs is None:
            os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
            with opener() as reader, open(temporary, "xb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
            if not overwrite and os.path.lexists(dst):
                raise FileExistsError(dst)
            os.replace(temporary, dst)
            return
        dst_fs.makedirs(posixpath.dirname(target), exist_ok=True)
        with opener() as reader, dst_fs.open(temporary, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        if not overwrite and dst_fs.exists(target):
            raise FileExistsError(dst)
        dst_fs.mv(temporary, target)
    finally:
        if dst_fs is None:
            if os.path.lexists(temporary):
                os.unlink(temporary)
        elif dst_fs.exists(temporary):
            dst_fs.rm(temporary)


def _remove(path: str) -> None:
    if _backend.is_fsspec(path):
        fs, inner = _backend.resolve(path)
        fs.rm(inner)
    else:
        os.unlink(path)


def shuffle_to(matches: Iterable[StructureMatch], destination: PathArg, *, dryrun: bool = False,
               overwrite: bool = False, move: bool = False) -> ShuffleReport:
    """pathvein's ``shuffle_to``: :func:`shuffle` into ``destination / <source name>``."""
    return shuffle(matches, destination, dryrun=dryrun, overwrite=overwrite, move=move)


def shuffle_with(matches: Iterable[StructureMatch], destination_fn: Callable[[StructureMatch], PathArg], *,
                 dryrun: bool = False, overwrite: bool = False, move: bool = False) -> ShuffleReport:
    """pathvein's ``shuffle_with``: :func:`shuffle` to the path ``destination_fn(match)``."""
    return shuffle(matches, destination_fn, dryrun=dryrun, overwrite=overwrite, move=move)
