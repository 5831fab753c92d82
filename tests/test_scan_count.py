"""scan_tree against os.walk + os.lstat, and count against du."""
from __future__ import annotations

import os
import stat as statmod
import subprocess

import pytest

import vegafs
from conftest import make_tree, native_rss_growth


def reference_listing(top):
    """Every entry below top with its lstat result, the way os.walk sees the tree."""
    rows = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rows[path] = os.lstat(path)
    return rows


KIND_OF_MODE = {statmod.S_IFREG: vegafs.Kind.FILE, statmod.S_IFDIR: vegafs.Kind.DIRECTORY,
                statmod.S_IFLNK: vegafs.Kind.SYMLINK, statmod.S_IFIFO: vegafs.Kind.FIFO}


@pytest.mark.parametrize("as_bytes", [False, True])
def test_scan_tree_matches_lstat(tree, as_bytes):
    os.link(tree / "top.md", tree / "hardlink.md")
    os.mkfifo(tree / "fifo")
    top = os.fsencode(tree) if as_bytes else str(tree)
    expected = reference_listing(top)
    listing = vegafs.scan_tree(top, stat=True)
    assert sorted(listing.paths) == sorted(expected)
    assert len(listing) == len(expected)
    for entry in listing:
        st = expected[entry.path]
        assert entry.kind == KIND_OF_MODE[statmod.S_IFMT(st.st_mode)]
        assert (entry.size, entry.mtime_ns, entry.mode, entry.inode, entry.device, entry.nlink) == (
            st.st_size, st.st_mtime_ns, st.st_mode, st.st_ino, st.st_dev, st.st_nlink)


def test_columns_and_entry_without_stat(tree):
    listing = vegafs.scan_tree(tree)
    assert not listing.has_stat
    entry = next(iter(listing))
    assert entry.size is None and entry.kind in set(vegafs.Kind)
    with pytest.raises(ValueError, match="stat=True"):
        listing.sizes
    assert listing.errors == []


def test_stat_columns_are_int64_arrays(tree):
    listing = vegafs.scan_tree(tree, stat=True)
    by_path = dict(zip(listing.paths, listing.sizes))
    assert by_path[str(tree / "a" / "b" / "c" / "three.csv")] == 3
    assert len(listing.mtimes_ns) == len(listing.modes) == len(listing.inodes) == len(listing) 
    assert listing.sizes.typecode == "q"


def test_iter_batches_streams_everything_in_bounded_pieces(tmp_path):
    make_tree(tmp_path, dirs=300, files_per_dir=10)
    expected = set(reference_listing(str(tmp_path)))
    seen = []
    for batch in vegafs.scan_tree(tmp_path, stat=True).iter_batches(1000):
        assert 0 < len(batch) <= 1000
        assert len(batch.sizes) == len(batch)
        seen.extend(batch.paths)
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))


def test_columns_and_batches_reject_arguments_of_the_wrong_type(tree):
    result = vegafs.scan_tree(tree, stat=True)
    with pytest.raises(TypeError):
        result.column(5)
    with pytest.raises(ValueError, match="unknown column 'bogus'"):
        result.column("bogus")
    for size in (1.5, "x", None):
        with pytest.raises(TypeError, match="size"):
            next(vegafs.scan_tree(tree).iter_batches(size))


def test_iter_batches_after_loading_and_single_use(tree):
    listing = vegafs.scan_tree(tree)
    total = len(listing)
    assert sum(len(b) for b in listing.iter_batches(2)) == total
    streamed = vegafs.scan_tree(tree)
    list(streamed.iter_batches(3))
    with pytest.raises(RuntimeError, match="consumed"):
        streamed.paths
    with pytest.raises(ValueError):
        list(vegafs.scan_tree(tree).iter_batches(0))


def test_to_pandas(tree):
    pd = pytest.importorskip("pandas")
    frame = vegafs.scan_tree(tree, stat=True).to_pandas()
    assert list(frame.columns) == ["path", "kind", "size", "mtime_ns", "mode", "inode", "device", "nlink"]
    assert frame["size"].dtype == "int64"
    row = frame.set_index("path").loc[str(tree / "top.md")]
    assert row["kind"] == "file" and row["size"] == 3
    assert isinstance(frame["kind"].dtype, pd.CategoricalDtype)


def test_max_depth_and_followlinks(tree):
    assert sorted(vegafs.scan_tree(tree, max_depth=1).paths) == sorted(str(tree / n) for n in os.listdir(tree))
    followed = set(vegafs.scan_tree(tree, followlinks=True).paths)
    assert str(tree / "link_to_a" / "b" / "two.py") in followed


@pytest.mark.parametrize("missing_kind,exc", [("missing", FileNotFoundError), ("top.md", NotADirectoryError)])
def test_scan_and_count_raise_for_a_bad_top(tree, missing_kind, exc):
    for call in (vegafs.scan_tree, vegafs.count):
        with pytest.raises(exc) as info:
            call(tree / missing_kind)
        assert isinstance(info.value, vegafs.VegaError)
        assert info.value.filename == str(tree / missing_kind)


def du_bytes(path, *args) -> int:
    out = subprocess.run(["du", "-s", *args, str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def test_count_matches_du(tree):
    os.link(tree / "top.md", tree / "hardlink.md")  # counted once, as du does
    with open(tree / "sparse.bin", "wb") as f:
        f.truncate(10 * 1024 * 1024)
    (tree / "big.bin").write_bytes(os.urandom(100_000))
    make_tree(tree / "many", dirs=50, files_per_dir=5)
    result = vegafs.count(tree)
    assert result.apparent_bytes == du_bytes(tree, "-b")
    assert result.disk_bytes == du_bytes(tree, "-B1")
    expected = reference_listing(str(tree))
    kinds = [statmod.S_IFMT(st.st_mode) for st in expected.values()]
    assert result.files == kinds.count(statmod.S_IFREG)
    assert result.directories == kinds.count(statmod.S_IFDIR)
    assert result.symlinks == kinds.count(statmod.S_IFLNK)
    assert result.others == 0 and result.entries == len(expected)
    assert result.errors == []


@pytest.mark.parametrize("threads", [1, 2, 7])
def test_count_is_the_same_for_any_thread_count(tmp_path, threads):
    make_tree(tmp_path, dirs=200, files_per_dir=4)
    assert vegafs.count(tmp_path, threads=threads) == vegafs.count(tmp_path, threads=1)


def test_count_to_dict_and_progress_callback(tree):
    updates = []
    result = vegafs.count(tree, progress=updates.append)
    assert updates and isinstance(updates[-1], vegafs.WalkProgress)
    assert updates[-1].entries == result.entries
    as_dict = result.to_dict()
    assert as_dict["files"] == result.files and as_dict["path"] == str(tree)


def test_progress_true_draws_on_stderr_and_clears(tmp_path, capsys):
    make_tree(tmp_path, dirs=30, files_per_dir=3)
    vegafs.count(tmp_path, progress=True)
    assert vegafs.scan_tree(tmp_path, progress=True).paths
    captured = capsys.readouterr()
    assert captured.out == ""


@pytest.mark.parametrize("call", ["vegafs.scan_tree(root, threads=1).paths", "vegafs.count(root, threads=1)"],
                         ids=["scan_tree", "count"])
def test_repeated_scans_and_counts_do_not_grow_native_memory(tmp_path, call):
    # As for walk (test_walk.py): before JobMonitors, +4.6 MiB (scan_tree) and +13 MiB (count) per 50k calls.
    assert native_rss_growth(tmp_path, call, 50_000) < 1.5
