"""vegafs.walk against os.walk: the same triples, typing, pruning and error reporting."""
from __future__ import annotations

import errno
import inspect
import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vegafs
from conftest import deep_chain, make_tree, native_rss_growth, normalized, sorted_os_walk


@pytest.mark.parametrize("typed", [str, bytes, Path], ids=["str", "bytes", "pathlike"])
@pytest.mark.parametrize("topdown", [True, False])
@pytest.mark.parametrize("followlinks", [False, True])
def test_same_triples_as_os_walk(tree, typed, topdown, followlinks):
    top = os.fsencode(tree) if typed is bytes else typed(tree)
    expected = normalized(os.walk(top, topdown=topdown, followlinks=followlinks))
    actual = normalized(vegafs.walk(top, topdown=topdown, followlinks=followlinks))
    assert actual == expected
    kind = bytes if typed is bytes else str
    assert all(isinstance(d, kind) and all(isinstance(n, kind) for n in ds + fs) for d, ds, fs in actual)


@pytest.mark.parametrize("top_suffix", ["", "/", "/."])
def test_dirpath_spelling_follows_top(tree, top_suffix):
    top = str(tree) + top_suffix
    assert normalized(vegafs.walk(top)) == normalized(os.walk(top))


def test_relative_top(tree, monkeypatch):
    monkeypatch.chdir(tree)
    assert normalized(vegafs.walk(".")) == normalized(os.walk("."))
    assert normalized(vegafs.walk("a")) == normalized(os.walk("a"))


@pytest.mark.parametrize("topdown", [True, False])
def test_sort_gives_os_walk_order_over_sorted_names(tree, topdown):
    make_tree(tree / "big", dirs=40, files_per_dir=3)
    assert list(vegafs.walk(tree, topdown=topdown, sort=True)) == list(sorted_os_walk(str(tree), topdown))


def test_topdown_yields_parents_before_children(tmp_path):
    make_tree(tmp_path, dirs=300, files_per_dir=2, fanout=3)
    seen = set()
    for dirpath, _, _ in vegafs.walk(tmp_path, threads=2):
        if dirpath != str(tmp_path):
            assert os.path.dirname(dirpath) in seen
        seen.add(dirpath)


def test_bottom_up_yields_children_before_parents(tmp_path):
    make_tree(tmp_path, dirs=300, files_per_dir=1, fanout=3)
    done = set()
    for dirpath, dirnames, _ in vegafs.walk(tmp_path, topdown=False):
        assert all(os.path.join(dirpath, d) in done for d in dirnames)
        done.add(dirpath)
    assert len(done) == 301


@pytest.mark.parametrize("sort", [False, True])
def test_pruning_dirnames_skips_subtrees(tree, sort):
    def pruned(walker):
        out = []
        for dirpath, dirnames, filenames in walker:
            dirnames[:] = [d for d in dirnames if d != "b"]
            out.append((dirpath, sorted(dirnames), sorted(filenames)))
        return sorted(out)

    expected = pruned(os.walk(tree))
    assert pruned(vegafs.walk(tree, sort=sort)) == expected
    assert not any(p.endswith("/b") or "/b/" in p for p, _, _ in expected)


def test_walk_parallel_returns_the_list(tree):
    result = vegafs.walk_parallel(tree)
    assert isinstance(result, list)
    assert normalized(result) == normalized(os.walk(tree))


def test_max_depth_limits_listing_depth(tree):
    assert [d for d, _, _ in vegafs.walk(tree, max_depth=1)] == [str(tree)]
    depth2 = {d for d, _, _ in vegafs.walk(tree, max_depth=2)}
    assert depth2 == {str(tree), str(tree / "a"), str(tree / "empty")}


@pytest.mark.parametrize("bad", [0, -1, 2**31, 2**70])
def test_invalid_max_depth_is_a_value_error(tree, bad):
    with pytest.raises(ValueError, match="max_depth"):
        list(vegafs.walk(tree, max_depth=bad))


@pytest.mark.parametrize("bad", [0, -3, 5000])
def test_invalid_threads_is_a_value_error(tree, bad):
    with pytest.raises(ValueError, match="threads"):
        list(vegafs.walk(tree, threads=bad))


