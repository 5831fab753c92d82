"""Forged store directories, generated: nothing outside the store is ever read, written or deleted, and the
process never dies.

Each example copies a valid store (two segments, an HNSW graph checkpoint, a snapshot) and forges it the
way a hostile sender of a store directory could: manifest fields and names (hostile paths, wrong types,
impossible numbers), segment headers, offsets and bytes, graph headers and lists, all with recomputed
checksums (tests/storeforge.py), and symlinks, FIFOs and directories planted where the store reads or
writes. A worker process (tests/storeworker.py) then runs every store operation on it. The test watches the
store's surroundings with inotify: any open, read, write, creation or deletion there is a failure, as is
the worker dying, hanging, or any outcome other than success or a documented refusal.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import storeforge  # noqa: E402
import vegafs  # noqa: E402

ALLOWED = ("ok", "vegafs.errors.VectorStoreError", "vegafs.errors.InvalidArgumentError", "builtins.KeyError",
           "vegafs.errors.VegaOSError", "vegafs.errors.VegaFileNotFoundError", "vegafs.errors.VegaNotADirectoryError",
           "vegafs.errors.VegaIsADirectoryError", "vegafs.errors.VegaFileExistsError", "vegafs.errors.VegaPermissionError")

EDGE_INTS = [0, 1, -1, 2, 7, 8, 9, 127, 128, 129, 4096, 2 ** 31 - 1, -2 ** 31, 2 ** 32, 2 ** 62, -2 ** 62, 10 ** 6]
ints = st.one_of(st.sampled_from(EDGE_INTS), st.integers(-2 ** 40, 2 ** 40))


class Inotify:
    """The events inotify reports for the entries of a few directories (not recursive)."""

    _IN_ALL = 0xFFF
    _IN_ISDIR = 0x40000000

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self._fd >= 0, ctypes.get_errno()
        self._watches: dict[int, str] = {}

    def watch(self, directory: Path) -> None:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), self._IN_ALL)
        assert wd >= 0, ctypes.get_errno()
        self._watches[wd] = str(directory)

    def events(self) -> list[tuple[str, str, int]]:
        """(watched directory, entry name or "", mask) of every event since the last call."""
        found = []
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return found
            at = 0
            while at < len(data):
                wd, mask, _, length = struct.unpack_from("iIII", data, at)
                name = data[at + 16:at + 16 + length].rstrip(b"\0").decode("utf-8", "replace")
                found.append((self._watches.get(wd, "?"), name, mask))
                at += 16 + length

    def close(self) -> None:
        os.close(self._fd)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A valid store: two segments, an HNSW graph checkpoint, a deleted row and a snapshot named 'snap'."""
    path = tmp_path_factory.mktemp("template") / "store"
    rng = np.random.default_rng(11)
    with vegafs.VectorStore(path, dim=8, metric="l2", index="hnsw", M=4, ef_construction=16) as store:
        for b in range(2):
            ids = [f"r{b * 12 + i}" for i in range(12)]
            store.add(rng.standard_normal((12, 8)).astype(np.float32), ids=ids,
                      metadata=[{"n": b * 12 + i, "kind": "even" if i % 2 == 0 else "odd"} for i in range(12)],
                      documents=[f"doc {i}" for i in ids])
        store.delete(["r5"])
        store.snapshot("snap")
    assert sorted(p.name for p in path.glob("hnsw-*.idx"))
    return path


@pytest.fixture(scope="module")
def worker():
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("storeworker.py"))],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    yield process
    process.kill()
    process.wait()


def _hostile_names(outside: Path) -> st.SearchStrategy:
    return st.sampled_from([
        "../victim.txt", f"{outside}/victim.txt", "../other/seg-000001.vec", "seg-000001.vec/../../victim.txt",
        "..", ".", "", "seg-000001.vec\u0000", "snapshots", "LOCK", "MANIFEST", "seg-000099.vec", "hnsw-000001.idx",
        "seg-000001.vec", "seg-000002.vec", "seg-1.vec", "seg-0000001.vec", "seg-000000.vec", "/dev/zero",
        "seg-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9.vec", "seg-٠٠٠٠٠١.vec", "hnsw-000003.idx", "../store/seg-000001.vec",
    ]) | st.integers() | st.none() | st.lists(st.text(max_size=3), max_size=2)


