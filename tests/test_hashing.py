"""Hashing and duplicate finding through the real library, against hashlib, python3-xxhash and zlib."""
from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

import vegafs
from conftest import interrupt_loop

xxhash = pytest.importorskip("xxhash")

REFERENCES = {
    "sha256": lambda b: hashlib.sha256(b).hexdigest(),
    "sha1": lambda b: hashlib.sha1(b).hexdigest(),
    "md5": lambda b: hashlib.md5(b).hexdigest(),
    "blake2b": lambda b: hashlib.blake2b(b).hexdigest(),
    "xxh64": lambda b: xxhash.xxh64(b).hexdigest(),
    "xxh3_64": lambda b: xxhash.xxh3_64(b).hexdigest(),
    "xxh3_128": lambda b: xxhash.xxh3_128(b).hexdigest(),
    "crc32": lambda b: format(zlib.crc32(b), "08x"),
}
# Lengths around every internal boundary: XXH3's 16/128/240-byte paths, its 64-byte stripes and 1 KiB
# blocks, XXH64's 32-byte stripes, the 4 KiB partial hash of duplicate finding, the 1 MiB read chunk.
SIZES = [0, 1, 3, 4, 8, 9, 16, 17, 31, 32, 33, 64, 127, 128, 129, 240, 241, 1023, 1024, 1025, 2048, 4095,
         4096, 4097, 65537, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[tuple[Path, bytes]]:
    root = tmp_path_factory.mktemp("corpus")
    rng = random.Random(7)
    files = []
    for i, size in enumerate(SIZES + [rng.randrange(0, 20000) for _ in range(40)]):
        data = rng.randbytes(size)
        path = root / f"f{i:03d}.bin"
        path.write_bytes(data)
        files.append((path, data))
    return files


def test_every_algorithm_is_available_here():
    assert vegafs.available_algorithms() == list(vegafs.ALGORITHMS)


@pytest.mark.parametrize("algorithm", list(REFERENCES))
def test_hash_files_equals_the_reference_for_every_size(corpus, algorithm):
    result = vegafs.hash_files([p for p, _ in corpus], algorithm)
    assert not result.errors
    assert list(result) == [str(p) for p, _ in corpus]  # keys: the given paths (os.fspath), in the given order
    for path, data in corpus:
        assert result[path] == REFERENCES[algorithm](data), (algorithm, len(data))
        assert result.size(path) == len(data)


@pytest.mark.parametrize("algorithm", list(REFERENCES))
def test_hash_bytes_and_compute_file_hash_equal_the_reference(corpus, algorithm):
    for path, data in corpus[::5]:
        assert vegafs.hash_bytes(data, algorithm) == REFERENCES[algorithm](data)
        assert vegafs.compute_file_hash(path, algorithm) == REFERENCES[algorithm](data)
    view = memoryview(bytearray(b"abc" * 1000))[10:2000]
    assert vegafs.hash_bytes(view, algorithm) == REFERENCES[algorithm](bytes(view))


def test_algorithm_names_are_forgiving_but_unknown_ones_are_refused(tmp_path):
    (tmp_path / "f").write_bytes(b"data")
    assert vegafs.compute_file_hash(tmp_path / "f", "SHA-256") == hashlib.sha256(b"data").hexdigest()
    assert vegafs.compute_file_hash(tmp_path / "f", "xxh128") == xxhash.xxh3_128(b"data").hexdigest()
    with pytest.raises(ValueError, match="unknown hash algorithm 'sha3'.*sha256"):
        vegafs.compute_file_hash(tmp_path / "f", "sha3")
    with pytest.raises(TypeError):
        vegafs.hash_files([tmp_path / "f"], 256)  # type: ignore[arg-type]


def _reference_tree(root: Path, algorithm: str = "sha256") -> dict[str, str]:
    """Every regular file below root (symlinks not followed), hashed with the reference."""
    digests = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    digests[path] = REFERENCES[algorithm](handle.read())
    return digests


def test_a_tree_is_hashed_like_os_walk_and_hashlib(tree):
    (tree / "a" / "b" / "big.bin").write_bytes(os.urandom(2_500_000))
    result = vegafs.hash_files(str(tree), "sha256", threads=3)
    assert dict(result) == _reference_tree(tree)  # symlinks (to a dir, dangling) are left out
    assert not result.errors
    assert result.bytes_hashed == sum(os.path.getsize(p) for p in result)


def test_a_bytes_root_gives_bytes_paths_and_odd_names_survive(tmp_path):
    (tmp_path / "sub").mkdir()
    odd = os.fsencode(tmp_path) + b"/sub/bad\xff name\n.txt"
    with open(odd, "wb") as handle:
        handle.write(b"odd")
    result = vegafs.hash_files(os.fsencode(tmp_path), "xxh64")
    assert dict(result) == {odd: xxhash.xxh64(b"odd").hexdigest()}
    as_text = vegafs.hash_files(tmp_path, "xxh64")
    assert list(as_text) == [os.fsdecode(odd)]
    assert vegafs.compute_file_hash(odd, "xxh64") == xxhash.xxh64(b"odd").hexdigest()


def test_filters_apply_to_a_tree(tree):
    result = vegafs.hash_files(tree, "md5", include=["*.py", "*.csv"], exclude=["c"])
    assert sorted(os.path.relpath(p, tree) for p in result) == ["a/b/two.py"]
    (tree / ".gitignore").write_text("*.md\n")
    (tree / ".git").mkdir()
    ignored = vegafs.hash_files(tree, "md5", gitignore=True)
    assert not any(p.endswith(".md") for p in ignored)
    assert vegafs.hash_files(tree, "md5", max_depth=1).keys() == {str(tree / ".hidden"), str(tree / "top.md"), str(tree / ".gitignore")}


def test_follow_links_hashes_link_targets_and_reports_dangling_ones(tree):
    (tree / "file_link").symlink_to(tree / "top.md")
    plain = vegafs.hash_files(tree)
    assert str(tree / "file_link") not in plain
    followed = vegafs.hash_files(tree, follow_links=True)
    assert followed[str(tree / "file_link")] == hashlib.sha256(b"top").hexdigest()
    assert followed[str(tree / "link_to_a" / "one.txt")] == hashlib.sha256(b"1").hexdigest()
    assert [(os.path.basename(e.filename), type(e)) for e in followed.errors] == [("dangling", vegafs.VegaFileNotFoundError)]


def test_a_symlink_loop_is_reported_not_followed_forever(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    result = vegafs.hash_files(tmp_path, "crc32", follow_links=True)
    assert list(result) == [str(tmp_path / "d" / "f")]
    assert [e.errno for e in result.errors] == [40]  # ELOOP


def test_per_file_errors_are_reported_and_the_rest_hashed(tmp_path):
    good = tmp_path / "good"
    good.write_bytes(b"fine")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    paths = [good, tmp_path / "missing", tmp_path, fifo, good]
    started = time.monotonic()
    result = vegafs.hash_files(paths, "sha1")
    assert time.monotonic() - started < 10  # a FIFO is refused, never waited on
    assert dict(result) == {str(good): hashlib.sha1(b"fine").hexdigest()}
    kinds = [(e.filename, type(e)) for e in result.errors]
    assert kinds[0] == (str(tmp_path / "missing"), vegafs.VegaFileNotFoundError)
    assert kinds[1] == (str(tmp_path), vegafs.VegaIsADirectoryError)
    assert kinds[2][0] == str(fifo) and result.errors[2].errno == 22


def test_single_file_errors_raise_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        vegafs.compute_file_hash(tmp_path / "nope")
    assert missing.value.filename == str(tmp_path / "nope")
    with pytest.raises(IsADirectoryError):
        vegafs.compute_file_hash(tmp_path)
    with pytest.raises(FileNotFoundError):
        vegafs.hash_files(str(tmp_path / "no-such-root"))
    assert vegafs.hash_files(tmp_path) == {}
    assert vegafs.hash_files([]) == {}


def test_empty_files_hash_like_empty_input(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    for algorithm, reference in REFERENCES.items():
        assert vegafs.compute_file_hash(tmp_path / "empty", algorithm) == reference(b"")


def test_a_sparse_file_larger_than_4_gib(tmp_path):
    path = tmp_path / "sparse"
    size = (4 << 30) + 12345
    with open(path, "wb") as handle:
        handle.truncate(size)
        handle.seek(size - 5)
        handle.write(b"tail!")
    result = vegafs.hash_files([path], "xxh3_64")
    assert result.size(path) == size
    reference = xxhash.xxh3_64()
    zeros = bytes(1 << 24)
    remaining = size - 5
    while remaining:
        chunk = min(remaining, len(zeros))
        reference.update(zeros[:chunk])
        remaining -= chunk
    reference.update(b"tail!")
    assert result[path] == reference.hexdigest()


def test_permission_denied_as_unprivileged_user(world_tmp, unprivileged_python):
    secret = world_tmp / "secret"
    secret.write_bytes(b"s")
    os.chmod(secret, 0o600)
    (world_tmp / "open").write_bytes(b"o")
    os.chmod(world_tmp / "open", 0o644)
    code = f"""
import vegafs
r = vegafs.hash_files({str(world_tmp)!r}, "sha256")
print(sorted(r), [(e.filename, type(e).__name__, isinstance(e, PermissionError)) for e in r.errors])
try:
    vegafs.compute_file_hash({str(secret)!r})
except PermissionError as e:
    print("raised", e.errno)
"""
    out = subprocess.run([*unprivileged_python, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"[{str(world_tmp / 'open')!r}] [({str(secret)!r}, 'VegaPermissionError', True)]"
    assert lines[1] == "raised 13"


def test_a_file_growing_while_hashed_gives_a_prefix_never_a_crash(tmp_path):
    path = tmp_path / "growing"
    path.write_bytes(b"start")
    stop = threading.Event()

    def grow() -> None:
        # Bounded: at most 8 MiB, in small appends while the hashes run.
        with open(path, "ab", buffering=0) as handle:
            for _ in range(2048):
                if stop.is_set():
                    break
                handle.write(b"x" * 4096)
                time.sleep(0.0005)

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        for _ in range(10):
            result = vegafs.hash_files([path], "sha256")
            size = result.size(path)
            with open(path, "rb") as handle:
                prefix = handle.read(size)
            assert result[path] == hashlib.sha256(prefix).hexdigest()
    finally:
        stop.set()
        writer.join()


def test_ctrl_c_stops_hashing_promptly(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(os.urandom(1 << 20))
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([str(big)] * 20000))
    printed, delay = interrupt_loop(tmp_path, f"vegafs.hash_files(open({str(listing)!r}).read().split(), 'sha256')", settle=1.0)
    assert printed == ["interrupted", "0"]
    assert delay < 1.0



def test_ctrl_c_stops_hash_bytes_promptly(tmp_path):
    # 3 GiB of zero pages cost no memory but seconds of sha256 (5-40 s here, by load): before the
    # slicing, Ctrl-C waited for the whole call.
    buffer = "__import__('mmap').mmap(-1, 3 << 30, flags=__import__('mmap').MAP_PRIVATE)"
    printed, delay = interrupt_loop(tmp_path, f"vegafs.hash_bytes({buffer}, 'sha256')")
    assert printed == ["interrupted", "0"]
    assert delay < 2.0


def test_hash_bytes_slices_equal_one_call_around_slice_boundaries():
    from vegafs._hashing import _HASH_BYTES_SLICE as SLICE
    data = random.Random(5).randbytes(2 * SLICE + 5)
    for algorithm, reference in REFERENCES.items():
        for size in (SLICE - 1, SLICE, SLICE + 1, 2 * SLICE + 5):
            assert vegafs.hash_bytes(memoryview(data)[:size], algorithm) == reference(data[:size]), (algorithm, size)
    words = memoryview(data)[:SLICE + 8].cast("Q")  # a buffer of 8-byte items is hashed as its bytes
    assert vegafs.hash_bytes(words, "xxh3_64") == xxhash.xxh3_64(words.tobytes()).hexdigest()
    assert vegafs.hash_bytes(bytearray(data[:SLICE + 3]), "crc32") == REFERENCES["crc32"](data[:SLICE + 3])


def test_hash_bytes_refuses_what_is_not_one_contiguous_buffer():
    for data in ("text", None, 42, [1, 2]):
        with pytest.raises(TypeError, match="bytes-like"):
            vegafs.hash_bytes(data)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="contiguous"):
        vegafs.hash_bytes(memoryview(b"abcdef")[::2])


# --- duplicates ---

def _reference_duplicates(root: Path, min_size: int = 1) -> list[tuple[int, list[str]]]:
    """Groups of identical regular files (no symlinks), as (size, sorted paths), by content."""
    by_content: dict[bytes, list[str]] = {}
    inodes: dict[bytes, set] = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) < min_size:
                continue
            data = Path(path).read_bytes()
            by_content.setdefault(data, []).append(path)
            st = os.stat(path)
            inodes.setdefault(data, set()).add((st.st_dev, st.st_ino))
    groups = [(len(data), sorted(paths)) for data, paths in by_content.items() if len(inodes[data]) > 1]
    return sorted(groups)


def _duplicate_tree(root: Path) -> Path:
    rng = random.Random(3)
    head = rng.randbytes(4096)
    contents = {
        "same_small": b"hello world",
        "big": rng.randbytes(300_000),
        "same_head_a": head + b"A" * 1000,   # equal first 4 KiB, differ after
        "same_head_b": head + b"B" * 1000,
        "size_twin_a": b"x" * 11,            # same size as same_small, different bytes
        "empty": b"",
    }
    (root / "one" / "two").mkdir(parents=True)
    (root / "three").mkdir()
    for name, data in contents.items():
        (root / "one" / name).write_bytes(data)
    (root / "one" / "two" / "copy_small").write_bytes(contents["same_small"])
    (root / "three" / "copy_small").write_bytes(contents["same_small"])
    (root / "three" / "copy_big").write_bytes(contents["big"])
    (root / "three" / "copy_head_a").write_bytes(contents["same_head_a"])
    (root / "three" / "empty2").write_bytes(b"")
    os.link(root / "one" / "big", root / "three" / "big_hardlink")
    (root / "three" / "link_to_big").symlink_to(root / "one" / "big")
    return root


def test_duplicates_equal_a_content_reference(tmp_path):
    root = _duplicate_tree(tmp_path)
    report = vegafs.find_duplicates(root)
    got = sorted((g.size, sorted(g.paths)) for g in report.groups)
    assert got == _reference_duplicates(root)
    big = next(g for g in report.groups if g.size == 300_000)
    assert big.copies == 2 and len(big.paths) == 3  # the hard link rides along but is not waste
    assert big.wasted_bytes == 300_000
    assert report.groups[0] is big  # most waste first
    assert report.wasted_bytes == 300_000 + 2 * 11 + 5096
    assert big.digest == xxhash.xxh3_128((root / "one" / "big").read_bytes()).hexdigest()
    assert not report.errors


def test_duplicates_options(tmp_path):
    root = _duplicate_tree(tmp_path)
    with_empty = vegafs.find_duplicates(root, min_size=0)
    assert sorted((g.size, sorted(g.paths)) for g in with_empty.groups) == _reference_duplicates(root, 0)
    large_only = vegafs.find_duplicates(root, min_size=5000)
    assert [g.size for g in large_only.groups] == [300_000, 5096]
    sha = vegafs.find_duplicates(root, algorithm="sha256")
    small = next(g for g in sha.groups if g.size == 11)
    assert small.digest == hashlib.sha256(b"hello world").hexdigest()
    listed = vegafs.find_duplicates([root / "one" / "same_small", root / "three" / "copy_small", root / "one" / "big"])
    assert [sorted(g.paths) for g in listed.groups] == [[str(root / "one" / "same_small"), str(root / "three" / "copy_small")]]
    data = json.loads(vegafs.find_duplicates(root).to_json())
    assert data["wasted_bytes"] == 300_000 + 2 * 11 + 5096 and data["groups"][0]["copies"] == 2
    with pytest.raises(ValueError):
        vegafs.find_duplicates(root, min_size=-1)


def test_a_hard_link_pair_alone_is_not_a_duplicate(tmp_path):
    (tmp_path / "a").write_bytes(b"shared bytes")
    os.link(tmp_path / "a", tmp_path / "b")
    assert vegafs.find_duplicates(tmp_path).groups == []


def test_duplicates_report_unreadable_files(world_tmp, unprivileged_python):
    for name in ("a", "b", "c"):
        (world_tmp / name).write_bytes(b"same content")
        os.chmod(world_tmp / name, 0o644)
    os.chmod(world_tmp / "c", 0o600)
    code = f"""
import vegafs
r = vegafs.find_duplicates({str(world_tmp)!r})
print([sorted(g.paths) for g in r.groups], [(e.filename, e.errno) for e in r.errors])
"""
    out = subprocess.run([*unprivileged_python, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    a, b, c = (str(world_tmp / n) for n in "abc")
    assert out.stdout.strip() == f"[[{a!r}, {b!r}]] [({c!r}, 13)]"


# --- fsspec ---

def test_fsspec_urls_hash_and_dedupe_like_local_files():
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe({"/hashing/a.txt": b"alpha", "/hashing/sub/b.txt": b"alpha", "/hashing/c.txt": b"gamma"})
    try:
        result = vegafs.hash_files("memory://hashing", "xxh3_64")
        assert dict(result) == {"memory:///hashing/a.txt": xxhash.xxh3_64(b"alpha").hexdigest(),
                                "memory:///hashing/sub/b.txt": xxhash.xxh3_64(b"alpha").hexdigest(),
                                "memory:///hashing/c.txt": xxhash.xxh3_64(b"gamma").hexdigest()}
        assert vegafs.compute_file_hash("memory://hashing/c.txt") == hashlib.sha256(b"gamma").hexdigest()
        dupes = vegafs.find_duplicates("memory://hashing")
        assert [g.paths for g in dupes.groups] == [["memory:///hashing/a.txt", "memory:///hashing/sub/b.txt"]]
        with pytest.raises(FileNotFoundError):
            vegafs.compute_file_hash("memory://hashing/none")
        listed = vegafs.hash_files(["memory://hashing/a.txt", "memory://hashing/none"])
        assert list(listed) == ["memory://hashing/a.txt"] and len(listed.errors) == 1
    finally:
        fs.rm("/hashing", recursive=True)


# --- CLI ---

def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vegafs", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_cli_hash_output_is_checked_by_sha256sum(tree, tmp_path_factory):
    out = _cli("hash", ".", cwd=tree)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines == sorted(lines, key=lambda line: line.split("  ", 1)[1])
    sums = tmp_path_factory.mktemp("sums") / "SHA256SUMS"
    sums.write_text(out.stdout)
    check = subprocess.run(["sha256sum", "-c", str(sums)], cwd=tree, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == len(lines) == 5


def test_cli_hash_dupes_and_info_json(tmp_path):
    root = _duplicate_tree(tmp_path / "t")
    hashed = json.loads(_cli("hash", str(root / "one" / "big"), "-a", "crc32", "--json").stdout)
    assert hashed["files"] == {str(root / "one" / "big"): format(zlib.crc32((root / "one" / "big").read_bytes()), "08x")}
    dupes = _cli("dupes", str(root), "--json")
    assert dupes.returncode == 0
    assert json.loads(dupes.stdout)["wasted_bytes"] == 300_000 + 2 * 11 + 5096
    text = _cli("dupes", str(root)).stdout
    assert "3 groups, 4 duplicate files" in text
    info = _cli("info", str(root / "three" / "link_to_big"), str(root / "nope"), "--no-follow", "--json")
    assert info.returncode == 1 and "nope: No such file or directory" in info.stderr
    data = json.loads(info.stdout)
    assert data["kind"] == "symlink" and data["symlink_target"] == str(root / "one" / "big")
    missing = _cli("hash", str(root / "nope"))
    assert missing.returncode == 1 and "No such file or directory" in missing.stderr


def test_progress_callbacks_receive_job_progress(tmp_path):
    for k in range(50):
        (tmp_path / f"f{k}").write_bytes(b"x" * k)
    seen: list[vegafs.JobProgress] = []
    result = vegafs.hash_files(tmp_path, "md5", progress=seen.append)
    assert seen and seen[-1].files == 50 and seen[-1].bytes == sum(range(50)) and seen[-1].errors == 0
    assert len(result) == 50
    stages: list[vegafs.JobProgress] = []
    vegafs.find_duplicates(tmp_path, progress=stages.append)
    assert stages[-1].stage == "done" and stages[-1].files == 50


def test_files_that_understate_their_size_are_read_to_the_end():
    # procfs reports size 0 and returns a page per read: the whole content must still be hashed.
    path = "/proc/self/mountinfo" if not os.path.exists("/proc/kallsyms") else "/proc/kallsyms"
    with open(path, "rb") as handle:
        expected = handle.read()
    assert len(expected) > 4096
    result = vegafs.hash_files([path], "sha256")
    assert result.size(path) == len(expected) and result[path] == hashlib.sha256(expected).hexdigest()
