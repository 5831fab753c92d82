"""Shared fixtures: tree builders, os.walk references, and subprocess helpers."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import vegafs


def normalized(triples) -> list:
    """A walk's triples in a comparable form (order among siblings is not part of the contract)."""
    return sorted((d, sorted(ds), sorted(fs)) for d, ds, fs in triples)


def sorted_os_walk(top, topdown=True, followlinks=False):
    """os.walk's own traversal over sorted names: the reference for walk(sort=True)."""
    if topdown:
        for dirpath, dirnames, filenames in os.walk(top, followlinks=followlinks):
            dirnames.sort()
            filenames.sort()
            yield dirpath, dirnames, filenames
        return

    def visit(path):
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        dirs = sorted(e.name for e in entries if e.is_dir())
        files = sorted(e.name for e in entries if not e.is_dir())
        for name in dirs:
            child = os.path.join(path, name)
            if followlinks or not os.path.islink(child):
                yield from visit(child)
        yield path, dirs, files

    yield from visit(top)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tree with the usual suspects: nesting, an empty dir, symlinks, a dotfile."""
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "a" / "one.txt").write_text("1")
    (tmp_path / "a" / "b" / "two.py").write_text("22")
    (tmp_path / "a" / "b" / "c" / "three.csv").write_text("333")
    (tmp_path / ".hidden").write_text("h")
    (tmp_path / "top.md").write_text("top")
    (tmp_path / "link_to_a").symlink_to(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    return tmp_path


def make_tree(root: Path, dirs: int, files_per_dir: int, fanout: int = 4) -> Path:
    """A deterministic tree of about dirs * files_per_dir files."""
    root.mkdir(parents=True, exist_ok=True)
    queue = [root]
    made = 0
    while queue and made < dirs:
        current = queue.pop(0)
        for f in range(files_per_dir):
            (current / f"f{f:03d}.txt").write_bytes(b"x" * (f % 7))
        for d in range(fanout):
            if made >= dirs:
                break
            child = current / f"d{d}"
            child.mkdir()
            queue.append(child)
            made += 1
    return root


def interrupt_loop(tmp_path: Path, statement: str, settle: float = 0.0, setup: str = "") -> tuple[list[str], float]:
    """Runs ``setup``, then ``statement`` in a loop in a fresh interpreter, sends SIGINT half a second in, and returns what
    the child printed on KeyboardInterrupt ("interrupted", then how many native worker threads were alive
    ``settle`` seconds later) and the seconds from the signal to the KeyboardInterrupt."""
    script = tmp_path / "interrupt_me.py"
    script.write_text(f"""
import glob, time, vegafs
def walk_threads():
    return sum(open(p).read().strip() in ('vega-walk', 'vega-files') for p in glob.glob('/proc/self/task/*/comm'))
{setup}
print('ready', flush=True)
try:
    while True:
        {statement}
except KeyboardInterrupt:
    interrupted = time.monotonic()
    time.sleep({settle})
    print('interrupted', walk_threads(), interrupted, flush=True)
""")
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # let it get deep into the work
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().split()
        return line[:2], float(line[2]) - sent if len(line) == 3 else float("inf")
    finally:
        child.kill()
        child.wait()


def run_python(code: str, *, timeout: float = 60, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Runs code in a fresh interpreter of this environment."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


@pytest.fixture
def deep_tmp(tmp_path):
    """tmp_path for trees deeper than Python's recursion limit, which pytest's rmtree cannot remove."""
    yield tmp_path
    subprocess.run(["rm", "-rf", str(tmp_path)], check=True)


def deep_chain(top: Path, depth: int, segment: str = "d", level_files: dict[str, bytes] | None = None,
               leaf_files: dict[str, bytes] | None = None) -> bytes:
    """A chain of ``depth`` nested directories below ``top``, made with dir_fd so that the total path may
    exceed PATH_MAX, with ``level_files`` in ``top`` and in each directory of the chain, and ``leaf_files``
    in the deepest one. Returns the deepest directory's path."""
    def write(fd: int, files: dict[str, bytes]) -> None:
        for name, content in files.items():
            with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd), "wb") as handle:
                handle.write(content)

    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            write(fd, level_files or {})
            os.mkdir(segment, dir_fd=fd)
            nxt = os.open(segment, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        write(fd, {**(level_files or {}), **(leaf_files or {})})
    finally:
        os.close(fd)
    return os.fsencode(top) + (b"/" + segment.encode()) * depth


def deep_chain_cost_ratio(tmp_path: Path, depth: int, run: Callable[[Path], object], **chain: Any) -> float:
    """How much longer ``run(top)`` takes on a :func:`deep_chain` twice as deep (best of three runs each):
    about 2 when its cost is linear in the depth, 4 when quadratic."""
    best = []
    for levels in (depth, 2 * depth):
        top = tmp_path / f"chain{levels}"
        top.mkdir()
        deep_chain(top, levels, **chain)
        run(top)  # warm the caches
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run(top)
            times.append(time.perf_counter() - start)
        best.append(min(times))
    return best[1] / best[0]


def native_rss_growth(tmp_path: Path, call: str, calls: int) -> float:
    """MiB of resident memory a fresh interpreter gains over ``calls`` runs of ``call`` (an expression over
    ``root``, a tree of 25 entries), after a warm-up of a tenth as many: what the library keeps per call."""
    for d in range(4):
        (tmp_path / f"d{d}").mkdir()
        for f in range(5):
            (tmp_path / f"d{d}" / f"f{f}").write_text("x")
    for f in range(5):
        (tmp_path / f"f{f}").write_text("x")
    result = run_python(f"""
        import os, vegafs
        root = {str(tmp_path)!r}
        def rss():
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        for _ in range({calls // 10}):
            {call}
        before = rss()
        for _ in range({calls}):
            {call}
        print(rss() - before)
    """, timeout=600)
    assert result.returncode == 0, result.stderr
    return float(result.stdout)


@pytest.fixture(scope="session")
def unprivileged_python(tmp_path_factory):
    """A command prefix running /usr/bin/python3 as 'nobody' with this vegafs importable.

    Tests run as root, for whom permission bits do not apply; a real permission-denied case needs a
    dropped-privilege process. The installed package is copied somewhere 'nobody' can read.
    """
    if os.geteuid() != 0:
        return [sys.executable]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop privileges")
    site = Path(tempfile.mkdtemp(prefix="vegafs-nobody-"))
    os.chmod(site, 0o755)
    shutil.copytree(Path(vegafs.__file__).parent, site / "vegafs")
    for path in site.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    env_prefix = ["env", f"PYTHONPATH={site}"]
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *env_prefix, "/usr/bin/python3"]


@pytest.fixture
def world_tmp():
    """A temporary directory that 'nobody' can traverse (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="vegafs-world-"))
    os.chmod(path, 0o755)
    yield path
    subprocess.run(["chmod", "-R", "u+rwx", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)
