"""Reading, atomic writing and file information, against Python's own file APIs."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

import vegafs
from conftest import run_python

NOBODY = 65534


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 1 << 20, (1 << 24) + 3])
def test_read_file_bytes_equals_python(tmp_path, size):
    path = tmp_path / "f"
    data = os.urandom(size)
    path.write_bytes(data)
    assert vegafs.read_file_bytes(path) == data
    assert b"".join(vegafs.iter_file_chunks(path, 65536)) == data
    assert all(len(c) == 65536 for c in list(vegafs.iter_file_chunks(path, 65536))[:-1])


def test_read_file_string_and_lines(tmp_path):
    path = tmp_path / "t.txt"
    text = "first\r\nsecond\nthird\rfourth\u2028same line\n\nlast"
    path.write_bytes(text.encode())
    assert vegafs.read_file_string(path) == text
    assert vegafs.read_file_lines(path) == ["first", "second", "third", "fourth\u2028same line", "", "last"]
    assert "".join(vegafs.read_file_lines(path, keepends=True)) == text
    assert vegafs.read_file_lines(path, keepends=True)[:3] == ["first\r\n", "second\n", "third\r"]
    (tmp_path / "nl.txt").write_text("a\nb\n")
    assert vegafs.read_file_lines(tmp_path / "nl.txt") == ["a", "b"]
    (tmp_path / "empty").write_bytes(b"")
    assert vegafs.read_file_lines(tmp_path / "empty") == [] and vegafs.read_file_string(tmp_path / "empty") == ""
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café".encode("latin-1"))
    assert vegafs.read_file_string(latin, encoding="latin-1") == "café"


def test_invalid_text_names_the_file_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\xffno")
    with pytest.raises(UnicodeDecodeError) as caught:
        vegafs.read_file_string(path)
    assert caught.value.start == 2 and str(path) in str(caught.value)
    assert vegafs.read_file_string(path, errors="replace") == "ok\ufffdno"
    assert vegafs.read_file_string(path, errors="surrogateescape").encode("utf-8", "surrogateescape") == b"ok\xffno"


def test_read_errors_are_vegafs_os_errors_naming_the_path(tmp_path):
    with pytest.raises(vegafs.VegaFileNotFoundError) as missing:
        vegafs.read_file_bytes(tmp_path / "nope")
    assert missing.value.filename == str(tmp_path / "nope")
    with pytest.raises(IsADirectoryError):
        vegafs.read_file_string(tmp_path)
    with pytest.raises(FileNotFoundError):
        list(vegafs.iter_file_chunks(tmp_path / "nope"))
    with pytest.raises(ValueError):
        list(vegafs.iter_file_chunks(tmp_path / "nope", 0))


def test_permission_denied_as_unprivileged_user(world_tmp, unprivileged_python):
    secret = world_tmp / "secret"
    secret.write_text("s")
    os.chmod(secret, 0o600)
    code = f"""
import vegafs
for call in (lambda: vegafs.read_file_bytes({str(secret)!r}), lambda: vegafs.write_file_atomic({str(secret)!r}, "x")):
    try:
        call()
    except PermissionError as e:
        print(type(e).__name__, e.errno, e.filename)
