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
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Union

from . import _backend
from ._patterns import PatternMatcher
from ._transfer import Endpoint, Options, Structure, run, within
from ._transfer import ShuffleItem as ShuffleItem  # public as vegafs.ShuffleItem
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

    def __post_init__(self) -> None:
        _check_name(self.directory_name)
        for key in ("files", "optional_files"):
            setattr(self, key, _listed(getattr(self, key), key, _check_glob))
        for key in ("directories", "optional_directories"):
            setattr(self, key, _listed(getattr(self, key), key, _check_pattern))

    # Builders (each returns the pattern, so calls chain).
    def set_directory_name(self, name: Optional[str]) -> "FileStructurePattern":
        self.directory_name = _check_name(name)
        return self

    def add_file(self, pattern: str, is_optional: bool = False) -> "FileStructurePattern":
        (self.optional_files if is_optional else self.files).append(_check_glob(pattern, "add_file"))
        return self

    def add_files(self, patterns: Iterable[str], is_optional: bool = False) -> "FileStructurePattern":
        (self.optional_files if is_optional else self.files).extend(_listed(patterns, "add_files", _check_glob))
        return self

    def add_directory(self, pattern: "FileStructurePattern", is_optional: bool = False) -> "FileStructurePattern":
        (self.optional_directories if is_optional else self.directories).append(_check_pattern(pattern, "add_directory"))
        return self

    def add_directories(self, patterns: Iterable["FileStructurePattern"], is_optional: bool = False) -> "FileStructurePattern":
        (self.optional_directories if is_optional else self.directories).extend(
            _listed(patterns, "add_directories", _check_pattern))
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
        """Checks every field's type (they may have been assigned since) and every glob; raises
        PatternError naming the field and, for a bad glob, the position."""
        try:
            _check_name(self.directory_name, f"{where}.directory_name")
            fields = {key: _listed(getattr(self, key), f"{where}.{key}", check) for key, check in (
                ("files", _check_glob), ("optional_files", _check_glob),
                ("directories", _check_pattern), ("optional_directories", _check_pattern))}
        except TypeError as error:
            raise PatternError(str(error)) from None
        globs = [("directory_name", self.directory_name)] if self.directory_name is not None else []
        globs += [(f"{key}[{i}]", g) for key in ("files", "optional_files") for i, g in enumerate(fields[key])]
        for name, glob in globs:
            try:
                PatternMatcher([glob])
            except ValueError as error:
                raise PatternError(f"{where}.{name}: {error}") from error
        for key in ("directories", "optional_directories"):
            for i, child in enumerate(fields[key]):
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


def _check_name(name: Any, where: str = "directory_name") -> Optional[str]:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{where}: expected a glob str or None, not {type(name).__name__}")
    return name


def _check_glob(glob: Any, where: str) -> str:
    if not isinstance(glob, str):
        raise TypeError(f"{where}: a file glob is a str, not {type(glob).__name__}")
    return glob


def _check_pattern(pattern: Any, where: str) -> "FileStructurePattern":
    if not isinstance(pattern, FileStructurePattern):
        raise TypeError(f"{where}: expected a FileStructurePattern, not {type(pattern).__name__}")
    return pattern


def _listed(values: Any, where: str, check: Callable[[Any, str], Any]) -> list[Any]:
    """``values`` as a list, each checked; a lone str (or pattern) is refused rather than iterated."""
    if isinstance(values, (str, bytes, FileStructurePattern)):
        raise TypeError(f"{where}: expected a list, not a single {type(values).__name__}")
    try:
        items = values if isinstance(values, list) else list(values)
    except TypeError:
        raise TypeError(f"{where}: expected a list, not {type(values).__name__}") from None
    for i, value in enumerate(items):
        check(value, f"{where}[{i}]")
    return items


