"""An independent reference for vegafs.analyze: plain os.walk + os.lstat, written from the documented
rules (docs/analysis.md), sharing no code with either engine. Works on bytes paths, so every name is exact.

The result has the shape of DirectoryReport's typed tables, as plain tuples and dicts, for comparison.
:func:`filoma_reference` does the same for filoma's result dict (vegafs.filoma.DirectoryProfiler).
"""
from __future__ import annotations

import os
import random
import stat
from pathlib import Path


def _suffix(name: bytes) -> bytes:
    text = os.fsdecode(name)
    from pathlib import PurePosixPath
    return os.fsencode(PurePosixPath(text).suffix) if text not in ("", ".", "..") else b""


def reference(root: bytes, top_n: int = 10) -> dict:
    assert isinstance(root, bytes)
    prefix_len = len(root.rstrip(b"/"))
    seen_links: set = set()
    totals = dict(files=0, directories=0, symlinks=0, others=0, file_bytes=0, empty_files=0)
    root_stat = os.lstat(root)
    apparent = root_stat.st_size
    disk = root_stat.st_blocks * 512
    extensions: dict = {}
    names: dict = {}
    files: list = []
    folders: dict = {}  # path -> [direct files, own bytes incl. non-dir entries]
    depths: dict = {0: [1, 0, 0]}
    empty: list = []
    errors: list = []
    max_depth = 0

    def depth_of(path: bytes) -> int:
        rest = path[prefix_len:].strip(b"/")
        return 0 if not rest else rest.count(b"/") + 1

    def on_error(error: OSError) -> None:
        errors.append((os.fsencode(error.filename), error.errno))

    folders[root] = [0, root_stat.st_size, root_stat.st_blocks * 512]
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        here = folders[dirpath]
        if not dirnames and not filenames:
            empty.append((dirpath, depth_of(dirpath)))
        prefix = dirpath if dirpath.endswith(b"/") else dirpath + b"/"
        for name in dirnames + filenames:
            path = prefix + name
            info = os.lstat(path)
            depth = depth_of(path)
            max_depth = max(max_depth, depth)
            first = stat.S_ISDIR(info.st_mode) or info.st_nlink == 1 or (info.st_dev, info.st_ino) not in seen_links
            if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                seen_links.add((info.st_dev, info.st_ino))
            size = info.st_size if first else 0
            blocks = info.st_blocks * 512 if first else 0
            apparent += size
            disk += blocks
            row = depths.setdefault(depth, [0, 0, 0])
            if stat.S_ISDIR(info.st_mode):
                totals["directories"] += 1
                names[name] = names.get(name, 0) + 1
                row[0] += 1
                folders[path] = [0, size, blocks]  # os.walk descends every real directory
                continue
            if stat.S_ISREG(info.st_mode):
                totals["files"] += 1
                totals["file_bytes"] += size
                totals["empty_files"] += info.st_size == 0
                here[0] += 1
                ext = extensions.setdefault(os.fsdecode(_suffix(name)).lower(), [0, 0, 0])
                ext[0] += 1
                ext[1] += size
                ext[2] += blocks
                row[1] += 1
                row[2] += size
                files.append((info.st_size, info.st_mtime_ns, path))
            elif stat.S_ISLNK(info.st_mode):
                totals["symlinks"] += 1
            else:
                totals["others"] += 1
            here[1] += size
            here[2] += blocks

    # du-style rollup: deepest folders first.
    subtree = {path: [v[0], v[1], v[2]] for path, v in folders.items()}
    for path in sorted(folders, key=depth_of, reverse=True):
        if path == root:
            continue
        parent = path.rsplit(b"/", 1)[0] or b"/"
        if parent not in subtree:  # root given with a trailing slash
            parent = parent + b"/"
        for i in range(3):
            subtree[parent][i] += subtree[path][i]

    def ranked(items, key):
        return sorted(items, key=key)[:top_n]

    folder_rows = [(p, folders[p][0], *subtree[p]) for p in folders]
    return {
        "totals": dict(totals, apparent_bytes=apparent, disk_bytes=disk, empty_folders=len(empty),
                       max_depth=max_depth, errors=len(errors)),
        "extensions": sorted(((e, c, b, d) for e, (c, b, d) in extensions.items()), key=lambda r: (-r[1], r[0])),
        "largest": ranked(files, lambda f: (-f[0], f[2])),
        "smallest": ranked(files, lambda f: (f[0], f[2])),
        "newest": ranked(files, lambda f: (-f[1], f[2])),
        "oldest": ranked(files, lambda f: (f[1], f[2])),
        "empty_folders": sorted(empty),
        "depths": [(d, *depths.get(d, [0, 0, 0])) for d in range(max_depth + 1)],
        "folders_by_files": [r for r in ranked(folder_rows, lambda r: (-r[1], r[0]))],
        "folders_by_size": [r for r in ranked(folder_rows, lambda r: (-r[3], r[0]))],
        "folder_names": ranked([(os.fsdecode(n), c) for n, c in names.items()], lambda r: (-r[1], os.fsencode(r[0]))),
        "errors": sorted(errors),
    }