def mutations(outside: Path) -> st.SearchStrategy:
    names = _hostile_names(outside)
    manifest_field = st.tuples(st.just("manifest"), st.sampled_from(["snapshot", "store"]),
                               st.sampled_from(["format", "dim", "metric", "next_segment", "segments", "deleted", "index"]),
                               st.one_of(ints, names, st.lists(names, max_size=3),
                                         st.dictionaries(names.filter(lambda n: isinstance(n, str)), st.lists(ints, max_size=3), max_size=2)))
    manifest_name = st.tuples(st.just("name"), st.sampled_from(["snapshot", "store"]),
                              st.sampled_from(["segment", "graph", "deleted"]), names)
    index_field = st.tuples(st.just("index"), st.sampled_from(["snapshot", "store"]),
                            st.sampled_from(["kind", "M", "ef_construction", "ef", "graph", "graph_rows"]), st.one_of(ints, names))
    segment_header = st.tuples(st.just("segment"), st.integers(0, 1),
                               st.sampled_from(["version", "dim", "metric", "count", "vectors_at", "ids_at", "metadata_at",
                                                "documents_at", "end"]), ints)
    segment_offset = st.tuples(st.just("offset"), st.integers(0, 1), st.integers(0, 2), st.integers(0, 12), ints)
    segment_bytes = st.tuples(st.just("bytes"), st.integers(0, 1), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8))
    graph_header = st.tuples(st.just("graph"), st.sampled_from(["m", "ef_construction", "count", "entry", "end"]), ints)
    graph_bytes = st.tuples(st.just("graph_bytes"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8))
    plant = st.tuples(st.just("plant"),
                      st.sampled_from(["seg-000001.vec", "MANIFEST", "GRAPH", "LOCK", "MANIFEST.tmp", "seg-000004.vec.tmp",
                                       "snapshots", "snapshots/snap", "snapshots/snap/MANIFEST", "snapshots/snap/seg-000001.vec",
                                       "snapshots/.fuzz.tmp"]),
                      st.sampled_from(["link_file", "link_dir", "link_other_segment", "link_dev_zero", "link_dangling",
                                       "fifo", "directory", "missing"]))
    return st.lists(st.one_of(manifest_field, manifest_name, index_field, segment_header, segment_offset, segment_bytes,
                              graph_header, graph_bytes, plant), min_size=1, max_size=3)