def _pattern_list(patterns: Any) -> list[FileStructurePattern]:
    """One pattern or an iterable of them, validated."""
    if isinstance(patterns, FileStructurePattern):
        patterns = [patterns]
    elif isinstance(patterns, (str, bytes, os.PathLike)):
        raise TypeError(f"patterns: expected a FileStructurePattern or an iterable of them, not a {type(patterns).__name__} "
                        "(FileStructurePattern.from_json or load_json make one from JSON)")
    pattern_list = _listed(patterns, "patterns", _check_pattern)
    for i, pattern in enumerate(pattern_list):
        pattern.validate(f"patterns[{i}]")
    return pattern_list


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

    def covered(self, path: str, lister: "_Lister", links_as_entries: bool = False) -> list[str]:
        """The files (relative to ``path``) this pattern takes from a matching directory. With
        ``links_as_entries``, a link to a directory that a subdirectory pattern takes is one entry (the
        link itself), never a way into the directory it points to."""
        listing = lister(path)
        if listing is None:
            return []
        dirnames, filenames = listing
        out = self.all_files.filter(filenames) if self.all_files else []
        for child in self.directories + self.optional_directories:
            for d in dirnames:
                sub = _join(path, d)
                if child.check(sub, d, lister, None, ""):
                    if links_as_entries and sub in lister.links:
                        out.append(d)
                    else:
                        out.extend(f"{d}/{f}" for f in child.covered(sub, lister, links_as_entries))
        return out


class _Lister:
    """Directory listings, read once: from a whole-tree walk (scan) or directory by directory (explain, assess)."""

    def __init__(self, root: str, tree: Optional[dict[str, Listing]] = None) -> None:
        self._remote = _backend.is_fsspec(root)
        self._cache: dict[str, Optional[Listing]] = dict(tree or {})
        self.links: set[str] = set()  # links to directories seen in listings read here (local only)

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
                    is_dir = entry.is_dir()
                    (dirs if is_dir else files).append(entry.name)
                    if is_dir and entry.is_symlink():
                        self.links.add(_join(path, entry.name))
                return dirs, files
        except OSError:
            return None


def _text(path: PathArg) -> str:
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError("structure patterns work on str paths and URLs, not bytes")
    return text.rstrip("/") or "/"


