"""fsspec URLs: the same API and result types as local paths."""
from __future__ import annotations

import os

import fsspec
import pytest

import vegafs
from conftest import make_tree, normalized


@pytest.fixture
def memory_tree():
    fs = fsspec.filesystem("memory")
    root = "/vegafs-test"
    if fs.exists(root):
        fs.rm(root, recursive=True)
    fs.pipe({f"{root}/a/one.txt": b"1", f"{root}/a/b/two.txt": b"22", f"{root}/top.txt": b"top"})
    yield f"memory://{root}"
    fs.rm(root, recursive=True)


def test_memory_walk(memory_tree):
    triples = normalized(vegafs.walk(memory_tree))
    assert triples == [
        (memory_tree, ["a"], ["top.txt"]),
        (f"{memory_tree}/a", ["b"], ["one.txt"]),
        (f"{memory_tree}/a/b", [], ["two.txt"]),
    ]


def test_memory_scan_and_count(memory_tree):
    listing = vegafs.scan_tree(memory_tree, stat=True)
    sizes = dict(zip(listing.paths, listing.sizes))
    assert sizes[f"{memory_tree}/a/b/two.txt"] == 2
    kinds = dict(zip(listing.paths, listing.kinds))
    assert kinds[f"{memory_tree}/a"] is vegafs.Kind.DIRECTORY
    result = vegafs.count(memory_tree)
    assert (result.files, result.directories, result.apparent_bytes, result.disk_bytes) == (3, 2, 6, None)


def test_missing_url(memory_tree):
    errors = []
    assert list(vegafs.walk(memory_tree + "/nope", onerror=errors.append)) == []
    assert isinstance(errors[0], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        vegafs.scan_tree(memory_tree + "/nope")


def test_file_url_agrees_with_native(tmp_path):
    # No symlinks here: fsspec's local filesystem lists a symlink to a directory among the files.
    make_tree(tmp_path, dirs=20, files_per_dir=3)
    url = f"file://{tmp_path}"
    strip = lambda p: p[len("file://"):]
    via_fsspec = normalized(vegafs.walk(url))
    assert [(strip(d), ds, fs) for d, ds, fs in via_fsspec] == normalized(vegafs.walk(tmp_path))
    assert sorted(strip(p) for p in vegafs.scan_tree(url).paths) == sorted(vegafs.scan_tree(tmp_path).paths)
    native, remote = vegafs.count(tmp_path), vegafs.count(url)
    assert (remote.files, remote.directories) == (native.files, native.directories)


def test_backend_info(memory_tree, tree):
    assert vegafs.get_backend_info(memory_tree)["backend"] == "fsspec"
    info = vegafs.get_backend_info(tree)
    assert info["backend"] == "native" and os.path.exists(info["library"])
    assert vegafs.native_info() == vegafs.get_backend_info()


def test_memory_walk_options(memory_tree):
    assert [d for d, _, _ in vegafs.walk(memory_tree, max_depth=1)] == [memory_tree]
    assert [d for d, _, _ in vegafs.walk(memory_tree, sort=True)] == [
        memory_tree, f"{memory_tree}/a", f"{memory_tree}/a/b"]
    bottom_up = [d for d, _, _ in vegafs.walk(memory_tree, topdown=False)]
    assert bottom_up.index(f"{memory_tree}/a/b") < bottom_up.index(f"{memory_tree}/a") < bottom_up.index(memory_tree)
    assert sorted(vegafs.scan_tree(memory_tree, max_depth=1).paths) == [f"{memory_tree}/a", f"{memory_tree}/top.txt"]