@pytest.mark.parametrize("name", ["walk", "scan_tree", "count"])
@pytest.mark.parametrize("arguments", [{"threads": "2"}, {"threads": 2.0}, {"threads": object()},
                                       {"max_depth": "2"}, {"max_depth": 1.5}, {"top": 5}, {"top": None},
                                       {"include": 5}, {"exclude": [b"*.py", 3]}, {"onerror": 5}],
                         ids=lambda arguments: ",".join(f"{k}={type(v).__name__}" for k, v in arguments.items()))
def test_arguments_of_the_wrong_type_are_type_errors(tree, name, arguments):
    function = getattr(vegafs, name)
    if not set(arguments) <= set(inspect.signature(function).parameters):
        pytest.skip(f"{name} has no such argument")
    arguments = {"top": tree, **arguments}
    with pytest.raises(TypeError):
        result = function(arguments.pop("top"), **arguments)
        list(result) if name == "walk" else getattr(result, "paths", None)


def test_embedded_nul_is_a_value_error():
    with pytest.raises(ValueError):
        list(vegafs.walk("a\0b"))


# --- errors: os.walk calls onerror with an OSError naming the path, and yields nothing for it.

def test_missing_top_goes_to_onerror(tmp_path):
    missing = tmp_path / "missing"
    errors: list[OSError] = []
    assert list(vegafs.walk(missing, onerror=errors.append)) == []
    (error,) = errors
    assert isinstance(error, FileNotFoundError) and isinstance(error, vegafs.VegaError)
    assert error.errno == errno.ENOENT and error.filename == str(missing)
    assert list(vegafs.walk(missing)) == []  # like os.walk: silent without onerror


def test_file_top_goes_to_onerror_as_not_a_directory(tree):
    errors: list[OSError] = []
    assert list(vegafs.walk(tree / "top.md", onerror=errors.append)) == []
    assert isinstance(errors[0], NotADirectoryError) and errors[0].filename == str(tree / "top.md")


def test_bytes_top_error_names_bytes_path(tmp_path):
    errors: list[OSError] = []
    list(vegafs.walk(os.fsencode(tmp_path / "nope"), onerror=errors.append))
    assert errors[0].filename == os.fsencode(tmp_path / "nope")