def _join(path: str, *names: str) -> str:
    return f"{path}{'' if path.endswith('/') else '/'}{'/'.join(names)}" if names else path


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
    pattern_list = _pattern_list(patterns)
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
    pattern_list = _pattern_list(patterns)
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

    Nothing is written, moved or removed through a link: the destination directory given (or the
    parent of the path the callable returns) is taken as given; every directory below it is created
    and entered without following links, and one that is a link fails its files. A link inside a
    structure is copied or moved as a link. Each file is copied to a temporary name beside its
    destination, size-checked and renamed into place (a move on one filesystem is a rename), so a
    failure never leaves a partial file, and a source is removed only once its data is in place.
    Existing destination files are skipped unless ``overwrite``. Files that a destination inside its
    source (or a source inside its destination, or the source itself) would receive fail, as do all
    the files that two items of one shuffle would write to the same place, whatever ``overwrite``
    says. ``dryrun`` plans without writing. Per-file results are in the report; nothing is raised for
    a single file.
    """
    structures = _plan(_match_list(matches), destination)
    run(structures, Options(dryrun, overwrite, move))
    return ShuffleReport([item for structure in structures for _, item in structure.entries], dryrun, move)


def _match_list(matches: Any) -> list[StructureMatch]:
    if isinstance(matches, StructureMatch):
        return [matches]
    if isinstance(matches, (str, bytes, os.PathLike)):
        raise TypeError(f"matches: expected StructureMatch objects (from scan), not a {type(matches).__name__} path")
    try:
        match_list = list(matches)
    except TypeError:
        raise TypeError(f"matches: expected an iterable of StructureMatch (from scan), not {type(matches).__name__}") from None
    for i, match in enumerate(match_list):
        if not hasattr(match, "source") or not isinstance(getattr(match, "pattern", None), FileStructurePattern):
            raise TypeError(f"matches[{i}]: expected a StructureMatch (source, pattern) from scan, not {type(match).__name__}")
    return sorted(match_list, key=lambda m: _text(m.source))  # a deterministic report


def _destination_text(path: Any, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a str or os.PathLike path, not {type(path).__name__}")
    return _text(path)


def _split_destination(target: str) -> tuple[str, tuple[str, ...]]:
    """The directory taken as given, and the structure directory's name below it (none when the path
    has no last component to enter without following links: ``/``, a bucket, ``.``, ``..``)."""
    scheme = ""
    if _backend.is_fsspec(target):
        scheme, _, target = target.partition("://")
        scheme += "://"
    head, slash, name = target.rpartition("/")
    if name in ("", ".", "..") or (scheme and not slash):
        return scheme + target, ()
    return scheme + (head or ("/" if slash else ".")), (name,)


def _plan(matches: list[StructureMatch], destination: Destination) -> list[Structure]:
    """Each match's entries, with the conflicts that paths alone reveal already failed: overlapping
    sources and destinations, and destinations that two entries share."""
    if not callable(destination):
        destination_root = _destination_text(destination, "destination")
    structures: list[Structure] = []
    pairs: set[tuple[str, str]] = set()
    arriving: dict[str, list[ShuffleItem]] = defaultdict(list)  # destination key -> items
    leaving: set[str] = set()  # source keys
    directories: set[str] = set()  # destination keys that must be directories
    compiled: dict[int, _Compiled] = {}
    for match in matches:
        source = _text(match.source)
        if callable(destination):
            target = _destination_text(destination(match), "the destination function's result")
            base, below = _split_destination(target)
        else:
            name = _basename(source)
            below = () if "/" in name or name in (".", "..") else (name,)
            base, target = destination_root, _join(destination_root, name) if below else destination_root
        structure = Structure(Endpoint.of(source), Endpoint.of(base), below)
        source_key, target_key = structure.source.key(), _join(structure.base.key(), *below)
        refusal = _overlap(source, target, source_key, target_key)
        listed_at = structure.source.path if structure.source.fs is None else source
        if id(match.pattern) not in compiled:
            compiled[id(match.pattern)] = _Compiled(match.pattern)
        pattern = compiled[id(match.pattern)]
        directories.add(target_key)
        for relative in sorted(pattern.covered(listed_at, _Lister(listed_at), links_as_entries=True)):
            pair = (_join(source_key, relative), _join(target_key, relative))
            if pair in pairs:  # two patterns that take the same file
                continue
            pairs.add(pair)
            item = ShuffleItem(_join(source, relative), _join(target, relative), 0, "failed" if refusal else "pending", refusal)
            structure.entries.append((tuple(relative.split("/")), item))
            leaving.add(pair[0])
            arriving[pair[1]].append(item)
            parent = pair[1].rpartition("/")[0]
            while parent not in directories and len(parent) > len(target_key):
                directories.add(parent)
                parent = parent.rpartition("/")[0]
        structures.append(structure)
    _refuse_collisions(arriving, leaving, directories)
    return structures


def _overlap(source: str, target: str, source_key: str, target_key: str) -> Optional[str]:
    if source_key == target_key:
        return f"the destination {target} is the source itself"
    if within(target_key, source_key):
        return f"the destination {target} is inside the source {source}"
    if within(source_key, target_key):
        return f"the source {source} is inside the destination {target}"
    return None


def _refuse_collisions(arriving: dict[str, list[ShuffleItem]], leaving: set[str], directories: set[str]) -> None:
    for key, items in arriving.items():
        if len(items) > 1:
            reason = f"collision: {len(items)} files of this shuffle go to this destination: " + ", ".join(i.source for i in items)
        elif key in directories:
            reason = "collision: other files of this shuffle go below this destination, as a directory"
        elif key in leaving:
            reason = "the destination is a source of this shuffle"
        else:
            continue
        for item in items:
            if item.status == "pending":
                item.status, item.error = "failed", reason


def shuffle_to(matches: Iterable[StructureMatch], destination: PathArg, *, dryrun: bool = False,
               overwrite: bool = False, move: bool = False) -> ShuffleReport:
    """pathvein's ``shuffle_to``: :func:`shuffle` into ``destination / <source name>``."""
    return shuffle(matches, destination, dryrun=dryrun, overwrite=overwrite, move=move)


def shuffle_with(matches: Iterable[StructureMatch], destination_fn: Callable[[StructureMatch], PathArg], *,
                 dryrun: bool = False, overwrite: bool = False, move: bool = False) -> ShuffleReport:
    """pathvein's ``shuffle_with``: :func:`shuffle` to the path ``destination_fn(match)``."""
    return shuffle(matches, destination_fn, dryrun=dryrun, overwrite=overwrite, move=move)
