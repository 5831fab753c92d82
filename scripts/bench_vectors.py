"""Times vegafs's vector store beside numpy + OpenBLAS, faiss and hnswlib, in one run.

Exact search runs on uniform data (--rows x 128 float32, standard normal), l2, k=10: one query at a time,
a batch of 100 queries, and adding every row to a new index. HNSW runs on clustered data (--hnsw-rows x
128, 1000 gaussian clusters, queries drawn from the same mixture), M=16, ef_construction=200: build time,
then recall@10 against exact ground truth and queries per second for each ef of EF_SWEEP.

Each timing is the median of --runs runs after a warm-up; HNSW builds are timed --build-runs times
without warm-up. Peers use as many threads as vegafs does (every core this process may run on). Only
the section of docs/benchmarks.md between the `bench vectors` markers is rewritten.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import importlib.metadata
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, TypeVar

import numpy as np

import vegafs
from vegafs import _native
from vegafs.errors import NativeLibraryError

try:
    import faiss
except ImportError:
    faiss = None
try:
    import hnswlib
except ImportError:
    hnswlib = None

ROOT = Path(__file__).resolve().parents[1]
DIM = 128
K = 10
SEED = 20240611
SINGLE_QUERIES = 20
BATCH_QUERIES = 100
HNSW_QUERIES = 1000
CLUSTERS = 1000
M = 16
EF_CONSTRUCTION = 200
EF_SWEEP = [10, 16, 20, 24, 32, 48, 64, 128, 256]
RECALL_GOAL = 0.95
VEGAFS, NUMPY, FAISS, HNSWLIB = "vegafs", "numpy+OpenBLAS", "faiss", "hnswlib"
LIBRARIES = [VEGAFS, NUMPY, FAISS, HNSWLIB]
BEGIN, END = "<!-- BEGIN bench vectors -->", "<!-- END bench vectors -->"

Array = np.ndarray
T = TypeVar("T")


# --- data ---

def uniform(rows: int, queries: int, seed: int = SEED) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, DIM), dtype=np.float32),
            rng.standard_normal((queries, DIM), dtype=np.float32))


def clustered(rows: int, queries: int, seed: int = SEED + 1) -> tuple[Array, Array]:
    """Points and queries drawn from one mixture of CLUSTERS gaussians: standard normal centers, each
    cluster with its own spread, uniform in 0.1..0.3 per coordinate. Within a cluster the points are an
    isotropic 128-d gaussian, so a query's 10 neighbours are hard to tell apart and recall@10 is well
    below 1 at small ef (hnswlib: about 0.86 at ef=10 on 200k rows), while the clusters are far apart
    (center distance about 16 against spreads of 1.1-3.4)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((CLUSTERS, DIM), dtype=np.float32)
    spread = rng.uniform(0.1, 0.3, CLUSTERS).astype(np.float32)

    def draw(count: int) -> Array:
        label = rng.integers(0, CLUSTERS, count)
        return centers[label] + rng.standard_normal((count, DIM), dtype=np.float32) * spread[label, None]

    return draw(rows), draw(queries)


# --- numpy peer (also the ground truth) ---

def numpy_one(data: Array, norms: Array, query: Array) -> tuple[Array, Array]:
    """The k nearest rows of one query, by BLAS: |x|^2 - 2 x.q (a gemv and two in-place passes), then
    argpartition and a sort of the k survivors. |q|^2 does not change the order, so it is added to the k
    distances only; ``norms`` (|x|^2 per row) is computed once, outside the timing."""
    distances = data @ query
    distances *= -2
    distances += norms
    rows = np.argpartition(distances, K - 1)[:K]
    rows = rows[np.argsort(distances[rows])]
    return rows, distances[rows] + query @ query


