"""What shuffle costs: copy and move of STRUCTURES matched directories of FILES files each (default 200 x 50).

Each run shuffles a fresh copy of the tree (made with ``cp -a`` outside the timing) into an empty
destination on the same filesystem, warm page cache; the medians of RUNS runs (wall and CPU time) are printed, with the
dry run (planning only) for reference. Compare two versions of vegafs by running this script with
each one importable (PYTHONPATH).
Usage: python scripts/bench_shuffle.py [--structures 200] [--files 50] [--runs 7] [--dir /tmp]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import vegafs

PATTERN = vegafs.FileStructurePattern(directory_name="exp*", files=["meta.json"],
                                      directories=[vegafs.FileStructurePattern(directory_name="raw", files=["*.csv"])],
                                      optional_files=["*.md"])


def make_tree(root: Path, structures: int, files: int) -> None:
    for s in range(structures):
        exp = root / f"group{s % 10}" / f"exp{s:04d}"
        (exp / "raw").mkdir(parents=True)
        (exp / "meta.json").write_text(f'{{"s": {s}}}')
        (exp / "README.md").write_text("readme\n" * 20)
        for f in range(files - 2):
            (exp / "raw" / f"run{f:03d}.csv").write_bytes(os.urandom(512 + 64 * (f % 32)))


def timed(pristine: Path, scratch: Path, **options: bool) -> tuple[float, float]:
    """Seconds of wall time and of CPU time (user + system: less sensitive to a busy machine)."""
    source, destination = scratch / "src", scratch / "dst"
    for path in (source, destination):
        shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["cp", "-a", str(pristine), str(source)], check=True)
    matches = vegafs.scan(source, PATTERN)
    started, cpu = time.perf_counter(), time.process_time()
    report = vegafs.shuffle(matches, destination, **options)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert not report.failed, report.failed[:3]
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=200)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="vegafs-bench-shuffle-") as scratch:
        pristine = Path(scratch) / "pristine"
        make_tree(pristine, args.structures, args.files)
        print(f"vegafs from {os.path.dirname(vegafs.__file__)}; {args.structures} structures x {args.files} files, "
              f"median of {args.runs} runs")
        for label, options in (("dry run", {"dryrun": True}), ("copy", {}), ("move", {"move": True})):
            walls, cpus = zip(*(timed(pristine, Path(scratch), **options) for _ in range(args.runs)))
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            files = args.structures * args.files
            print(f"{label:8} median wall {wall:.3f} s ({wall / files * 1e6:.0f} us/file), "
                  f"cpu {cpu:.3f} s ({cpu / files * 1e6:.0f} us/file)")


if __name__ == "__main__":
    main()