def test_permission_denied_as_unprivileged_user(world_tmp, unprivileged_python):
    (world_tmp / "open" / "sub").mkdir(parents=True)
    (world_tmp / "open" / "f").write_text("x")
    (world_tmp / "locked" / "inner").mkdir(parents=True)
    os.chmod(world_tmp / "locked", 0o000)
    code = f"""
import os, sys, json, vegafs
top = {str(world_tmp)!r}
def run(walker):
    errors = []
    triples = sorted((d, sorted(ds), sorted(fs)) for d, ds, fs in walker(top, onerror=errors.append))
    return triples, sorted((e.errno, e.filename) for e in errors)
mine, theirs = run(vegafs.walk), run(os.walk)
scan = vegafs.scan_tree(top)
len(scan)
print(json.dumps({{"same": mine == theirs, "errors": mine[1], "scan_errors": [(e.errno, e.filename, isinstance(e, PermissionError)) for e in scan.errors]}}))
"""
    result = subprocess.run([*unprivileged_python, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["same"]
    assert report["errors"] == [[errno.EACCES, str(world_tmp / "locked")]]
    assert report["scan_errors"] == [[errno.EACCES, str(world_tmp / "locked"), True]]


def test_unreadable_top_raises_permission_error_in_scan(world_tmp, unprivileged_python):
    os.chmod(world_tmp, 0o700)
    code = f"""
import vegafs
try:
    vegafs.scan_tree({str(world_tmp)!r})
except PermissionError as e:
    print("PermissionError", isinstance(e, vegafs.VegaError), e.filename)
"""
    result = subprocess.run([*unprivileged_python, "-c", code], capture_output=True, text=True, timeout=60)
    os.chmod(world_tmp, 0o755)
    assert result.stdout.split() == ["PermissionError", "True", str(world_tmp)], result.stderr


# --- hard cases

def test_symlink_loop_with_followlinks_terminates_and_reports_eloop(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "self").symlink_to(".")
    errors: list[OSError] = []
    triples = normalized(vegafs.walk(tmp_path, followlinks=True, onerror=errors.append))
    assert [d for d, _, _ in triples] == [str(tmp_path), str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert sorted((e.errno, e.filename) for e in errors) == [
        (errno.ELOOP, str(tmp_path / "a" / "b" / "up")), (errno.ELOOP, str(tmp_path / "a" / "self"))]
    # Without followlinks the links are plain dirnames entries, as in os.walk.
    assert normalized(vegafs.walk(tmp_path)) == normalized(os.walk(tmp_path))


def test_followlinks_walks_the_same_directory_twice_like_os_walk(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "again").symlink_to(tmp_path / "real")
    assert normalized(vegafs.walk(tmp_path, followlinks=True)) == normalized(os.walk(tmp_path, followlinks=True))


def test_dangling_and_file_symlinks_are_filenames(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "to_file").symlink_to(tmp_path / "f")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "self_loop").symlink_to(tmp_path / "self_loop")
    assert normalized(vegafs.walk(tmp_path)) == normalized(os.walk(tmp_path))


def test_non_utf8_names_round_trip_byte_for_byte(tmp_path):
    raw_dir = os.fsencode(tmp_path) + b"/d\xe9j\xe0"
    os.mkdir(raw_dir)
    for name in (b"bad\xff.txt", b"\x80\x81", b"ok.txt", "caf\u00e9.txt".encode()):
        open(raw_dir + b"/" + name, "wb").close()
    top_b = os.fsencode(tmp_path)
    assert normalized(vegafs.walk(top_b)) == normalized(os.walk(top_b))
    assert normalized(vegafs.walk(str(tmp_path))) == normalized(os.walk(str(tmp_path)))
    names = {os.fsencode(n) for _, _, fs in vegafs.walk(str(tmp_path)) for n in fs}
    assert b"bad\xff.txt" in names and b"\x80\x81" in names
    # A str path with surrogates names the same file again.
    for dirpath, _, filenames in vegafs.walk(str(tmp_path)):
        for name in filenames:
            assert os.path.exists(os.path.join(dirpath, name))


def test_255_byte_names(tmp_path):
    name = "n" * 255
    (tmp_path / name).mkdir()
    (tmp_path / name / ("f" * 255)).write_text("x")
    assert normalized(vegafs.walk(tmp_path)) == normalized(os.walk(tmp_path))


def test_tree_1200_levels_deep(deep_tmp):
    tmp_path = deep_tmp
    # os.walk itself is recursive on Python 3.11 and raises RecursionError here, so the expected
    # triples are spelled out instead.
    deepest = deep_chain(tmp_path, 1200, "d", leaf_files={"leaf.txt": b""})
    assert len(deepest) < 4096
    chain = [str(tmp_path) + "/d" * i for i in range(1201)]
    expected = [(d, ["d"], []) for d in chain[:-1]] + [(chain[-1], [], ["leaf.txt"])]
    assert list(vegafs.walk(tmp_path, sort=True)) == expected
    assert normalized(vegafs.walk(tmp_path)) == expected
    assert list(vegafs.walk(tmp_path, topdown=False)) == expected[::-1]


def test_paths_longer_than_path_max_are_read(deep_tmp):
    tmp_path = deep_tmp
    deepest = deep_chain(tmp_path, 300, "segment_name_x", leaf_files={"leaf.txt": b""})
    assert len(deepest) > 4096
    errors: list[OSError] = []
    triples = list(vegafs.walk(tmp_path, onerror=errors.append))
    assert errors == []
    assert len(triples) == 301
    assert max(len(d) for d, _, _ in triples) == len(deepest)
    leaf_dir = next(d for d, _, fs in triples if fs == ["leaf.txt"])
    assert os.fsencode(leaf_dir) == deepest
    # os.walk gives up on these with ENAMETOOLONG; everything it does list, we list too.
    theirs = normalized(os.walk(tmp_path, onerror=lambda e: None))
    ours = {d for d, _, _ in triples}
    assert {d for d, _, _ in theirs} <= ours


def test_empty_directory(tmp_path):
    assert list(vegafs.walk(tmp_path)) == [(str(tmp_path), [], [])]


def test_fifo_and_socket_are_filenames(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        assert normalized(vegafs.walk(tmp_path)) == [(str(tmp_path), [], ["fifo", "sock"])]
        listing = vegafs.scan_tree(tmp_path)
        kinds = dict(zip(listing.paths, listing.kinds))
        assert kinds == {str(tmp_path / "fifo"): vegafs.Kind.FIFO, str(tmp_path / "sock"): vegafs.Kind.SOCKET}
    finally:
        sock.close()


def test_tree_changing_underneath_never_crashes_or_hangs(tmp_path):
    make_tree(tmp_path, dirs=400, files_per_dir=3, fanout=4)
    stop = threading.Event()

    def churn():
        i = 0
        while not stop.is_set():
            victim = tmp_path / "d1"
            extra = tmp_path / f"new{i % 50}"
            try:
                if victim.exists():
                    os.rename(victim, tmp_path / "moved")
                else:
                    os.rename(tmp_path / "moved", victim)
                extra.mkdir(exist_ok=True)
                (extra / "x").write_text("x")
            except OSError:
                pass
            i += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(30):
            errors: list[OSError] = []
            for dirpath, dirnames, filenames in vegafs.walk(tmp_path, onerror=errors.append):
                assert isinstance(dirnames, list) and isinstance(filenames, list)
            assert all(isinstance(e, FileNotFoundError) and e.filename for e in errors)
    finally:
        stop.set()
        worker.join()


# --- generated trees: the walk agrees with os.walk on any shape

names = st.text(alphabet=st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
                min_size=1, max_size=20).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255)
trees = st.recursive(st.just(None), lambda children: st.dictionaries(names, children, max_size=5), max_leaves=40)


def _materialize(root: Path, spec) -> None:
    for name, child in spec.items():
        path = root / name
        if child is None:
            path.write_bytes(b"")
        else:
            path.mkdir()
            _materialize(path, child)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.dictionaries(names, trees, max_size=6), threads=st.sampled_from([1, 2, 4]))
def test_generated_trees_match_os_walk(tmp_path_factory, spec, threads):
    root = tmp_path_factory.mktemp("gen")
    _materialize(root, spec)
    assert normalized(vegafs.walk(root, threads=threads)) == normalized(os.walk(root))
    assert list(vegafs.walk(root, sort=True, threads=threads)) == list(sorted_os_walk(str(root)))


def test_repeated_walks_do_not_grow_native_memory(tmp_path):
    # Each walk used to give its lock objects NativeAOT sync entries that only full GCs freed: here about
    # +4 MiB per 50k walks, still climbing; now the objects are pooled (JobMonitors) and it stays flat.
    assert native_rss_growth(tmp_path, "list(vegafs.walk(root, threads=1))", 50_000) < 1.5


def _walk_threads() -> int:
    return sum(Path(p).read_text().strip() == "vega-walk" for p in __import__("glob").glob("/proc/self/task/*/comm"))


def test_leaving_a_walk_early_stops_the_native_workers(tmp_path):
    make_tree(tmp_path, dirs=2000, files_per_dir=5, fanout=4)
    for _ in vegafs.walk(tmp_path):
        break
    assert _walk_threads() == 0

    walker = vegafs.walk(tmp_path, topdown=False)
    next(walker)
    walker.close()
    assert _walk_threads() == 0


def test_an_onerror_that_raises_stops_the_walk_like_os_walk(tmp_path):
    make_tree(tmp_path / "big", dirs=2000, files_per_dir=5, fanout=4)
    (tmp_path / "loop").symlink_to(tmp_path)  # an ELOOP error as soon as the root is read

    def fail(error):
        raise RuntimeError(f"stop at {error.filename}")

    with pytest.raises(RuntimeError, match="stop at .*loop"):
        for _ in vegafs.walk(tmp_path, followlinks=True, onerror=fail):
            pass
    assert _walk_threads() == 0