def numpy_knn(data: Array, norms: Array, queries: Array, chunk: int = BATCH_QUERIES) -> tuple[Array, Array]:
    """:func:`numpy_one` for a batch: a gemm per chunk of queries, then argpartition per row. Chunks keep
    the (chunk, rows) distance matrix bounded (400 MB for 100 queries on 1M rows)."""
    rows = np.empty((len(queries), K), dtype=np.int64)
    distances = np.empty((len(queries), K), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        block = queries[start:start + chunk]
        full = block @ data.T
        full *= -2
        full += norms
        part = np.argpartition(full, K - 1, axis=1)[:, :K]
        nearest = np.take_along_axis(full, part, axis=1)
        order = np.argsort(nearest, axis=1)
        rows[start:start + chunk] = np.take_along_axis(part, order, axis=1)
        distances[start:start + chunk] = (np.take_along_axis(nearest, order, axis=1)
                                          + np.einsum("ij,ij->i", block, block)[:, None])
    return distances, rows


def row_norms(data: Array) -> Array:
    return np.einsum("ij,ij->i", data, data)


# --- timing ---

def median_time(fn: Callable[[], object], runs: int, *, after: Callable[[], None] | None = None) -> float:
    """Median seconds of ``runs`` calls after one warm-up call; ``after`` runs untimed after every call."""
    times = []
    for run in range(runs + 1):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        if run:
            times.append(elapsed)
        if after:
            after()
    return statistics.median(times)


def median_time_each(fn: Callable[[T], object], items: Sequence[T], runs: int) -> float:
    """Median seconds of one ``fn(item)`` over every item and ``runs`` passes, after one untimed pass."""
    for item in items:
        fn(item)
    times = []
    for _ in range(runs):
        for item in items:
            start = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- results ---

@dataclass
class Row:
    """One line of the summary table. ``values`` holds seconds (``qps`` False) or queries per second per
    library: a library absent from it does not apply to the case, None means it was not available."""

    case: str
    values: dict[str, float | None]
    qps: bool = False
    notes: dict[str, str] = field(default_factory=dict)
    peer: str | None = None
    target: str = ""
    goal: Callable[[float, float | None], bool | None] | None = None

    def ratio(self) -> float | None:
        """vegafs over ``peer``, both as measured (times or QPS)."""
        ours, theirs = self.values.get(VEGAFS), self.values.get(self.peer) if self.peer else None
        return ours / theirs if ours and theirs else None


@dataclass
class SweepPoint:
    ef: int
    recall: float
    qps: float


def time_text(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def cell(row: Row, library: str) -> str:
    if library not in row.values:
        return "—"
    value = row.values[library]
    if value is None:
        return row.notes.get(library, "n/a")
    text = f"{value:,.0f} q/s" if row.qps else time_text(value)
    return f"{text} ({row.notes[library]})" if library in row.notes else text


def at_goal(sweep: list[SweepPoint]) -> SweepPoint | None:
    """The point with the smallest ef whose recall reaches RECALL_GOAL."""
    return next((point for point in sweep if point.recall >= RECALL_GOAL), None)


def recall(found: Array, truth: Array) -> float:
    return float((found[:, :, None] == truth[:, None, :]).any(axis=2).sum() / truth.size)


# --- exact search ---

class Exact:
    """The uniform data set and the indexes the exact groups search, each made on first use (untimed)."""

    def __init__(self, rows: int, workdir: Path) -> None:
        self.rows = rows
        self.workdir = workdir
        self._store: vegafs.VectorStore | None = None

    @functools.cached_property
    def data(self) -> tuple[Array, Array]:
        print(f"generating {self.rows:,} x {DIM} uniform rows", file=sys.stderr)
        return uniform(self.rows, BATCH_QUERIES)

    @functools.cached_property
    def norms(self) -> Array:
        return row_norms(self.data[0])

    @property
    def store(self) -> vegafs.VectorStore:
        if self._store is None:
            self._store = vegafs_flat(self.workdir / "flat", self.data[0])
        return self._store

    @functools.cached_property
    def faiss_flat(self) -> Any:
        index = faiss.IndexFlatL2(DIM)
        index.add(self.data[0])
        return index

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def vegafs_flat(path: Path, data: Array) -> vegafs.VectorStore:
    store = vegafs.VectorStore(path, dim=DIM, metric="l2")
    store.add(data, ids=range(len(data)))
    return store


def check_exact(data: Array, queries: Array, found: list[vegafs.QueryResult], distances: Array, rows: Array) -> None:
    """Warns unless each vegafs result holds k rows whose reported distances are their true distances
    (float64) and equal numpy's k nearest ``distances`` (rtol 1e-4): ids may differ only between ties."""
    wrong = other_ids = 0
    for q, result in enumerate(found):
        ids = np.array([int(i) for i in result.ids], dtype=np.int64)
        true = ((data[ids].astype(np.float64) - queries[q]) ** 2).sum(axis=1)
        if (len(ids) != K or not np.allclose(result.distances, true, rtol=1e-4)
                or not np.allclose(result.distances, distances[q], rtol=1e-4)):
            wrong += 1
        elif not np.array_equal(ids, rows[q]):
            other_ids += 1
    if wrong:
        print(f"WARNING: vegafs's exact results differ from numpy's for {wrong} of {len(found)} queries",
              file=sys.stderr)
    else:
        print(f"check: vegafs's exact results match numpy's for all {len(found)} queries "
              f"({other_ids} with other ids at equal distances)", file=sys.stderr)


def one_query(exact: Exact, runs: int) -> list[Row]:
    data, queries = exact.data
    singles = list(queries[:SINGLE_QUERIES])
    values: dict[str, float | None] = {
        VEGAFS: median_time_each(lambda q: exact.store.query(q, k=K), singles, runs),
        NUMPY: median_time_each(lambda q: numpy_one(data, exact.norms, q), singles, runs),
        FAISS: median_time_each(lambda q: exact.faiss_flat.search(q[None, :], K), singles, runs) if faiss else None,
    }
    return [Row(f"one exact query ({exact.rows:,} x {DIM}, median of {SINGLE_QUERIES} queries)", values,
                peer=NUMPY, target="≤ 15 ms", goal=lambda v, r: v <= 0.015)]


def batch_query(exact: Exact, runs: int) -> list[Row]:
    data, queries = exact.data
    check_exact(data, queries, exact.store.query(queries, k=K), *numpy_knn(data, exact.norms, queries))
    values: dict[str, float | None] = {
        VEGAFS: median_time(lambda: exact.store.query(queries, k=K), runs),
        NUMPY: median_time(lambda: numpy_knn(data, exact.norms, queries), runs),
        FAISS: median_time(lambda: exact.faiss_flat.search(queries, K), runs) if faiss else None,
    }
    return [Row(f"exact batch of {BATCH_QUERIES} queries", values, peer=NUMPY, target="≤ 0.4 s",
                goal=lambda v, r: v <= 0.4)]


def add_rows(exact: Exact, runs: int) -> list[Row]:
    data = exact.data[0]
    path = exact.workdir / "add"
    stores: list[vegafs.VectorStore] = []

    def drop() -> None:
        stores.pop().close()
        shutil.rmtree(path)

    values: dict[str, float | None] = {
        VEGAFS: median_time(lambda: stores.append(vegafs_flat(path, data)), runs, after=drop),
        FAISS: median_time(lambda: faiss.IndexFlatL2(DIM).add(data), runs) if faiss else None,
    }
    return [Row(f"add {exact.rows:,} rows to a new index", values, peer=FAISS)]


# --- HNSW ---

class Unavailable(Exception):
    """The library cannot build an HNSW index here."""


class Hnsw(Protocol):
    name: str

    def build(self, data: Array, threads: int) -> None: ...

    def search(self, queries: Array, ef: int, threads: int) -> Any: ...

    def rows(self, found: Any) -> Array: ...

    def close(self) -> None: ...


class VegafsHnsw:
    """A vegafs store with ``index="hnsw"``. Its add inserts the rows into the graph on every core (the
    peers get as many threads) before it returns; the graph is saved to disk when the store closes,
    outside the build time, as hnswlib and faiss save nothing."""

    name = VEGAFS

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.store: vegafs.VectorStore | None = None
        self.builds = 0

    def build(self, data: Array, threads: int) -> None:
        self.close()
        self.builds += 1
        try:
            self.store = vegafs.VectorStore(self.workdir / f"hnsw-{self.builds}", dim=DIM, metric="l2",
                                            index="hnsw", M=M, ef_construction=EF_CONSTRUCTION)
        except (ValueError, TypeError) as error:  # TypeError: a vegafs without HNSW has no M= parameter
            raise Unavailable(f"vegafs HNSW not available ({error})") from None
        self.store.add(data, ids=range(len(data)))
        pending = self.store.index.get("pending")
        if pending:  # rows outside the graph are searched exactly, which would skew recall and QPS
            print(f"WARNING: vegafs's HNSW graph lacks {pending:,} rows after add", file=sys.stderr)

    def search(self, queries: Array, ef: int, threads: int) -> Any:
        assert self.store is not None, "build() first"
        return self.store.query(queries, k=K, ef=ef, threads=threads)

    def rows(self, found: Any) -> Array:
        rows = np.full((len(found), K), -1, dtype=np.int64)
        for q, result in enumerate(found):
            rows[q, :len(result.ids)] = [int(i) for i in result.ids]
        return rows

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            shutil.rmtree(self.store.path)
            self.store = None


class HnswlibHnsw:
    name = HNSWLIB

    def __init__(self) -> None:
        self.index: Any = None

    def build(self, data: Array, threads: int) -> None:
        self.index = hnswlib.Index(space="l2", dim=DIM)
        self.index.init_index(max_elements=len(data), M=M, ef_construction=EF_CONSTRUCTION)
        self.index.set_num_threads(threads)
        self.index.add_items(data, np.arange(len(data)))

    def search(self, queries: Array, ef: int, threads: int) -> Any:
        self.index.set_ef(ef)
        return self.index.knn_query(queries, k=K, num_threads=threads)

    def rows(self, found: Any) -> Array:
        return found[0].astype(np.int64)

    def close(self) -> None:
        self.index = None


class FaissHnsw:
    name = FAISS

    def __init__(self) -> None:
        self.index: Any = None

    def build(self, data: Array, threads: int) -> None:
        faiss.omp_set_num_threads(threads)
        self.index = faiss.IndexHNSWFlat(DIM, M)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.index.add(data)

    def search(self, queries: Array, ef: int, threads: int) -> Any:
        faiss.omp_set_num_threads(threads)
        self.index.hnsw.efSearch = ef
        return self.index.search(queries, K)

    def rows(self, found: Any) -> Array:
        return found[1]

    def close(self) -> None:
        self.index = None


def hnsw(rows: int, workdir: Path, runs: int, build_runs: int, threads: int,
         sweeps: dict[str, list[SweepPoint]]) -> list[Row]:
    """Builds each library's index, sweeps ef (filling ``sweeps``), and summarizes at RECALL_GOAL."""
    print(f"generating {rows:,} x {DIM} clustered rows", file=sys.stderr)
    data, queries = clustered(rows, HNSW_QUERIES)
    _, truth = numpy_knn(data, row_norms(data), queries)
    indexes: list[Hnsw] = [VegafsHnsw(workdir)]
    indexes += [HnswlibHnsw()] if hnswlib else []
    indexes += [FaissHnsw()] if faiss else []
    build: dict[str, float | None] = {VEGAFS: None, HNSWLIB: None, FAISS: None}
    many: dict[str, float | None] = dict(build)
    one: dict[str, float | None] = dict(build)
    notes: dict[str, str] = {}
    for index in indexes:
        times = []
        try:
            for _ in range(build_runs):
                start = time.perf_counter()
                index.build(data, threads)
                times.append(time.perf_counter() - start)
        except Unavailable as error:
            print(error, file=sys.stderr)
            continue
        build[index.name] = statistics.median(times)
        print(f"HNSW build {index.name:8s} {build[index.name]:8.2f}s", file=sys.stderr)
        sweep = sweeps[index.name] = []
        for ef in EF_SWEEP:
            found = index.rows(index.search(queries, ef, threads))
            seconds = median_time(lambda: index.search(queries, ef, threads), runs)
            sweep.append(SweepPoint(ef, recall(found, truth), len(queries) / seconds))
            print(f"HNSW {index.name:8s} ef={ef:<4d} recall@{K} {sweep[-1].recall:.4f} {sweep[-1].qps:10,.0f} q/s",
                  file=sys.stderr)
        point = at_goal(sweep)
        if point:
            ef = point.ef
            many[index.name] = point.qps
            one[index.name] = len(queries) / median_time(lambda: index.search(queries, ef, 1), runs)
            notes[index.name] = f"ef {point.ef}, recall {point.recall:.3f}"
        else:
            notes[index.name] = f"recall {RECALL_GOAL} not reached (best {max(p.recall for p in sweep):.3f})"
        index.close()
    case = f"{rows:,} x {DIM} clustered"
    return [
        Row(f"HNSW build ({case}, M={M}, ef_construction={EF_CONSTRUCTION}, {threads} threads)", build,
            peer=HNSWLIB, target="≤ 0.9x hnswlib", goal=lambda v, r: None if r is None else r <= 0.9),
        Row(f"HNSW QPS at recall@{K} ≥ {RECALL_GOAL} ({HNSW_QUERIES:,} queries, {threads} threads)", many, qps=True,
            notes=notes, peer=HNSWLIB, target="≥ 1.2x hnswlib", goal=lambda v, r: None if r is None else r >= 1.2),
        Row("HNSW QPS at the same ef, 1 thread", one, qps=True, notes=notes, peer=HNSWLIB),
    ]


# --- machine facts ---

def numpy_blas() -> tuple[str, bool]:
    """The BLAS numpy's process has loaded, from /proc/self/maps (numpy is imported and faiss, which also
    links BLAS, is not yet), and whether it is OpenBLAS's pthread build. OpenBLAS describes itself
    through openblas_get_config and openblas_get_parallel (0 sequential, 1 pthreads, 2 OpenMP)."""
    np.ones((2, 2)) @ np.ones((2, 2))
    with open("/proc/self/maps") as maps:
        paths = sorted({os.path.realpath(line.split()[-1]) for line in maps if "blas" in line.lower()},
                       key=lambda p: ("openblas" not in Path(p).name, p))
    for path in paths:
        try:
            library = ctypes.CDLL(path)
            library.openblas_get_config.restype = ctypes.c_char_p
            config = library.openblas_get_config().decode()
            parallel = library.openblas_get_parallel()
        except (OSError, AttributeError):
            continue
        kind = {0: "sequential", 1: "pthread", 2: "OpenMP"}.get(parallel, f"parallel={parallel}")
        return f"{config} ({kind}, {Path(path).name})", parallel == 1
    return f"not OpenBLAS: {', '.join(Path(p).name for p in paths) or 'no BLAS library mapped'}", False


def facts(blas: str, threads: int) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    try:
        library = Path(_native.info()["library"]).name
    except NativeLibraryError as error:
        library = f"not loaded ({error})"
    hnswlib_version = importlib.metadata.version("hnswlib") if hnswlib else "absent"
    return (f"{cpu}, {os.cpu_count()} cores ({threads} usable), Linux {platform.release()}, Python "
            f"{platform.python_version()}; vegafs {vegafs.__version__} ({library}), numpy {np.__version__} with "
            f"{blas}, faiss {faiss.__version__ if faiss else 'absent'}, hnswlib {hnswlib_version}.")


# --- report ---

def section(args: argparse.Namespace, machine: str, threads: int, rows: list[Row],
            sweeps: dict[str, list[SweepPoint]], plotted: bool) -> str:
    command = f"scripts/bench-vectors --rows {args.rows} --hnsw-rows {args.hnsw_rows} --runs {args.runs}"
    lines = [
        "## Vectors",
        "",
        f"Measured by `{command}`: {machine}",
        "",
        f"Exact search: {args.rows:,} x {DIM} float32 rows drawn from a standard normal, l2 (squared), "
        f"k={K}. HNSW: {args.hnsw_rows:,} x {DIM} rows from {CLUSTERS:,} gaussian clusters, {HNSW_QUERIES:,} "
        f"queries from the same mixture, recall@{K} against exact neighbours. Medians of {args.runs} runs after a "
        f"warm-up ({args.build_runs} build{'s' if args.build_runs > 1 else ''} for HNSW); every library uses "
        f"{threads} threads unless a row says otherwise (faiss searches one query on one thread). vegafs's "
        "times include building its Python results (ids as str); numpy has no index to add to.",
        "",
        "| case | vegafs | numpy+OpenBLAS | faiss | hnswlib | vegafs ÷ peer | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        ratio = row.ratio()
        ratio_text = f"{ratio:.2f}x {row.peer}" if ratio else "—"
        target = "—"
        if row.goal:
            ours = row.values.get(VEGAFS)
            met = row.goal(ours, ratio) if ours else None
            target = f"{row.target}: {'n/a' if met is None else 'met' if met else 'missed'}"
        lines.append(f"| {row.case} | " + " | ".join(cell(row, library) for library in LIBRARIES)
                     + f" | {ratio_text} | {target} |")
    lines += ["", "The ratio is vegafs's value over the peer's: for times below 1 is faster, for QPS above 1 is faster."]
    if sweeps:
        names = [name for name in (VEGAFS, HNSWLIB, FAISS) if name in sweeps]
        lines += ["", f"HNSW sweep, {threads} threads (recall@{K} / queries per second):", "",
                  "| ef | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
        for position, ef in enumerate(EF_SWEEP):
            lines.append(f"| {ef} | " + " | ".join(
                f"{sweeps[name][position].recall:.3f} / {sweeps[name][position].qps:,.0f}" for name in names) + " |")
        if VEGAFS not in sweeps:
            lines += ["", "vegafs HNSW was not available in this build."]
        if plotted:
            lines += ["", "![recall against queries per second](bench-vectors.png)"]
    return "\n".join(lines) + "\n"


def plot(path: Path, sweeps: dict[str, list[SweepPoint]], rows: int, threads: int) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, sweep in sweeps.items():
        ax.plot([p.recall for p in sweep], [p.qps for p in sweep], marker="o", label=name,
                color="#d9534f" if name == VEGAFS else None)
        for point in sweep:
            ax.annotate(str(point.ef), (point.recall, point.qps), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axvline(RECALL_GOAL, color="#999999", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{K}")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(f"HNSW, {rows:,} x {DIM} clustered, M={M}, ef_construction={EF_CONSTRUCTION}, {threads} threads")
    ax.title.set_fontsize(9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_section(out: Path, text: str) -> None:
    """Replaces what lies between the markers, or appends markers and section at the end of the file."""
    document = out.read_text() if out.exists() else "# Benchmarks\n\n"
    block = BEGIN + "\n" + text + END
    if BEGIN in document and END in document:
        document = document[:document.index(BEGIN)] + block + document[document.index(END) + len(END):]
    else:
        document = document.rstrip() + "\n\n" + block + "\n"
    out.write_text(document)
    print(f"wrote {out}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the exact-search data set")
    parser.add_argument("--hnsw-rows", type=int, default=200_000, help="rows of the HNSW data set")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (at least 3; default 5)")
    parser.add_argument("--build-runs", type=int, default=1, help="timed HNSW builds per library (default 1)")
    parser.add_argument("--only", default=None, help="run only the groups whose title contains this text")
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary stores go (default /tmp)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave docs/ alone")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    if args.rows <= K or args.hnsw_rows <= K or args.build_runs < 1:
        parser.error(f"--rows and --hnsw-rows must exceed k={K}, --build-runs must be at least 1")

    blas, pthread_openblas = numpy_blas()
    if not pthread_openblas:
        print(f"WARNING: numpy does not use OpenBLAS (pthread): {blas}", file=sys.stderr)
    threads = len(os.sched_getaffinity(0))
    machine = facts(blas, threads)
    print(machine, file=sys.stderr)
    for name, module in ((FAISS, faiss), (HNSWLIB, hnswlib)):
        if module is None:
            print(f"{name} is not installed: its cells are n/a", file=sys.stderr)
    if faiss:
        faiss.omp_set_num_threads(threads)

    workdir = Path(tempfile.mkdtemp(prefix="vegafs-bench-vectors-", dir=args.workdir))
    exact = Exact(args.rows, workdir)
    sweeps: dict[str, list[SweepPoint]] = {}
    groups: list[tuple[str, Callable[[], list[Row]]]] = [
        ("one exact query", lambda: one_query(exact, args.runs)),
        (f"exact batch of {BATCH_QUERIES} queries", lambda: batch_query(exact, args.runs)),
        (f"add {args.rows:,} rows", lambda: add_rows(exact, args.runs)),
        ("HNSW build, recall and QPS",
         lambda: hnsw(args.hnsw_rows, workdir, args.runs, args.build_runs, threads, sweeps)),
    ]
    rows: list[Row] = []
    try:
        for title, run in groups:
            if not args.only or args.only in title:
                found = run()
                print_rows(found)
                rows += found
    finally:
        exact.close()
        shutil.rmtree(workdir, ignore_errors=True)

    plotted = bool(sweeps) and not args.no_write and plot(args.out.parent / "bench-vectors.png", sweeps,
                                                          args.hnsw_rows, threads)
    text = section(args, machine, threads, rows, sweeps, plotted)
    print(text)
    if not args.no_write:
        write_section(args.out, text)
    return 0


def print_rows(rows: list[Row]) -> None:
    for row in rows:
        print(f"{row.case}: " + ", ".join(f"{name} {cell(row, name)}" for name in LIBRARIES if name in row.values),
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
