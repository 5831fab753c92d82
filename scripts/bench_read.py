"""Which way of reading a whole file into a Python bytes object is fastest here, by file size.

Strategies: one read() into a buffer of the file's size, unbuffered (what vegafs.read_file_bytes does)
and through Python's BufferedReader, a memory map copied into bytes, and 1 MiB chunks joined (streaming). Warm page cache, median of several runs.
Usage: python scripts/bench_read.py [DIR]   (writes temporary files into DIR, default /tmp)
"""
from __future__ import annotations

import mmap
import os
import statistics
import sys
import tempfile
import time

SIZES = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20]


def single_read(path: str) -> bytes:
    with open(path, "rb", buffering=0) as handle:
        return handle.readall()


def buffered_read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def mapped(path: str) -> bytes:
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return b""
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return view[:]


def streamed(path: str) -> bytes:
    chunks = []
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else None
    print(f"| size | one read (unbuffered) | one read (buffered) | mmap + copy | 1 MiB chunks |\n|---:|---:|---:|---:|---:|")
    for size in SIZES:
        with tempfile.NamedTemporaryFile(dir=directory) as handle:
            handle.write(os.urandom(size))
            handle.flush()
            runs = max(5, min(2000, (64 << 20) // size))
            row = []
            for strategy in (single_read, buffered_read, mapped, streamed):
                strategy(handle.name)
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    strategy(handle.name)
                    times.append(time.perf_counter() - started)
                row.append(statistics.median(times))
            best = min(row)
            cells = " | ".join(f"{t * 1e6:,.1f} µs{' (best)' if t == best else ''}" for t in row)
            print(f"| {size >> 10:,} KiB | {cells} |")


if __name__ == "__main__":
    main()
