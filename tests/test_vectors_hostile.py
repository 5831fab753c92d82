"""A vector store directory is data users copy, download and share: opening one must never act outside it.

Each test here is a way a crafted or damaged store directory, another process, or an unlucky moment broke
the store before (issue 14): forged manifests and segments with valid checksums (tests/storeforge.py),
files shrinking under an open store, symlinks and FIFOs planted where the store reads or writes, a lost
MANIFEST, readers racing a compacting writer, get() racing upserts, Ctrl-C during long calls.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

import storeforge  # noqa: E402
import vegafs  # noqa: E402
from vegafs.errors import NativeError, VectorStoreError  # noqa: E402


def _store(path: Path, rows: int = 40, dim: int = 8, batches: int = 2, **options) -> Path:
    rng = np.random.default_rng(7)
    with vegafs.VectorStore(path, dim=dim, metric="l2", **options) as store:
        per = rows // batches
        for b in range(batches):
            ids = [f"r{b * per + i}" for i in range(per)]
            store.add(rng.standard_normal((per, dim)).astype(np.float32), ids=ids,
                      metadata=[{"n": b * per + i, "kind": "even" if i % 2 == 0 else "odd"} for i in range(per)],
                      documents=[f"doc {i}" for i in ids])
    return path


def _segments(path: Path) -> list[Path]:
    return sorted(path.glob("seg-*.vec"))


def _exercise(path: Path) -> None:
    """Every reading entry point, read-only."""
    with vegafs.VectorStore(path, read_only=True) as store:
        store.query(np.zeros(store.dim, np.float32), k=5)
        store.query(np.zeros(store.dim, np.float32), k=5, filter={"kind": "even"})
        store.get(["r0", "r1", "missing"])


# ---------------------------------------------------------------- files changing under an open store

def test_a_segment_truncated_under_an_open_store_never_kills_the_process(tmp_path):
    """cp and rsync --inplace truncate a file before rewriting it: the open store must not touch pages
    past the file's new end (a mapped file gave SIGBUS and killed the interpreter)."""
    path = _store(tmp_path / "s", rows=4000, dim=64)
    code = f"""
import os, numpy as np, vegafs
store = vegafs.VectorStore({str(path)!r}, read_only=True)
for seg in sorted(p for p in os.listdir({str(path)!r}) if p.startswith("seg-")):
    os.truncate(os.path.join({str(path)!r}, seg), 4096)
result = store.query(np.zeros(64, np.float32), k=10, filter={{"kind": "odd"}})[0]
assert len(result) == 10, result
assert store.get(["r3999"])[0].metadata == {{"n": 3999, "kind": "odd"}}
print("alive")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "alive"
    # Reopening sees the damage and says so, naming the file.
    with pytest.raises(VectorStoreError, match=r"seg-\d+\.vec"):
        vegafs.VectorStore(path, read_only=True)


# ---------------------------------------------------------------- forged manifests: names

@pytest.mark.parametrize("name", ["../victim.txt", "{outside}/victim.txt", "hnsw-000001.idx/../../victim.txt",
                                  "..", "hnsw-1.idx"])
def test_a_forged_graph_name_never_reaches_outside_the_store(tmp_path, name):
    path = _store(tmp_path / "s", index="hnsw")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    manifest = storeforge.read_manifest(path)
    manifest["index"]["graph"] = name.format(outside=tmp_path)
    manifest["index"]["graph_rows"] = 10 ** 6  # more rows than the store: the graph is "rebuilt", the old file "removed"
    storeforge.write_manifest(path, manifest)
    with pytest.raises(VectorStoreError, match="graph file name|not a valid manifest"):
        vegafs.VectorStore(path).close()
    assert victim.read_text() == "precious"


def test_a_forged_segment_name_cannot_delete_another_stores_segment(tmp_path):
    other = _store(tmp_path / "other")
    before = {p.name: p.read_bytes() for p in _segments(other)}
    path = _store(tmp_path / "s")
    manifest = storeforge.read_manifest(path)
    manifest["segments"].append("../other/" + sorted(before)[0])
    storeforge.write_manifest(path, manifest)
    with pytest.raises(VectorStoreError, match="not a segment name"):
        with vegafs.VectorStore(path) as store:
            store.compact()
    assert {p.name: p.read_bytes() for p in _segments(other)} == before


def test_a_forged_snapshot_manifest_cannot_link_files_outside(tmp_path):
    path = _store(tmp_path / "s")
    (tmp_path / "secret").write_text("secret")
    with vegafs.VectorStore(path) as store:
        store.snapshot("good")
        snapshot = path / "snapshots" / "good"
        manifest = storeforge.read_manifest(snapshot)
        manifest["segments"] = ["../../../secret"]
        manifest["next_segment"] = 99
        storeforge.write_manifest(snapshot, manifest)
        with pytest.raises(VectorStoreError, match="not a segment name"):
            store.restore("good")
        assert len(store) == 40  # unchanged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s", "secret"]
    assert (tmp_path / "secret").stat().st_nlink == 1  # never hard-linked into the store


@pytest.mark.parametrize("change", [
    {"dim": 0}, {"dim": 10 ** 9}, {"next_segment": 1}, {"segments": ["seg-000001.vec", "seg-000001.vec"]},
    {"deleted": {"seg-999999.vec": [0]}}, {"deleted": {"seg-000001.vec": [-1]}}, {"metric": "manhattan"},
    {"format": "1"}, {"segments": "seg-000001.vec"}, {"index": {"kind": "hnsw", "M": 10 ** 6, "ef_construction": 1,
                                                             "ef": 1, "graph": "", "graph_rows": 0}},
    {"index": {"kind": "ivf"}},
])
def test_forged_manifest_values_are_refused_with_a_clear_error(tmp_path, change):
    path = _store(tmp_path / "s")
    manifest = storeforge.read_manifest(path)
    manifest.update(change)
    storeforge.write_manifest(path, manifest)
    with pytest.raises(VectorStoreError, match="MANIFEST"):
        vegafs.VectorStore(path, read_only=True)


def test_a_manifest_nested_or_shaped_wrongly_is_a_store_error_not_a_crash(tmp_path):
    path = _store(tmp_path / "s")
    for body in ["[]", "{}", '{"format": 1}', "[" * 100_000, '{"format": 1, "dim": 8, "metric": "l2", '
                 '"next_segment": 3, "segments": [1, 2], "deleted": {}}']:
        storeforge.write_manifest(path, body)
        with pytest.raises(VectorStoreError):
            vegafs.VectorStore(path, read_only=True)


# ---------------------------------------------------------------- forged segments: counts and offsets

def _forge_first_segment(path: Path, **changes) -> None:
    segment_path = _segments(path)[0]
    segment = storeforge.Segment.read(segment_path)
    for key, value in changes.items():
        setattr(segment, key, value)
    segment_path.unlink()
    segment.write(segment_path)


@pytest.mark.parametrize("changes", [
    {"offset_overrides": {(2, 1): -(1 << 20)}},                  # a document 1 MiB before the section
    {"offset_overrides": {(2, 1): 1 << 40}},                      # far past the end
    {"offset_overrides": {(0, 0): 5}},                            # ids not starting at 0
    {"offset_overrides": {(1, 3): 2}},                            # metadata out of order
    {"count": 10 ** 12}, {"count": -1}, {"count": 0},
    {"overrides": {"ids_at": 7}}, {"overrides": {"documents_at": -8}}, {"overrides": {"metadata_at": 1 << 62}},
    {"overrides": {"vectors_at": 0}}, {"overrides": {"end": 1 << 40}},
])
def test_a_forged_segment_with_valid_checksums_is_refused_naming_the_file(tmp_path, changes):
    path = _store(tmp_path / "s")
    _forge_first_segment(path, **changes)
    with pytest.raises(VectorStoreError, match=r"seg-000001\.vec"):
        _exercise(path)


def test_forged_segment_texts_never_fail_with_an_internal_error(tmp_path):
    path = _store(tmp_path / "s")
    segment = storeforge.Segment.read(_segments(path)[0])
    _forge_first_segment(path, ids=[b"\xff\xfe"] + segment.ids[1:])
    with pytest.raises(VectorStoreError, match="not UTF-8"):
        _exercise(path)
    _forge_first_segment(path, ids=[segment.ids[1]] + segment.ids[1:])
    with pytest.raises(VectorStoreError, match="live twice"):
        _exercise(path)
    # Metadata that is not JSON, or nested deeper than any parser allows: filters pass over the row,
    # reading it says the store is damaged.
    metadata = list(segment.metadata)
    metadata[0] = b"{" * 5000
    metadata[2] = b'{"deep": ' + b"[" * 200 + b"]" * 200 + b', "kind": "even"}'
    _forge_first_segment(path, ids=segment.ids, metadata=metadata)
    with vegafs.VectorStore(path, read_only=True) as store:
        found = store.query(np.zeros(8, np.float32), k=40, filter={"kind": "even"})[0]
        assert "r0" not in found.ids and "r2" not in found.ids and len(found) == 18
        with pytest.raises(VectorStoreError, match="metadata"):
            store.get(["r0"])


# ---------------------------------------------------------------- planted symlinks, FIFOs, devices

@pytest.mark.parametrize("plant", ["symlink_outside", "symlink_dev_zero", "fifo", "directory"])
def test_a_planted_segment_is_refused_without_reading_through_it(tmp_path, plant):
    path = _store(tmp_path / "s")
    target = _segments(path)[0]
    outside = tmp_path / "outside.vec"
    outside.write_bytes(target.read_bytes())  # a perfectly valid segment, but not inside the store
    target.unlink()
    if plant == "symlink_outside":
        target.symlink_to(outside)
    elif plant == "symlink_dev_zero":
        target.symlink_to("/dev/zero")
    elif plant == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    started = time.monotonic()
    with pytest.raises(VectorStoreError, match="seg-000001.vec"):
        vegafs.VectorStore(path, read_only=True)
    assert time.monotonic() - started < 30  # a FIFO must not block the open


def test_planted_manifest_temp_lock_and_snapshots_links_write_nothing_outside(tmp_path):
    path = _store(tmp_path / "s")
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious")
    with vegafs.VectorStore(path) as store:
        # The manifest is written through MANIFEST.tmp: a link planted there must not be written through.
        (path / "MANIFEST.tmp").symlink_to(victim)
        (path / "seg-000003.vec.tmp").symlink_to(outside / "created.vec")
        store.add(np.ones((1, 8), np.float32), ids=["new"])
        (path / "snapshots").symlink_to(outside)
        with pytest.raises(VectorStoreError, match="snapshots"):
            store.snapshot("s1")
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    (path / "snapshots").unlink()
    (path / "LOCK").unlink()
    (path / "LOCK").symlink_to(outside / "lock")
    with pytest.raises(VectorStoreError, match="LOCK"):
        vegafs.VectorStore(path)
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    with vegafs.VectorStore(path, read_only=True) as store:
        assert store.get(["new"])[0] is not None


# ---------------------------------------------------------------- a lost MANIFEST

def test_a_directory_with_segments_but_no_manifest_is_never_made_a_new_store(tmp_path):
    path = _store(tmp_path / "s")
    segments = {p.name: p.read_bytes() for p in _segments(path)}
    (path / "MANIFEST").unlink()
    with pytest.raises(VectorStoreError, match="no MANIFEST"):
        vegafs.VectorStore(path, dim=8, metric="l2")
    with pytest.raises(VectorStoreError, match="no MANIFEST"):
        vegafs.VectorStore(path)
    with pytest.raises(VectorStoreError, match="no MANIFEST"):
        vegafs.VectorStore(path, read_only=True)
    assert {p.name: p.read_bytes() for p in _segments(path)} == segments


def test_paths_that_are_not_store_directories_give_clear_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="(?i)not a directory"):
        vegafs.VectorStore(tmp_path / "file", dim=8)
    with pytest.raises(NotADirectoryError):
        vegafs.VectorStore(tmp_path / "file" / "below", dim=8)
    with pytest.raises(ValueError, match="path is empty"):
        vegafs.VectorStore("", dim=8)
    with pytest.raises(FileNotFoundError):
        vegafs.VectorStore(tmp_path / "missing", read_only=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# ---------------------------------------------------------------- concurrency

def test_get_never_pairs_one_rows_id_with_another_rows_data_under_upserts_and_compaction(tmp_path):
    path = tmp_path / "s"
    dim, n = 8, 400
    store = vegafs.VectorStore(path, dim=dim, metric="l2")

    def rows(version: int):
        ids = [f"i{i}" for i in range(n)]
        vectors = np.array([[i, version] + [0] * (dim - 2) for i in range(n)], np.float32)
        return vectors, ids, [{"id": f"i{i}", "v": version} for i in range(n)], [f"doc i{i}" for i in range(n)]

    store.add(*rows(0)[:2], metadata=rows(0)[2], documents=rows(0)[3])
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        version = 1
        try:
            while not stop.is_set():
                vectors, ids, metadata, documents = rows(version)
                half = slice(0, n // 2) if version % 2 else slice(n // 2, n)
                store.upsert(vectors[half], ids[half], metadata[half], documents[half])
                store.delete([f"i{version % n}"])
                store.upsert(vectors[version % n:version % n + 1], [f"i{version % n}"], metadata[version % n:version % n + 1],
                             documents[version % n:version % n + 1])
                store.compact()
                version += 1
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    writer = threading.Thread(target=churn)
    writer.start()
    mismatches = []
    deadline = time.monotonic() + 6
    try:
        while time.monotonic() < deadline and not errors:
            for record in store.get([f"i{i}" for i in range(0, n, 7)]):
                if record is None:
                    continue
                number = int(record.id[1:])
                if (record.metadata or {}).get("id") != record.id or record.document != f"doc {record.id}" \
                        or record.vector[0] != number or record.vector[1] != record.metadata["v"]:
                    mismatches.append((record.id, record.metadata, record.document, record.vector[:2].tolist()))
    finally:
        stop.set()
        writer.join()
        store.close()
    assert not errors, errors
    assert not mismatches, mismatches[:5]


def test_readers_open_reliably_while_a_writer_adds_and_compacts(tmp_path):
    path = _store(tmp_path / "s", rows=20, batches=2)
    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        rng = np.random.default_rng(3)
        with vegafs.VectorStore(path) as store:
            batch = 0
            while not stop.is_set():
                for _ in range(8):
                    store.add(rng.standard_normal((5, 8)).astype(np.float32), ids=[f"b{batch}-{i}" for i in range(5)])
                    batch += 1
                store.delete([f"b{batch - 1}-0"])
                store.compact()

    writer = threading.Thread(target=write)
    writer.start()
    opens = 0
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            try:
                with vegafs.VectorStore(path, read_only=True) as reader:
                    reader.query(np.zeros(8, np.float32), k=3)
                opens += 1
            except Exception as error:  # collected: every failure is a bug
                failures.append(error)
    finally:
        stop.set()
        writer.join()
    assert opens > 50
    assert not failures, f"{len(failures)} of {opens + len(failures)} read-only opens failed: {failures[:3]}"


# ---------------------------------------------------------------- metadata limits, k

def _nested(levels: int) -> dict:
    """{"x": {"x": ... {}}} with ``levels`` + 1 objects."""
    top: dict = {}
    node = top
    for _ in range(levels):
        node["x"] = {}
        node = node["x"]
    return top


def test_metadata_is_checked_at_add_and_one_deep_row_cannot_break_filters(tmp_path):
    with vegafs.VectorStore(tmp_path / "s", dim=4, metric="l2") as store:
        with pytest.raises(ValueError, match="nested deeper than 32"):
            store.add(np.ones((1, 4), np.float32), ids=["deep"], metadata=[_nested(70)])
        with pytest.raises(ValueError, match="nested too deeply"):
            store.add(np.ones((1, 4), np.float32), ids=["deeper"], metadata=[_nested(5000)])
        with pytest.raises(ValueError, match="bytes of JSON"):
            store.add(np.ones((1, 4), np.float32), ids=["big"], metadata=[{"blob": "x" * (1 << 20)}])
        store.add(np.ones((2, 4), np.float32), ids=["ok", "ok2"], metadata=[{"k": "v", "n": [[[1]]]}, None])
        assert len(store) == 2
        assert store.query(np.ones(4, np.float32), k=5, filter={"k": "v"})[0].ids == ["ok"]


def test_a_huge_k_is_capped_at_the_row_count_before_anything_is_allocated(tmp_path):
    with vegafs.VectorStore(tmp_path / "s", dim=4, metric="l2") as store:
        store.add(np.eye(4, dtype=np.float32), ids=list("abcd"))
        for k in (2 ** 31 - 1, 2 ** 40):
            result = store.query(np.ones((3, 4), np.float32), k=k)
            assert [len(r) for r in result] == [4, 4, 4]


# ---------------------------------------------------------------- Ctrl-C

def _interrupt(code: str) -> tuple[float, float]:
    """Runs ``code`` in a child: it defines prepare(), run() and check(). The child times one whole
    prepare(); run(), prepares again and starts run() a second time; the signal is sent a quarter of the
    measured time in, so it lands while the call runs. Returns (seconds from SIGINT to KeyboardInterrupt,
    seconds of the whole call), after check() has confirmed the state the interrupted call left."""
    script = f"""
