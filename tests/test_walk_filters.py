"""include=, exclude= and gitignore= in walk, scan_tree, count and glob, against Python references."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import fsspec
import pytest

import vegafs
from conftest import normalized
from globref import reference_match

NAMES = ["main.py", "util.py", "lib.rs", "a.c", "a.h", "README.md", "notes.txt", ".env", "Makefile", "x.pyc"]
DIRS = ["src", "docs", "build", "node_modules", "tests", ".cache", "pkg"]


def make_project(root: Path, depth: int = 3) -> Path:
    def fill(directory: Path, level: int, seed: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(NAMES):
            if (i + seed) % 3 != 0:
                (directory / name).write_text(name)
        if level < depth:
            for j, sub in enumerate(DIRS):
                if (j + seed) % 2 == 0:
                    fill(directory / sub, level + 1, seed + j + 1)
    fill(root, 0, 0)
    (root / "empty").mkdir()
    return root


def matches(globs: list[str] | None, relative: str) -> bool:
    return bool(globs) and any(reference_match(g, relative, anchor_slash=True) for g in globs)


def reference_scan(root: Path, include: list[str] | None, exclude: list[str] | None) -> list[str]:
    """os.walk with the documented rules: exclude prunes, include selects entries of any kind."""
    listed = []
    for dirpath, dirnames, filenames in os.walk(root):
        relative = os.path.relpath(dirpath, root)
        relative = "" if relative == "." else relative + "/"
        for names, is_dir in ((dirnames, True), (filenames, False)):
            kept = []
            for name in names:
                path = relative + name + ("/" if is_dir else "")
                if matches(exclude, path):
                    continue
                kept.append(name)
                if include is None or matches(include, path):
                    listed.append(os.path.join(dirpath, name))
            names[:] = kept
    return sorted(listed)


FILTERS = [
    (["*.py"], None), (None, ["build", "node_modules"]), (["*.{c,h}"], ["/src"]), (["src/*.rs"], None),
    (["**/docs/*.md"], ["*.pyc"]), (["/*.py", "tests/**"], None), (None, ["build/"]), (["*"], [".*"]),
    (["pkg/**/Make*"], ["**/tests/**"]), (["[!.]*.txt"], ["d?cs"]),
]


@pytest.mark.parametrize("include,exclude", FILTERS)
def test_scan_tree_filters_equal_the_reference(tmp_path, include, exclude):
    root = make_project(tmp_path / "p")
    result = vegafs.scan_tree(root, include=include, exclude=exclude)
    assert sorted(result.paths) == reference_scan(root, include, exclude)
    assert not result.errors


@pytest.mark.parametrize("include,exclude", FILTERS)
def test_walk_filters_files_and_prunes_directories(tmp_path, include, exclude):
    root = make_project(tmp_path / "p")
    expected = []
    for dirpath, dirnames, filenames in os.walk(root):
        relative = os.path.relpath(dirpath, root)
        relative = "" if relative == "." else relative + "/"
        dirnames[:] = [d for d in dirnames if not matches(exclude, relative + d + "/")]
        files = [f for f in filenames if not matches(exclude, relative + f) and (include is None or matches(include, relative + f))]
        expected.append((str(dirpath), list(dirnames), files))
    assert normalized(vegafs.walk(str(root), include=include, exclude=exclude)) == normalized(expected)
    assert normalized(vegafs.walk(str(root), include=include, exclude=exclude, topdown=False)) == normalized(expected)


def test_count_with_filters_counts_the_selection(tmp_path):
    root = make_project(tmp_path / "p")
    selected = reference_scan(root, ["*.py"], ["build"])
    result = vegafs.count(root, include=["*.py"], exclude=["build"])
    assert result.files == len(selected) and result.directories == 0
    assert result.apparent_bytes == sum(os.path.getsize(p) for p in selected)
    everything = vegafs.count(root, exclude=["build"])
    assert everything.entries == len(reference_scan(root, None, ["build"]))


def test_glob_and_glob_files(tmp_path):
    root = make_project(tmp_path / "p")
    (root / "dir.py").mkdir()
    assert sorted(vegafs.glob(str(root), "*.py")) == reference_scan(root, ["*.py"], None)
    assert str(root / "dir.py") in vegafs.glob(str(root), "*.py")
    files = vegafs.glob_files(str(root), ["*.py", "*.rs"])
    assert files == sorted(p for p in reference_scan(root, ["*.py", "*.rs"], None) if os.path.isfile(p))
    assert str(root / "dir.py") not in files
    assert vegafs.glob_files(root, ["*.py", "*.rs"], exclude=["src"]) == sorted(
        p for p in reference_scan(root, ["*.py", "*.rs"], ["src"]) if os.path.isfile(p))
    assert sorted(vegafs.glob(os.fsencode(root), "*.rs", exclude=["src"])) == sorted(
        os.fsencode(p) for p in reference_scan(root, ["*.rs"], ["src"]))
    assert vegafs.glob(str(root), "nothing-matches-this") == []


def test_filters_accept_a_pattern_matcher(tmp_path):
    root = make_project(tmp_path / "p")
    upper = vegafs.PatternMatcher(["*.PY"], case_sensitive=False)
    assert sorted(vegafs.glob(str(root), upper)) == reference_scan(root, ["*.py"], None)


def test_invalid_filters_raise_before_walking(tmp_path):
    with pytest.raises(ValueError, match="unclosed"):
        vegafs.scan_tree(tmp_path, include=["[a"])
    with pytest.raises(ValueError, match="at least one glob"):
        vegafs.scan_tree(tmp_path, exclude=[])
    with pytest.raises(ValueError, match="unclosed"):
        list(vegafs.walk(tmp_path, exclude="{a"))


def test_exclude_prunes_natively_even_unreadable_subtrees(tmp_path):
    root = make_project(tmp_path / "p", depth=1)
    (root / "build" / "deep").mkdir(parents=True)
    os.chmod(root / "build", 0)  # as root this is still readable; pruning must not even try to list it
    try:
        result = vegafs.scan_tree(root, exclude=["build"])
        assert not any("build" in p for p in result.paths) and not result.errors
    finally:
        os.chmod(root / "build", 0o755)


def test_memory_urls_give_the_same_selection(tmp_path):
    root = make_project(tmp_path / "p", depth=2)
    fs = fsspec.filesystem("memory")
    base = "/vegafs-filters"
    for path in root.rglob("*"):
        target = base + "/" + path.relative_to(root).as_posix()
        if path.is_dir():
            fs.makedirs(target, exist_ok=True)
        else:
            fs.pipe(target, path.read_bytes())
    url = "memory://" + base
    try:
        for include, exclude in FILTERS:
            local = {os.path.relpath(p, root) for p in vegafs.scan_tree(root, include=include, exclude=exclude).paths}
            remote = {p[len(url) + 1:] for p in vegafs.scan_tree(url, include=include, exclude=exclude).paths}
            # memory:// has no empty directories unless made; "empty" was made above
            assert remote == local, (include, exclude)
            walked_local = {(os.path.relpath(d, root), tuple(sorted(ds)), tuple(sorted(fs_)))
                            for d, ds, fs_ in vegafs.walk(str(root), include=include, exclude=exclude)}
            walked_remote = {(os.path.relpath(d.replace(url, "/r"), "/r"), tuple(sorted(ds)), tuple(sorted(fs_)))
                             for d, ds, fs_ in vegafs.walk(url, include=include, exclude=exclude)}
            assert walked_remote == walked_local, (include, exclude)
        assert sorted(p[len(url):] for p in vegafs.glob(url, "*.py")) == sorted(
            "/" + os.path.relpath(p, root) for p in vegafs.glob(str(root), "*.py"))
        with pytest.raises(ValueError, match="local paths only"):
            vegafs.scan_tree(url, gitignore=True)
    finally:
        fs.rm(base, recursive=True)