def as_reference(report) -> dict:
    """A DirectoryReport (analysed with a bytes path) in the reference's shape."""
    t = report.totals
    return {
        "totals": dict(files=t.files, directories=t.directories, symlinks=t.symlinks, others=t.others,
                       file_bytes=t.file_bytes, empty_files=t.empty_files, apparent_bytes=t.apparent_bytes,
                       disk_bytes=t.disk_bytes, empty_folders=t.empty_folders, max_depth=t.max_depth,
                       errors=t.errors),
        "extensions": [(e.extension, e.files, e.bytes, e.disk_bytes) for e in report.extensions],
        "largest": [(f.size, f.mtime_ns, f.path) for f in report.largest],
        "smallest": [(f.size, f.mtime_ns, f.path) for f in report.smallest],
        "newest": [(f.size, f.mtime_ns, f.path) for f in report.newest],
        "oldest": [(f.size, f.mtime_ns, f.path) for f in report.oldest],
        "empty_folders": sorted(zip(report.empty_folders, [None] * len(report.empty_folders))),
        "depths": [(d.depth, d.folders, d.files, d.file_bytes) for d in report.depths],
        "folders_by_files": [(f.path, f.files, f.subtree_files, f.subtree_bytes, f.subtree_disk_bytes)
                             for f in report.folders_by_files],
        "folders_by_size": [(f.path, f.files, f.subtree_files, f.subtree_bytes, f.subtree_disk_bytes)
                            for f in report.folders_by_size],
        "folder_names": [(n.name, n.count) for n in report.folder_names],
        "errors": [(e.path, e.errno) for e in report.errors],
    }


def comparable(ref: dict) -> dict:
    """The reference with empty folders' depths dropped (the report lists paths only)."""
    out = dict(ref)
    out["empty_folders"] = [(p, None) for p, _ in ref["empty_folders"]]
    return out


def random_tree(root: Path, seed: int, files: int = 400) -> Path:
    """Nested folders, mixed-case and missing extensions, empty files and folders, symlinks (to files,
    folders and nowhere), same-folder hard links, a sparse file, a FIFO and non-UTF-8 names."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    dirs = [root]
    for i in range(files // 8):
        parent = rng.choice(dirs)
        name = rng.choice(["src", "tests", "data", "docs", f"d{i}", "__pycache__", "build"])
        child = parent / name
        child.mkdir(exist_ok=True)
        dirs.append(child)
    extensions = [".txt", ".TXT", ".py", ".Py", ".tar.gz", "", ".json", "."]
    for i in range(files):
        folder = rng.choice(dirs)
        path = folder / f"f{i}{rng.choice(extensions)}"
        path.write_bytes(b"x" * rng.choice([0, 1, 7, 100, 4096, 10_000]))
        os.utime(path, ns=(0, rng.randrange(10**9, 2 * 10**18)))
    (root / "empty1").mkdir()
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "empty2").mkdir()
    (root / ".bashrc").write_text("hidden, no extension")
    (root / "link_to_file").symlink_to(root / ".bashrc")
    (root / "link_to_dir").symlink_to(root / "data")
    (root / "dangling").symlink_to(root / "missing")
    original = root / "data" / "shared.bin"
    original.write_bytes(b"h" * 5000)
    os.link(original, root / "data" / "shared-again.bin")
    with open(root / "sparse.img", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    os.mkfifo(root / "pipe")
    raw = os.fsencode(root)
    os.mkdir(raw + b"/caf\xe9-dir")
    with open(raw + b"/caf\xe9-dir/\xff\xfe.D\xc9", "wb") as handle:
        handle.write(b"z" * 123_456)
    os.mkdir(raw + b"/caf\xe9-dir/empty-\xff")
    return root


def filoma_reference(root: bytes, max_depth: int | None = None) -> dict:
    """filoma 1.3's summary keys by filoma's rules, on lstat kinds (docs/compatibility-filoma.md): the
    root is the folder at depth 0; with ``max_depth=N`` folders count to depth N and regular files to
    N+1; ``depth_distribution`` counts folders per depth and ``max_depth`` is the deepest folder's;
    a folder (the root too) is empty when it has no entries at all; file bytes count hard links once."""
    files = 0
    file_bytes = 0
    seen: set = set()
    extensions: dict = {}
    names: dict = {}
    empty: list = []
    depths = {0: 1}

    def visit(folder: bytes, depth: int) -> None:
        nonlocal files, file_bytes
        entries = os.listdir(folder)
        if not entries:
            empty.append(os.fsdecode(folder))
        for name in entries:
            path = folder.rstrip(b"/") + b"/" + name
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode) and (max_depth is None or depth + 1 <= max_depth):
                depths[depth + 1] = depths.get(depth + 1, 0) + 1
                names[os.fsdecode(name)] = names.get(os.fsdecode(name), 0) + 1
                visit(path, depth + 1)
            elif stat.S_ISREG(info.st_mode) and (max_depth is None or depth + 1 <= max_depth + 1):
                files += 1
                if (info.st_dev, info.st_ino) not in seen:
                    file_bytes += info.st_size
                    seen.add((info.st_dev, info.st_ino))
                ext = os.fsdecode(_suffix(name)).lower() or "<no extension>"
                extensions[ext] = extensions.get(ext, 0) + 1

    visit(root, 0)
    folders = sum(depths.values())
    return {
        "summary": {"total_files": files, "total_folders": folders, "total_size_bytes": file_bytes,
                    "total_size_mb": round(file_bytes / 2**20, 2), "avg_files_per_folder": round(files / folders, 2),
                    "max_depth": max(depths), "empty_folder_count": len(empty)},
        "file_extensions": extensions,
        "common_folder_names": names,
        "empty_folders": sorted(empty),
        "depth_distribution": depths,
    }