import sys, time, numpy as np, vegafs
{code}
prepare()
started = time.monotonic()
run()
print("full", time.monotonic() - started, flush=True)
prepare()
print("go", flush=True)
try:
    run()
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
    check()
    print("intact", flush=True)
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = child.stdout.readline().split()
    assert first and first[0] == "full", child.stderr.read()
    full = float(first[1])
    assert child.stdout.readline().strip() == "go", child.stderr.read()
    time.sleep(full / 4)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    lines = out.split("\n")
    assert lines[0].startswith("interrupted"), (full, out, err[-2000:])
    assert "intact" in lines, (out, err[-2000:])
    return float(lines[0].split()[1]) - sent, full


def test_ctrl_c_stops_a_long_compaction_promptly_and_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "s"
    rng = np.random.default_rng(1)
    with vegafs.VectorStore(path, dim=128, metric="l2") as store:
        for b in range(4):
            store.add(rng.standard_normal((100_000, 128)).astype(np.float32), ids=[f"{b}-{i}" for i in range(100_000)])
        store.delete([f"0-{i}" for i in range(1000)])
    code = f"""
import os, shutil
src = {str(path)!r}
work = src + "-work"
store = None
def prepare():
    global store
    if store is not None:
        store.close()
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(src, work)
    store = vegafs.VectorStore(work)
def run():
    store.compact()
def check():
    assert len(store) == 399_000 and store.get(["0-5"])[0] is None and store.get(["3-5"])[0] is not None
    store.close()
    assert not [n for n in os.listdir(work) if n.endswith(".tmp")], os.listdir(work)
    reopened = vegafs.VectorStore(work, read_only=True)
    assert len(reopened) == 399_000 and len(reopened.query(np.zeros(128, np.float32), k=3)[0]) == 3
"""
    stopped, full = _interrupt(code)
    # The whole compaction takes a second or more here; stopping must take a small part of it.
    assert stopped < max(0.25, full / 5), (stopped, full)


def test_ctrl_c_stops_a_large_query_batch_promptly(tmp_path):
    path = tmp_path / "s"
    rng = np.random.default_rng(2)
    with vegafs.VectorStore(path, dim=64, metric="l2") as store:
        store.add(rng.standard_normal((200_000, 64)).astype(np.float32))
    code = f"""
store = vegafs.VectorStore({str(path)!r}, read_only=True)
queries = np.random.default_rng(5).standard_normal((1500, 64)).astype(np.float32)
def prepare():
    pass
def run():
    store.query(queries, k=10)
def check():
    assert len(store.query(queries[:2], k=3)[1]) == 3
"""
    stopped, full = _interrupt(code)
    assert stopped < max(0.25, full / 5), (stopped, full)
