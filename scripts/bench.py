"""Times vegafs operations beside their peers on one generated tree, in one run.

Each operation runs once to warm the cache, then --runs times; the table reports the median and the
ratio to the peer the issue's target names (fd -j2 for listings, du -sb for stat and counting).
Command-line peers are timed as subprocesses with output to /dev/null (their process start, ~1 ms,
included); Python callables are timed in this process. Only the section of docs/benchmarks.md between
this size's markers is rewritten.
"""
from __future__ import annotations

import argparse
import fnmatch
import glob
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import vegafs

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = ["txt", "py", "csv", "json", "bin", "md", "parquet", "png"]


def _layout(top: Path, files: int, spec: str, rng: random.Random, make_file: Callable[[Path, int], None]) -> Path:
    """Directories breadth first with up to 10 subdirectories each, each holding 0 to 180 files (90 on
    average), made by ``make_file(directory, k)``. A directory is made only while files remain, so the tree
    has about files / 90 directories and few empty ones. A marker holding ``spec`` skips regeneration."""
    marker = top / ".vegafs-bench-tree"
    if marker.exists() and marker.read_text() == spec:
        return top
    if top.exists():
        shutil.rmtree(top)
    queue, made, head = [top], 0, 0
    started = time.perf_counter()
    while made < files:
        current = queue[head]
        head += 1
        current.mkdir(parents=True)
        queue.extend(current / f"dir_{k:02d}" for k in range(10))
        for k in range(min(rng.randint(0, 180), files - made)):
            make_file(current, k)
            made += 1
            if made % 200_000 == 0:
                print(f"  generated {made:,} files", file=sys.stderr)
    marker.write_text(spec)
    print(f"generated {top} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return top


def generate(top: Path, files: int, seed: int = 42) -> Path:
    """The main bench tree (:func:`_layout`): files of 0 to 5000 bytes of 'v' with mixed extensions."""
    rng = random.Random(seed)

    def make_file(directory: Path, k: int) -> None:
        size = rng.choice((0, 10, 100, 1000, 5000))
        (directory / f"file_{k:03d}.{rng.choice(EXTENSIONS)}").write_bytes(b"v" * size)

    return _layout(top, files, f"files={files} seed={seed} layout=bfs10-uniform0-180\n", rng, make_file)


SEARCH_WORD = "vermilion"
SEARCH_REGEX = r"foo\w+bar"


def generate_text(top: Path, files: int, seed: int = 7) -> Path:
    """A deterministic tree of text files for search: the same layout rule as :func:`generate`, each file
    0 to 99 lines drawn from a pool of generated lines (words of 2-10 letters, 3-16 per line, some
    'foo..bar' tokens; SEARCH_WORD is one of 3000 words). About 3.5 KB per file on average."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(2999)] + [SEARCH_WORD]
    pool = []
    for _ in range(20000):
        words = rng.choices(vocabulary, k=rng.randint(3, 16))
        if rng.random() < 0.02:
            words[rng.randrange(len(words))] = "foo" + "".join(rng.choices(letters, k=rng.randint(1, 6))) + "bar"
        pool.append(" ".join(words).encode() + b"\n")

    def make_file(directory: Path, k: int) -> None:
        (directory / f"file_{k:03d}.txt").write_bytes(b"".join(rng.choices(pool, k=rng.randint(0, 99))))

    return _layout(top, files, f"files={files} seed={seed} layout=bfs10-uniform0-180 text=lines0-99\n", rng, make_file)


def python_search(top: str, pattern: str) -> int:
    """The plain-Python way: os.walk, read each file, count lines where re.search finds the pattern."""
    search = re.compile(pattern.encode()).search
    found = 0
    for directory, _, names in os.walk(top):
        for name in names:
            if name.startswith("."):
                continue
            with open(os.path.join(directory, name), "rb") as handle:
                data = handle.read()
            if b"\0" in data:
                continue
            found += sum(1 for line in data.split(b"\n") if search(line))
    return found


def run_command(argv: list[str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return run


def fd_into_list(fd: str, top: str, jobs: int) -> Callable[[], int]:
    def run() -> int:
        out = subprocess.run([fd, "-u", f"-j{jobs}", "-0", ".", top], capture_output=True, check=True).stdout
        return len(os.fsdecode(out).split("\0")) - 1
    return run


def joined_paths(walker: Callable, top: str) -> int:
    """Every path below top built from a walker's triples, as an os.walk user writes it."""
    paths = []
    for dirpath, dirnames, filenames in walker(top):
        paths.extend(os.path.join(dirpath, n) for n in dirnames)
        paths.extend(os.path.join(dirpath, n) for n in filenames)
    return len(paths)


def scandir_paths(top: str) -> int:
    paths, stack = [], [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                paths.append(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return len(paths)


def scandir_stat(top: str) -> int:
    rows, stack = [], [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                rows.append((entry.path, st.st_size, st.st_mtime_ns))
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return len(rows)


def os_walk_summary(top: str) -> int:
    """A directory summary the plain-Python way: os.walk + lstat, totals and bytes per extension."""
    per_extension: dict[str, list[int]] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for name in filenames:
            size = os.lstat(os.path.join(dirpath, name)).st_size
            row = per_extension.setdefault(os.path.splitext(name)[1].lower(), [0, 0])
            row[0] += 1
            row[1] += size
            total += size
    return total


FIND_AWK = ("find {top} -type f -printf '%f %s\\n' | awk '{{n=split($1,p,\".\"); e=(n>1?p[n]:\"\"); "
            "c[e]++; b[e]+=$2}} END {{for (e in c) print e, c[e], b[e]}}'")


def peak_rss(top: str) -> tuple[int, int]:
    """Peak RSS (KiB) of a fresh interpreter that loads vegafs and analyses a tiny tree, and of one that
    analyses ``top``: the difference is what the analysis itself holds at its peak."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (this process).
    code = ("import sys, vegafs; vegafs.analyze(sys.argv[1], progress=False); "
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))")
    def run(path: str) -> int:
        return int(subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                                  check=True).stdout)
    empty = ROOT / "build" / "bench-empty"
    empty.mkdir(parents=True, exist_ok=True)
    return run(str(empty)), run(top)


GLOB_SET = ["*.py", "*.pyc", "*.so", "dir_09/**", "**/dir_01/*.txt", "*.{c,h}", "*_test.go", "README*",
            "dir_02/**/*.md", "*.json", "**/node_modules/**", "*.o", "*.tmp", "dir_03/**/*.rs", "Makefile",
            "*.lock", "**/.git/**", "dir_04/*/file_1*.txt", "*.[ch]pp", "dir_05/*/*.md"]


def hashlib_tree(top: str, algorithm: str) -> int:
    """The Python way: os.walk, open and hash every regular file, a dict of hex digests."""
    import hashlib
    digests = {}
    for directory, _, names in os.walk(top):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                digests[path] = hashlib.new(algorithm, handle.read()).hexdigest()
    return len(digests)


def python_duplicates(top: str) -> int:
    """The Python way: sizes from os.walk + lstat, then sha256 of files whose size is shared."""
    import hashlib
    by_size: dict[int, list[str]] = {}
    for directory, _, names in os.walk(top):
        for name in names:
            path = os.path.join(directory, name)
            size = os.lstat(path).st_size
            if size:
                by_size.setdefault(size, []).append(path)
    groups = 0
    for paths in by_size.values():
        if len(paths) < 2:
            continue
        by_digest: dict[str, int] = {}
        for path in paths:
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            by_digest[digest] = by_digest.get(digest, 0) + 1
        groups += sum(1 for n in by_digest.values() if n > 1)
    return groups


def parallel_command(command: str, top: str) -> Callable[[], None]:
    """find | xargs -P2 COMMAND: a per-file CLI hasher on both cores, output discarded."""
    return run_command(["bash", "-c", f"find {shlex.quote(top)} -type f -print0 | xargs -0 -P2 -n 5000 {command} > /dev/null"])


def python_glob_loop(paths: list[str]) -> int:
    """The plain-Python way to test each path against a set of globs (fnmatch's regexes, compiled once)."""
    regexes = [re.compile(fnmatch.translate(g)).match for g in GLOB_SET]
    return sum(1 for p in paths if any(match(p) for match in regexes))


def measure(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm-up: page cache, dentry cache, imports
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=None, help="timed runs per operation (default 7, 3 for >=1M)")
    parser.add_argument("--trees", type=Path, default=ROOT / "build" / "bench-trees")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--skip-slow", action="store_true", help="leave out os.walk-based peers")
    parser.add_argument("--only", default=None, help="run only the groups whose title contains this text")
    args = parser.parse_args()
    runs = args.runs or (3 if args.files >= 1_000_000 else 7)

    top = str(generate(args.trees / f"tree-{args.files}", args.files))
    text_files = min(args.files, 100_000)
    text_top = str(generate_text(args.trees / f"text-{text_files}", text_files))
    vegafs_cli = str(Path(sys.executable).parent / "vegafs")
    fd = shutil.which("fdfind") or shutil.which("fd")
    threads = os.cpu_count() or 1

    # Paths relative to the tree, as a list in memory, for the matching benchmarks.
    memory_paths = [os.path.relpath(p, top) for p in vegafs.scan_tree(top).paths]
    matcher_py = vegafs.PatternMatcher("*.py")
    matcher_set = vegafs.PatternMatcher(GLOB_SET)

    groups: list[tuple[str, str, list[tuple[str, Callable[[], object]]]]] = [
        ("all paths into a Python list", "fd -u -j2 (to /dev/null)", [
            ("vegafs.scan_tree(top).paths", lambda: len(vegafs.scan_tree(top).paths)),
            ("vegafs.walk + os.path.join", lambda: joined_paths(vegafs.walk, top)),
            ("list(vegafs.walk(top)) (triples)", lambda: len(list(vegafs.walk(top)))),
            ("os.walk + os.path.join", lambda: joined_paths(os.walk, top)),
            ("recursive os.scandir", lambda: scandir_paths(top)),
            ("fd -u -j2 -0, read into a list", fd_into_list(fd, top, 2)) if fd else None,
            ("fd -u -j1 (to /dev/null)", run_command([fd, "-u", "-j1", ".", top])) if fd else None,
            ("fd -u -j2 (to /dev/null)", run_command([fd, "-u", "-j2", ".", top])) if fd else None,
            ("find (to /dev/null)", run_command(["find", top])),
        ]),
        ("listing with size and mtime", "du -sb", [
            ("vegafs.scan_tree(top, stat=True)", lambda: len(vegafs.scan_tree(top, stat=True))),
            ("recursive os.scandir + lstat", lambda: scandir_stat(top)),
            ("find -printf '%s %T@ %p'", run_command(["find", top, "-printf", r"%s %T@ %p\n"])),
            ("du -sb", run_command(["du", "-sb", top])),
        ]),
        ("filter in-memory paths, one glob", "fnmatch.filter(paths, '*.py')", [
            ("vegafs.PatternMatcher('*.py').filter(paths)", lambda: len(matcher_py.filter(memory_paths))),
            ("fnmatch.filter(paths, '*.py')", lambda: len(fnmatch.filter(memory_paths, "*.py"))),
        ]),
        ("filter in-memory paths, 20 globs", "Python loop over 20 globs", [
            ("vegafs.PatternMatcher(20 globs).filter(paths)", lambda: len(matcher_set.filter(memory_paths))),
            ("Python loop over 20 globs", lambda: python_glob_loop(memory_paths)),
        ]),
        ("glob '*.py' on disk", "fd -u -g '*.py' -j2", [
            ("vegafs.glob(top, '*.py')", lambda: len(vegafs.glob(top, "*.py"))),
            ("fd -u -g '*.py' -j2", run_command([fd, "-u", "-g", "*.py", "-j2", top])) if fd else None,
            ("glob.glob(top/**/*.py, recursive)", lambda: len(glob.glob(top + "/**/*.py", recursive=True))),
        ]),
        ("walk honouring ignore files", "fd -H -j2", [
            ("vegafs.scan_tree(top, gitignore=True).paths", lambda: len(vegafs.scan_tree(top, gitignore=True).paths)),
            ("fd -H -j2 (to /dev/null)", run_command([fd, "-H", "-j2", ".", top])) if fd else None,
        ]),
        ("count and sum sizes", "du -sb", [
            ("vegafs.count(top)", lambda: vegafs.count(top)),
            ("du -sb", run_command(["du", "-sb", top])),
            ("du -s (disk usage)", run_command(["du", "-s", top])),
        ]),
        ("hash every file, sha256", "hashlib.sha256 over os.walk", [
            ("vegafs.hash_files(top, 'sha256')", lambda: len(vegafs.hash_files(top, "sha256", progress=False))),
            ("hashlib.sha256 over os.walk", lambda: hashlib_tree(top, "sha256")),
            ("sha256sum, 2 processes", parallel_command("sha256sum", top)),
        ]),
        ("hash every file, xxh3-64", "xxhsum -H3, 2 processes", [
            ("vegafs.hash_files(top, 'xxh3_64')", lambda: len(vegafs.hash_files(top, "xxh3_64", progress=False))),
            ("vegafs hash -a xxh3_64 (CLI, sorted output)",
             run_command([str(Path(sys.executable).parent / "vegafs"), "hash", top, "-a", "xxh3_64"])),
            ("xxhsum -H3, 2 processes", parallel_command("xxhsum -H3", top)) if shutil.which("xxhsum") else None,
        ]),
        ("find duplicate files", "Python: sizes, then sha256", [
            ("vegafs.find_duplicates(top)", lambda: len(vegafs.find_duplicates(top, progress=False).groups)),
            ("vegafs.find_duplicates(top, algorithm='sha256')",
             lambda: len(vegafs.find_duplicates(top, algorithm="sha256", progress=False).groups)),
            ("Python: sizes, then sha256", lambda: python_duplicates(top)),
        ]),
        (f"search a word, count lines ({text_files:,} text files)", "rg -c WORD", [
            ("vegafs.search_counts(WORD, top)", lambda: len(vegafs.search_counts(SEARCH_WORD, text_top))),
            ("vegafs.search_counts(WORD, top, fixed_strings=True)",
             lambda: len(vegafs.search_counts(SEARCH_WORD, text_top, fixed_strings=True))),
            ("vegafs search --count WORD (CLI)", run_command([vegafs_cli, "search", "--count", SEARCH_WORD, text_top])),
            ("rg -c WORD", run_command(["rg", "-c", SEARCH_WORD, text_top])) if shutil.which("rg") else None,
            ("rg -uu -c WORD (hidden, no ignore files)", run_command(["rg", "-uu", "-c", SEARCH_WORD, text_top]))
            if shutil.which("rg") else None,
            ("grep -rc WORD", run_command(["grep", "-rc", SEARCH_WORD, text_top])),
            ("Python re over os.walk", lambda: python_search(text_top, SEARCH_WORD)),
        ]),
        (f"search a regex, print lines ({text_files:,} text files)", "rg REGEX", [
            ("list(vegafs.search_files(REGEX, top))", lambda: len(list(vegafs.search_files(SEARCH_REGEX, text_top)))),
            ("vegafs.search_counts(REGEX, top)", lambda: len(vegafs.search_counts(SEARCH_REGEX, text_top))),
            ("vegafs search REGEX (CLI)", run_command([vegafs_cli, "search", SEARCH_REGEX, text_top])),
            ("rg REGEX", run_command(["rg", SEARCH_REGEX, text_top])) if shutil.which("rg") else None,
            ("grep -rP REGEX", run_command(["grep", "-rP", SEARCH_REGEX, text_top])),
            ("Python re over os.walk", lambda: python_search(text_top, SEARCH_REGEX)),
        ]),
        ("directory summary (full report)", "du -sb", [
            ("vegafs.analyze(top)", lambda: vegafs.analyze(top, progress=False)),
            ("vegafs summarize --json (CLI, end to end)",
             run_command([str(Path(sys.executable).parent / "vegafs"), "summarize", top, "--json"])),
            ("vegafs summarize (CLI, text)",
             run_command([str(Path(sys.executable).parent / "vegafs"), "summarize", top])),
            ("du -sb", run_command(["du", "-sb", top])),
            ("find -printf + awk, per extension", run_command(["bash", "-c", FIND_AWK.format(top=top)])),
            ("os.walk + lstat, per extension", lambda: os_walk_summary(top)),
            ("Python engine: analyze(engine='python')", lambda: vegafs.analyze(top, engine="python", progress=False)),
        ]),
    ]

    results = []
    for title, baseline, cases in groups:
        if args.only and args.only not in title:
            continue
        measured = {}
        for case in filter(None, cases):
            name, fn = case
            if args.skip_slow and name.startswith(("os.walk", "recursive", "Python loop", "glob.glob", "Python engine",
                                                   "hashlib", "Python:")):
                continue
            median, best = measure(fn, runs)
            measured[name] = (median, best)
            print(f"{title:32s} {name:40s} {median:8.3f}s (min {best:.3f}s)", file=sys.stderr)
        results.append((title, baseline, measured))

    rss = peak_rss(top)
    print(f"peak RSS: {rss[0] / 1024:.0f} MiB loading vegafs, {rss[1] / 1024:.0f} MiB analysing the tree", file=sys.stderr)
    write_report(args, top, runs, threads, fd, results, rss)
    return 0


def write_report(args, top, runs, threads, fd, results, rss) -> None:
    fd_version = subprocess.run([fd, "--version"], capture_output=True, text=True).stdout.strip() if fd else "absent"
    entries = len(vegafs.scan_tree(top))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [
        f"### {args.files:,} files ({entries:,} entries), warm cache",
        "",
        f"Median of {runs} runs after a warm-up, all in one run of `scripts/bench --files {args.files}` on "
        f"{threads} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}, "
        f"vegafs {vegafs.__version__}, {fd_version}.",
        "",
        "| operation | tool | median (s) | min (s) | ratio to baseline |",
        "|---|---|---:|---:|---:|",
    ]
    for title, baseline, measured in results:
        base = measured.get(baseline, (None,))[0]
        for name, (median, best) in measured.items():
            ratio = f"{median / base:.2f}x" if base else "n/a"
            bold = "**" if name.startswith(("vegafs", "list(vegafs")) else ""
            lines.append(f"| {title} | {bold}{name}{bold} | {median:.3f} | {best:.3f} | {ratio} |")
    lines += ["", "Each group's ratios are to the baseline named in its title row: "
              + "; ".join(f"{title}: `{baseline}`" for title, baseline, _ in results) + ".",
              "",
              f"Memory: a fresh interpreter running `vegafs.analyze` peaks at {rss[1] / 1024:.0f} MiB RSS on this "
              f"tree, against {rss[0] / 1024:.0f} MiB for the same interpreter analysing an empty directory "
              f"(Python, cffi and the .NET runtime): the analysis itself holds {(rss[1] - rss[0]) / 1024:.0f} MiB "
              f"at its peak.",
              "",
              f"![benchmark plot](benchmarks-{args.files}.png)", ""]
    plot(args, results)

    begin, end = f"<!-- BEGIN bench {args.files} -->", f"<!-- END bench {args.files} -->"
    text = args.out.read_text() if args.out.exists() else "# Benchmarks\n\n"
    section = begin + "\n" + "\n".join(lines) + end
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)


def plot(args, results) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    rows = [(f"{title}: {name}", median, name.startswith(("vegafs", "list(vegafs")))
            for title, _, measured in results for name, (median, _) in measured.items()]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(rows) + 1.2))
    labels = [r[0] for r in rows][::-1]
    ax.barh(labels, [r[1] for r in rows][::-1], color=["#d9534f" if r[2] else "#8a9ba8" for r in rows][::-1])
    ax.set_xlabel("seconds (median, lower is better)")
    ax.set_title(f"vegafs vs peers, {args.files:,} files, warm cache")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(args.out.parent / f"benchmarks-{args.files}.png", dpi=90)


if __name__ == "__main__":
    sys.exit(main())