"""
    out = subprocess.run([*unprivileged_python, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"VegaPermissionError 13 {secret}"] * 2
    assert secret.read_text() == "s"
    assert [p.name for p in world_tmp.iterdir()] == ["secret"]  # no temporary file left behind


def test_write_file_atomic_creates_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / "out.txt"
    vegafs.write_file_atomic(path, "héllo")
    assert path.read_bytes() == "héllo".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()
    os.chmod(path, 0o640)
    vegafs.write_file_atomic(path, b"new", fsync=False)
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o640
    vegafs.write_file_atomic(path, bytearray(b"mode"), mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    vegafs.write_file_atomic(path, "x", encoding="utf-16")
    assert path.read_bytes() == "x".encode("utf-16")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with pytest.raises(ValueError):
        vegafs.write_file_atomic(path, "x", mode=0o1000000)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_file_atomic_through_a_symlink_keeps_the_link(tmp_path):
    target = tmp_path / "real"
    target.write_text("old")
    link = tmp_path / "link"
    link.symlink_to(target)
    vegafs.write_file_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_write_file_atomic_errors_leave_no_trace(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        vegafs.write_file_atomic(tmp_path / "dir", "x")
    with pytest.raises(FileNotFoundError):
        vegafs.write_file_atomic(tmp_path / "missing" / "f", "x")
    with pytest.raises(TypeError):
        vegafs.write_file_atomic(tmp_path / "f", 42)  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]


def test_concurrent_writers_never_mix(tmp_path):
    path = tmp_path / "shared"
    contents = [bytes([65 + k]) * 300_000 for k in range(4)]
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for _ in range(15):
                vegafs.write_file_atomic(path, contents[k], fsync=False)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    seen = set()
    while any(t.is_alive() for t in threads):
        if path.exists():
            data = path.read_bytes()
            assert data in contents
            seen.add(data[:1])
    for t in threads:
        t.join()
    assert not errors and path.read_bytes() in contents
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared"]


def test_a_writer_killed_at_any_point_leaves_old_or_new_content(tmp_path):
    path = tmp_path / "victim"
    old, new = b"O" * 2_000_000, b"N" * 2_000_000
    path.write_bytes(old)
    script = textwrap.dedent(f"""
        import sys, vegafs
        contents = [b"O" * 2_000_000, b"N" * 2_000_000]
        print("ready", flush=True)
        k = 0
        while True:
            vegafs.write_file_atomic({str(path)!r}, contents[k % 2])
            k += 1
    """)
    for attempt in range(12):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + 0.037 * attempt)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert path.read_bytes() in (old, new), f"torn file after kill {attempt}"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "victim"]
    assert all(name.startswith(".victim.") and name.endswith(".tmp") for name in leftovers)


def test_get_file_info_matches_os_stat(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"12345")
    os.chmod(path, 0o754)
    info = vegafs.get_file_info(path)
    st = os.stat(path)
    assert (info.size, info.mode, info.uid, info.gid, info.inode, info.device, info.nlink) == (
        st.st_size, st.st_mode, st.st_uid, st.st_gid, st.st_ino, st.st_dev, st.st_nlink)
    assert (info.atime_ns, info.mtime_ns, info.ctime_ns) == (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
    assert info.kind is vegafs.Kind.FILE and info.is_file and not info.is_dir
    assert info.permissions == "-rwxr-xr--" and info.symlink_target is None
    assert info.path == str(path)
    assert vegafs.get_file_info(tmp_path).kind is vegafs.Kind.DIRECTORY
    assert vegafs.get_file_info(os.fsencode(path)).path == os.fsencode(path)


def test_get_file_info_of_links_and_special_files(tmp_path):
    (tmp_path / "target").write_text("t")
    (tmp_path / "link").symlink_to("target")
    (tmp_path / "dangling").symlink_to("nowhere")
    os.mkfifo(tmp_path / "fifo")
    followed = vegafs.get_file_info(tmp_path / "link")
    assert followed.kind is vegafs.Kind.FILE and followed.symlink_target == "target" and followed.size == 1
    own = vegafs.get_file_info(tmp_path / "link", follow_symlinks=False)
    assert own.kind is vegafs.Kind.SYMLINK and own.inode == os.lstat(tmp_path / "link").st_ino
    with pytest.raises(vegafs.VegaFileNotFoundError):
        vegafs.get_file_info(tmp_path / "dangling")
    assert vegafs.get_file_info(tmp_path / "dangling", follow_symlinks=False).symlink_target == "nowhere"
    assert vegafs.get_file_info(tmp_path / "fifo").kind is vegafs.Kind.FIFO
    fifo = vegafs.get_file_info(tmp_path / "fifo").to_dict()
    assert (fifo["kind"], fifo["is_file"], fifo["is_dir"]) == ("fifo", False, False)
    assert vegafs.get_file_info(tmp_path).to_dict()["is_dir"] is True


def test_fsspec_round_trip():
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    try:
        vegafs.write_file_atomic("memory://ops/a.txt", "alpha\nbeta\n")
        assert vegafs.read_file_bytes("memory://ops/a.txt") == b"alpha\nbeta\n"
        assert vegafs.read_file_lines("memory://ops/a.txt") == ["alpha", "beta"]
        assert b"".join(vegafs.iter_file_chunks("memory://ops/a.txt", 4)) == b"alpha\nbeta\n"
        info = vegafs.get_file_info("memory://ops/a.txt")
        assert info.size == 11 and info.kind is vegafs.Kind.FILE and info.inode is None
        assert vegafs.get_file_info("memory://ops").kind is vegafs.Kind.DIRECTORY
        with pytest.raises(FileNotFoundError):
            vegafs.read_file_bytes("memory://ops/none")
        with pytest.raises(IsADirectoryError):
            vegafs.read_file_bytes("memory://ops")
        with pytest.raises(FileNotFoundError):
            vegafs.get_file_info("memory://ops/none")
    finally:
        if fs.exists("/ops"):
            fs.rm("/ops", recursive=True)


# --- hardening (issue 14) ---

def _leftovers(*directories: Path) -> list[str]:
    return [str(p) for d in directories for p in d.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["n", "a" * 237, "b" * 238, "c" * 254, "d" * 255, "é" * 127 + "e"],
                         ids=lambda name: f"{len(name.encode())}-bytes")
def test_write_file_atomic_takes_any_name_up_to_name_max(tmp_path, name):
    path = tmp_path / name
    vegafs.write_file_atomic(path, "first")
    vegafs.write_file_atomic(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_write_file_atomic_refuses_a_name_longer_than_name_max(tmp_path):
    with pytest.raises(OSError) as caught:
        vegafs.write_file_atomic(tmp_path / ("x" * 256), "data")
    assert caught.value.errno == errno.ENAMETOOLONG
    assert list(tmp_path.iterdir()) == []


def test_a_parent_directory_swapped_during_writes_strands_no_temporary_file(tmp_path):
    first, second, spare = tmp_path / "first", tmp_path / "second", tmp_path / "spare"
    first.mkdir()
    second.mkdir()
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            os.rename(first, spare)
            os.rename(second, first)
            os.rename(spare, second)

    swapper = threading.Thread(target=swap)
    swapper.start()
    written = attempts = 0
    try:
        while written < 1000:  # before the fix, dozens of temporary files were stranded meanwhile
            attempts += 1
            assert attempts < 1_000_000
            try:
                vegafs.write_file_atomic(first / "f", b"data", fsync=False)
                written += 1
            except FileNotFoundError:
                pass  # "first" was missing at that instant
    finally:
        stop.set()
        swapper.join()
    assert _leftovers(first, second) == []
    assert {p.name for d in (first, second) for p in d.iterdir()} <= {"f"}


def _special_files(directory: Path) -> dict[str, Path]:
    """A FIFO, a socket and (where this process may make one) a character device equal to /dev/null."""
    made = {"fifo": directory / "fifo", "socket": directory / "socket"}
    os.mkfifo(made["fifo"])
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(made["socket"]))
    server.close()
    try:
        os.mknod(directory / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        made["char"] = directory / "null"
    except PermissionError:
        pass
    return made


def test_write_file_atomic_replaces_only_regular_files(tmp_path):
    special = _special_files(tmp_path)
    (tmp_path / "link_to_fifo").symlink_to("fifo")
    special["fifo"] = tmp_path / "link_to_fifo"  # the kind is the link target's
    for kind, path in special.items():
        before = os.stat(path)
        with pytest.raises(vegafs.VegaOSError) as caught:
            vegafs.write_file_atomic(path, b"data")
        assert caught.value.errno == errno.EINVAL and caught.value.filename == str(path)
        assert kind in caught.value.strerror
        after = os.stat(path)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert _leftovers(tmp_path) == []


@pytest.fixture
def sticky_tmp():
    """A world-writable sticky directory like /tmp, owned by root."""
    path = Path(tempfile.mkdtemp(prefix="vegafs-sticky-"))
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's symlink needs root")
def test_another_users_symlink_in_a_sticky_directory_is_not_followed(tmp_path, sticky_tmp):
    victim = tmp_path / "victim"
    victim.write_text("root's")
    planted = sticky_tmp / "planted"
    planted.symlink_to(victim)
    os.lchown(planted, NOBODY, NOBODY)
    own = tmp_path / "own_link_to_planted"
    own.symlink_to(planted)
    for path in (planted, own):  # the planted link is refused also as the second hop of a chain
        with pytest.raises(PermissionError) as caught:
            vegafs.write_file_atomic(path, "attacker's choice")
        assert caught.value.filename == str(path)
    assert victim.read_text() == "root's" and planted.is_symlink()
    assert _leftovers(tmp_path, sticky_tmp) == []
    # The kernel's rule (fs.protected_symlinks=1): a link owned by the follower or by the directory's
    # owner is followed.
    mine = sticky_tmp / "mine"
    mine.symlink_to(victim)
    vegafs.write_file_atomic(mine, "mine")
    assert victim.read_text() == "mine" and mine.is_symlink()
    os.chown(sticky_tmp, NOBODY, NOBODY)
    vegafs.write_file_atomic(planted, "the directory's owner planted it")
    assert victim.read_text() == "the directory's owner planted it" and planted.is_symlink()


def test_write_file_atomic_follows_the_callers_links_hop_by_hop(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    target = tmp_path / "b" / "target"
    target.write_text("old")
    os.chmod(target, 0o640)
    (tmp_path / "a" / "relative").symlink_to("../b/target")
    (tmp_path / "chain").symlink_to("a/relative")
    vegafs.write_file_atomic(tmp_path / "chain", "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert (tmp_path / "chain").is_symlink() and (tmp_path / "a" / "relative").is_symlink()
    (tmp_path / "dangling").symlink_to("b/created")
    vegafs.write_file_atomic(tmp_path / "dangling", "made")
    assert (tmp_path / "b" / "created").read_text() == "made"
    (tmp_path / "to_dir").symlink_to("b")
    with pytest.raises(IsADirectoryError):
        vegafs.write_file_atomic(tmp_path / "to_dir", "x")
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(OSError) as caught:
        vegafs.write_file_atomic(tmp_path / "loop", "x")
    assert caught.value.errno == errno.ELOOP
    assert _leftovers(tmp_path, tmp_path / "a", tmp_path / "b") == []


def test_write_file_atomic_paths_naming_a_directory(tmp_path):
    (tmp_path / "file").write_text("f")
    for path in (str(tmp_path) + "/", str(tmp_path / "."), str(tmp_path / ".."), "/"):
        with pytest.raises(IsADirectoryError):
            vegafs.write_file_atomic(path, "x")
    with pytest.raises(NotADirectoryError):
        vegafs.write_file_atomic(str(tmp_path / "file") + "/", "x")
    with pytest.raises(FileNotFoundError):
        vegafs.write_file_atomic(str(tmp_path / "missing") + "/", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_reads_refuse_special_files_without_blocking(tmp_path):
    special = {kind: str(path) for kind, path in _special_files(tmp_path).items()}
    special["zero"] = "/dev/zero"
    # In a child with a memory cap (and without the native engine, whose runtime reserves address
    # space): a regression reading /dev/zero or waiting on the FIFO must not take the machine or the
    # test run with it.
    code = f"""
        import errno, resource, vegafs
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        reads = (vegafs.read_file_bytes, vegafs.read_file_string, vegafs.read_file_lines,
                 lambda p: next(vegafs.iter_file_chunks(p)))
        for kind, path in {special!r}.items():
            for read in reads:
                try:
                    read(path)
                    print(kind, "read")
                except OSError as error:
                    print(kind, type(error).__name__, errno.errorcode[error.errno], error.filename == path)
    """
    out = run_python(code, timeout=60)
    assert out.returncode == 0, out.stderr
    # As for hashing: EINVAL for a FIFO or device; a socket cannot even be opened (ENXIO).
    codes = {kind: "ENXIO" if kind == "socket" else "EINVAL" for kind in special}
    assert out.stdout.splitlines() == [f"{kind} VegaOSError {codes[kind]} True" for kind in special for _ in range(4)]
    for kind, path in special.items():
        with pytest.raises(vegafs.VegaOSError) as hashing:
            vegafs.compute_file_hash(path)
        assert errno.errorcode[hashing.value.errno] == codes[kind]
    with pytest.raises(vegafs.VegaOSError, match=r"not a regular file \(fifo\)"):
        vegafs.read_file_bytes(special["fifo"])


def test_get_file_info_is_consistent_while_the_entry_changes_kind(tmp_path):
    path = tmp_path / "entry"
    path.write_text("file")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            os.symlink("a-link-target", tmp_path / "new")
            os.replace(tmp_path / "new", path)
            (tmp_path / "new").write_text("file")
            os.replace(tmp_path / "new", path)

    flipper = threading.Thread(target=flip)
    flipper.start()
    seen = set()
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            info = vegafs.get_file_info(path, follow_symlinks=False)
            seen.add(info.kind)
            assert (info.kind is vegafs.Kind.SYMLINK) == (info.symlink_target is not None), info
            if info.symlink_target is not None:
                assert info.symlink_target == "a-link-target" and info.size == len("a-link-target")
    finally:
        stop.set()
        flipper.join()
    assert seen == {vegafs.Kind.FILE, vegafs.Kind.SYMLINK}


def test_bad_arguments_raise_type_or_value_errors(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    with pytest.raises(TypeError):
        vegafs.write_file_atomic(path, "x", mode=True)  # type: ignore[arg-type]
    for chunk_size in ("1", 1.5, None):
        with pytest.raises(TypeError, match="chunk_size"):
            list(vegafs.iter_file_chunks(path, chunk_size))  # type: ignore[arg-type]
    for chunk_size in (0, -1, 1 << 70):
        with pytest.raises(ValueError, match="chunk_size"):
            list(vegafs.iter_file_chunks(path, chunk_size))
    assert path.read_bytes() == b"data"