def _apply(store: Path, case: Path, mutation: tuple) -> None:
    kind = mutation[0]
    outside = case / "outside"
    if kind in ("manifest", "name", "index"):
        directory = store / "snapshots" / "snap" if mutation[1] == "snapshot" else store
        if not (directory / "MANIFEST").is_file() or (directory / "MANIFEST").is_symlink():
            return
        manifest = storeforge.read_manifest(directory)
        if kind == "manifest":
            manifest[mutation[2]] = mutation[3]
        elif kind == "index":
            if isinstance(manifest.get("index"), dict):
                manifest["index"][mutation[2]] = mutation[3]
        else:
            what, name = mutation[2], mutation[3]
            if what == "segment" and isinstance(manifest.get("segments"), list) and manifest["segments"]:
                manifest["segments"][0] = name
            elif what == "graph" and isinstance(manifest.get("index"), dict):
                manifest["index"]["graph"] = name
            elif what == "deleted" and isinstance(name, str):
                manifest["deleted"] = {name: [0]}
        storeforge.write_manifest(directory, json.dumps(manifest, ensure_ascii=False))
    elif kind in ("segment", "offset", "bytes"):
        segments = sorted(p for p in store.glob("seg-*.vec") if p.is_file() and not p.is_symlink())
        if not segments:
            return
        path = segments[min(mutation[1], len(segments) - 1)]
        try:
            segment = storeforge.Segment.read(path)
        except (struct.error, ValueError, MemoryError, OverflowError):  # forged already by an earlier mutation
            return
        if kind in ("segment", "offset"):
            if kind == "segment":
                segment.overrides[mutation[2]] = mutation[3]
            else:
                segment.offset_overrides[(mutation[2], mutation[3])] = mutation[4]
            try:
                data = segment.to_bytes()
            except struct.error:  # the value does not fit the field: another value will
                return
        else:
            raw = bytearray(segment.to_bytes())
            at = storeforge.SEGMENT_HEADER + mutation[2] % max(1, len(raw) - storeforge.SEGMENT_HEADER)
            raw[at:at + len(mutation[3])] = mutation[3]
            data = bytes(raw[:len(segment.to_bytes())])
            body = data[storeforge.SEGMENT_HEADER:]
            header = bytearray(data[:storeforge.SEGMENT_HEADER])
            struct.pack_into("<Q", header, 72, storeforge._xxh3(body))
            struct.pack_into("<Q", header, 80, storeforge._xxh3(bytes(header[:80])))
            data = bytes(header) + body
        path.unlink()
        path.write_bytes(data)
    elif kind in ("graph", "graph_bytes"):
        graphs = sorted(p for p in store.glob("hnsw-*.idx") if p.is_file() and not p.is_symlink())
        if not graphs:
            return
        if kind == "graph":
            try:
                storeforge.rewrite_graph(graphs[0], **{mutation[1]: mutation[2]})
            except struct.error:  # the value does not fit the field: another value will
                return
        else:
            size = graphs[0].stat().st_size - 128
            if size > 0:
                storeforge.patch_graph_payload(graphs[0], mutation[1] % size, mutation[2])
    else:
        where, what = mutation[1], mutation[2]
        if where == "GRAPH":
            graphs = sorted(store.glob("hnsw-*.idx"))
            if not graphs:
                return
            target = graphs[0]
        else:
            target = store / where
        if not target.parent.is_dir() or target.parent.is_symlink():
            return
        if target.is_symlink() or target.is_file() or target.is_fifo():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        links = {"link_file": outside / "victim.txt", "link_dir": outside, "link_dev_zero": Path("/dev/zero"),
                 "link_other_segment": case / "other" / "seg-000001.vec", "link_dangling": outside / "created-by-vegafs"}
        if what in links:
            target.symlink_to(links[what])
        elif what == "fifo":
            os.mkfifo(target)
        elif what == "directory":
            target.mkdir()


def _outside_state(case: Path) -> dict:
    state = {}
    for path in sorted(case.rglob("*")):
        if path.is_relative_to(case / "store"):
            continue
        info = path.lstat()
        state[str(path)] = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_nlink,
                            path.read_bytes() if path.is_file() and not path.is_symlink() else None)
    return state


@settings(max_examples=int(os.environ.get("VEGAFS_FUZZ_EXAMPLES", "60")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_forged_store_never_acts_outside_its_directory_nor_kills_the_process(tmp_path, template, worker, data):
    case = tmp_path / f"case-{os.urandom(4).hex()}"
    case.mkdir()
    (case / "outside").mkdir()
    (case / "outside" / "victim.txt").write_text("precious")
    (case / "victim.txt").write_text("precious too")
    shutil.copytree(template, case / "other")
    store = case / "store"
    shutil.copytree(template, store, symlinks=True)
    for mutation in data.draw(mutations(case / "outside"), label="mutations"):
        _apply(store, case, mutation)
    before = _outside_state(case)
    watcher = Inotify()
    try:
        for directory in (case, case / "outside", case / "other", case / "other" / "snapshots",
                          case / "other" / "snapshots" / "snap"):
            watcher.watch(directory)
        worker.stdin.write(json.dumps(str(store)) + "\n")
        worker.stdin.flush()
        line = worker.stdout.readline()
        assert line, f"the worker died (exit status {worker.wait()}) on this store"
        outcomes = json.loads(line)
        events = [e for e in watcher.events() if not (e[0] == str(case) and e[1] == "store")]
    finally:
        watcher.close()
    assert not events, f"acted outside the store: {events[:10]}"
    assert _outside_state(case) == before
    refused = [o for o in outcomes if not o.startswith(ALLOWED)]
    assert not refused, refused
    shutil.rmtree(case, ignore_errors=True)
