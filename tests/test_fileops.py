"""Reading, atomic writing and file information, against Python's own file APIs."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import vegafs


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
    assert vegafs.get_file_info(tmp_path / "fifo").to_dict()["kind"] == "fifo"


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
