"""filoma's directory profiler on vegafs's engines.

Two APIs, one class:

- filoma 1.3: ``DirectoryProfiler(use_rust=True, use_parallel=True, ...)``; :meth:`DirectoryProfiler.analyze`
  returns filoma's result dict (a :class:`ProfileResult`, which also carries vegafs's full report).
- filoma 1.4+: ``DirectoryProfiler(DirectoryProfilerConfig(...))``, :meth:`DirectoryProfiler.probe` and the
  module function :func:`probe` return a :class:`DirectoryAnalysis`.

filoma's "rust" backend is vegafs's native engine and its "python" backend vegafs's Python engine; vegafs
never runs ``fd``. ``max_depth=N`` counts as filoma counts it: folders to depth N, files to depth N+1
(vegafs's own :func:`vegafs.analyze` examines entries to depth ``max_depth``). docs/compatibility-filoma.md
maps every name and lists the deliberate differences.
"""
from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional, Sequence

from . import _backend, _native
from ._analyze import analyze
from ._native import WalkProgress
from ._paths import StrOrBytesPath, fspath
from ._patterns import PatternMatcher, pattern_list
from ._progress import ProgressArg
from ._report import DirectoryReport, filoma_summary
from ._scan import Filter, scan_tree
from .errors import InvalidArgumentError, NativeLibraryError

SearchBackend = Literal["auto", "rust", "python", "fd"]
ProgressCallback = Callable[[str, int, int], None]
_BACKENDS = ("auto", "rust", "python", "fd")
_TOP_FOLDERS = 10  # filoma's top_folders_by_file_count keeps ten


class ProfileResult(dict[str, Any]):
    """filoma 1.3's result: a real ``dict`` with filoma's keys (``json.dumps``-able unless it holds a
    DataFrame, and writable), plus :attr:`report`, vegafs's full :class:`~vegafs.DirectoryReport` of the
    same analysis (largest/newest files, folder sizes, errors, ...)."""

    report: DirectoryReport

    def __init__(self, data: dict[str, Any], report: DirectoryReport) -> None:
        super().__init__(data)
        self.report = report


class DirectoryProfiler:
    """filoma's ``DirectoryProfiler`` (1.3 arguments, or a 1.4+ :class:`DirectoryProfilerConfig`).

    ``use_rust`` (alias ``use_native``) picks the native engine, falling back to Python with a warning if
    the native library cannot be loaded; ``search_backend`` "auto"/"rust" mean the native engine, "python"
    the Python engine, and "fd" is taken as "auto" with a warning (vegafs does not run fd). ``use_parallel``
    with ``parallel_threshold``: trees with at least that many entries (counted by reading at most that
    many) use every core, smaller ones one thread. ``build_dataframe`` adds a pandas DataFrame of the
    counted paths as ``result["dataframe"]``. ``show_progress=None`` shows progress on a terminal or in
    Jupyter; ``progress_callback(message, current, total)`` receives it instead (``total`` is 0 while
    unknown; the last call has ``current == total``). ``use_fd``, ``fast_path_only`` and ``network_*``
    are accepted and have no effect here (docs/compatibility-filoma.md says why).

    vegafs's options are keyword-only: ``max_depth`` (the default for :meth:`analyze`), ``top_n`` (rows
    of the ranked tables), ``follow_links``, ``include``/``exclude``/``gitignore`` (docs/patterns.md).
    """

    def __init__(self, use_rust: bool | DirectoryProfilerConfig = True, use_parallel: bool = True,
                 use_fd: bool = True, search_backend: SearchBackend = "auto", parallel_threshold: int = 1000,
                 build_dataframe: bool = False, show_progress: Optional[bool] = None,
                 progress_callback: Optional[ProgressCallback] = None, fast_path_only: bool = False,
                 network_concurrency: int = 64, network_timeout_ms: int = 5000, network_retries: int = 0, *,
                 use_native: Optional[bool] = None, max_depth: Optional[int] = None, top_n: int = 20,
                 follow_links: bool = False, include: Filter = None, exclude: Filter = None,
                 gitignore: bool = False) -> None:
        self.config: Optional[DirectoryProfilerConfig] = None
        threads: Optional[int] = None
        if isinstance(use_rust, DirectoryProfilerConfig):
            config = self.config = use_rust
            config.check_supported()
            # filoma's "auto" takes its Rust backend whenever the build has one, whatever use_rust says.
            use_rust, use_parallel = True, config.use_parallel
            search_backend, parallel_threshold = config.search_backend, config.parallel_threshold
            build_dataframe, show_progress = config.build_dataframe, config.show_progress
            progress_callback, fast_path_only = config.progress_callback, config.fast_path_only
            network_concurrency, network_timeout_ms = config.network_concurrency, config.network_timeout_ms
            network_retries, threads = config.network_retries, config.walker_threads
        if use_native is not None:
            use_rust = use_native
        if search_backend not in _BACKENDS:
            raise InvalidArgumentError(f"search_backend must be one of {', '.join(_BACKENDS)}, not {search_backend!r}")
        if not isinstance(parallel_threshold, int) or parallel_threshold < 0:
            raise InvalidArgumentError(f"parallel_threshold must be a non-negative integer, not {parallel_threshold!r}")
        for name, value in (("network_concurrency", network_concurrency), ("network_timeout_ms", network_timeout_ms)):
            if not isinstance(value, int) or value <= 0:
                raise InvalidArgumentError(f"{name} must be a positive integer, not {value!r}")
        if not isinstance(network_retries, int) or network_retries < 0:
            raise InvalidArgumentError(f"network_retries must be a non-negative integer, not {network_retries!r}")
        if not isinstance(top_n, int) or not 0 <= top_n <= 1_000_000:
            raise InvalidArgumentError(f"top_n must be an integer from 0 to 1000000, not {top_n!r}")
        if progress_callback is not None and not callable(progress_callback):
            raise InvalidArgumentError(f"progress_callback must be callable, not {progress_callback!r}")
        _check_depth(max_depth)
        if build_dataframe:
            _pandas()  # refuse now, not after a long analysis
        if search_backend == "fd":
            warnings.warn("vegafs does not run fd: search_backend='fd' is taken as 'auto'", RuntimeWarning,
                          stacklevel=2)

        self._native_loaded = _native_loads(fallback_warning=True) if use_rust and search_backend != "python" else False
        self.use_rust = self._native_loaded
        self.use_parallel = use_parallel and self.use_rust
        self.use_fd = False  # accepted for filoma's signature; vegafs never runs fd
        self.search_backend = search_backend
        self.parallel_threshold = parallel_threshold
        self.build_dataframe = build_dataframe
        self.show_progress = show_progress
        self.progress_callback = progress_callback
        self.fast_path_only = fast_path_only
        self.network_concurrency, self.network_timeout_ms = network_concurrency, network_timeout_ms
        self.network_retries = network_retries
        self.max_depth = max_depth
        self.top_n = top_n
        self.follow_links = follow_links
        self.include, self.exclude, self.gitignore = include, exclude, gitignore
        self._fixed_threads = threads
        self._engine_reason = ("search_backend='python'" if search_backend == "python"
                               else "use_rust=False" if not use_rust
                               else "the native library is loaded" if self._native_loaded
                               else "the native library could not be loaded")
        self._threads: Optional[int] = None
        self._threads_reason = "not run yet"

    @property
    def use_native(self) -> bool:
        """vegafs's name for :attr:`use_rust`: whether the native engine runs."""
        return self.use_rust

    # Capability probes, answered for vegafs.
    def is_rust_available(self) -> bool:
        """Whether the native engine (filoma's "rust" backend) is loaded and is the one that runs."""
        return self.use_rust

    def is_parallel_available(self) -> bool:
        """Whether the native engine runs and may use several threads (see ``parallel_threshold``)."""
        return self.use_parallel

    def is_fd_available(self) -> bool:
        """Always False: vegafs never runs fd (the native engine does the walk fd would do)."""
        return False

    def is_dataframe_enabled(self) -> bool:
        """Whether results carry a pandas DataFrame (``build_dataframe=True``; pandas was importable)."""
        return self.build_dataframe

    def get_implementation_info(self) -> dict[str, Any]:
        """Which engine runs and why: filoma's keys (``rust_*`` mean the native engine, ``fd_available``
        whether an ``fd`` program is on PATH, which vegafs does not use) and vegafs's."""
        parallel = self.use_parallel and self._threads != 1
        native = self._native_loaded or _native_loads()
        return {
            "rust_available": native,
            "rust_parallel_available": native,
            "fd_available": shutil.which("fd") is not None,
            "dataframe_available": _pandas_importable(),
            "using_rust": self.use_rust,
            "using_parallel": parallel,
            "using_fd": False,
            "using_dataframe": self.build_dataframe,
            "search_backend": self.search_backend,
            "python_fallback": not self.use_rust,
            "engine": "native" if self.use_rust else "python",
            "reason": self._engine_reason,
            "threads_reason": self._threads_reason,
            "native_available": native,
            "using_native": self.use_rust,
            "threads": (self._threads or len(os.sched_getaffinity(0))) if self.use_rust else 1,
        }

    # Analysis.
    def analyze(self, root_path: StrOrBytesPath, max_depth: Optional[int] = None) -> ProfileResult:
        """filoma 1.3's ``analyze``: the tree at ``root_path`` as filoma's result dict. ``max_depth``
        (default: the profiler's) counts folders to that depth and files one deeper; 0 is the root's own
        files. A missing path or a file raises ValueError, as filoma does."""
        run = self._analyze_rust if self._choose_backend() == "rust" else self._analyze_python
        return run(root_path, max_depth)

    analyze_directory = analyze

    def probe(self, path: StrOrBytesPath, max_depth: Optional[int] = None,
              threads: Optional[int] = None) -> DirectoryAnalysis:
        """filoma 1.4+'s ``probe``: :meth:`analyze` as a :class:`DirectoryAnalysis`. ``threads`` sets the
        native engine's worker count (filoma passes it to fd)."""
        backend = self._choose_backend()
        result = self._profile(path, max_depth, "native" if backend == "rust" else "python", threads)
        return DirectoryAnalysis.from_result(result)

    def _choose_backend(self) -> str:
        """filoma's backend names: "rust" when the native engine runs, else "python" (never "fd")."""
        return "rust" if self.use_rust else "python"

    # filoma's per-backend entry points (its tests look for _analyze_rust / _probe_rust to know the fast
    # backend exists).
    def _analyze_rust(self, root_path: StrOrBytesPath, max_depth: Optional[int] = None) -> ProfileResult:
        return self._profile(root_path, max_depth, "native", None)

    def _analyze_python(self, root_path: StrOrBytesPath, max_depth: Optional[int] = None) -> ProfileResult:
        return self._profile(root_path, max_depth, "python", None)

    _probe_rust, _probe_python = _analyze_rust, _analyze_python  # filoma 1.4+'s names for them

    def _profile(self, root_path: StrOrBytesPath, max_depth: Optional[int], engine: Literal["native", "python"],
                 threads: Optional[int]) -> ProfileResult:
        depth = self.max_depth if max_depth is None else max_depth
        _check_depth(depth)
        root = fspath(root_path)
        if self.config is not None and self.config.return_absolute_paths and not _is_url(root):
            root = os.path.abspath(root)
        started = time.perf_counter()
        exclude = _cut_below(self.exclude, depth)
        fixed = threads or self._fixed_threads
        if fixed:
            self._threads, self._threads_reason = fixed, f"threads={fixed} given"
        else:
            self._threads = self._choose_threads(root, engine)
        callback = self.progress_callback
        progress: ProgressArg = self.show_progress
        if callback is not None:
            progress = _progress_adapter(callback)
        try:
            report = analyze(root, max_depth=None if depth is None else depth + 1, top_n=self.top_n,
                             follow_links=self.follow_links, include=self.include, exclude=exclude,
                             gitignore=self.gitignore, threads=self._threads, progress=progress, engine=engine)
        except FileNotFoundError as error:
            raise InvalidArgumentError(f"Path does not exist: {os.fsdecode(root)}") from error
        except NotADirectoryError as error:
            raise InvalidArgumentError(f"Path is not a directory: {os.fsdecode(root)}") from error
        result = ProfileResult(_filoma_dict(report), report)
        if self.build_dataframe:
            listing = scan_tree(root, followlinks=self.follow_links, max_depth=None if depth is None else depth + 1,
                                threads=self._threads, include=self.include, exclude=exclude, gitignore=self.gitignore)
            result["dataframe"] = _pandas().DataFrame({"path": [os.fsdecode(p) for p in listing.paths]})
        elapsed = time.perf_counter() - started
        summary = result["summary"]
        items = summary["total_files"] + summary["total_folders"]
        result["timing"] = {"elapsed_seconds": elapsed, "implementation": report.engine,
                            "items_per_second": items / elapsed if elapsed > 0 else 0}
        if callback is not None:
            callback("Analysis complete", report.totals.entries, report.totals.entries)
        return result

    def _choose_threads(self, root: str | bytes, engine: str) -> Optional[int]:
        if _is_url(root):
            self._threads_reason = "an fsspec URL is analysed in Python"
            return None
        if engine == "python":
            self._threads_reason = "the Python engine is sequential"
            return None
        if not self.use_parallel:
            self._threads_reason = "sequential: use_parallel=False"
            return 1
        if _estimate_entries(root, self.parallel_threshold) < self.parallel_threshold:
            self._threads_reason = f"sequential: fewer than parallel_threshold={self.parallel_threshold} entries"
            return 1
        self._threads_reason = f"parallel: at least parallel_threshold={self.parallel_threshold} entries"
        return None

    def get_dataframe(self, analysis: Mapping[str, Any]) -> Any:
        """The pandas DataFrame of ``analysis`` (one ``path`` row per counted entry), or None if it was
        made without ``build_dataframe=True``."""
        return analysis.get("dataframe")

    # Printing, with rich (plain text without it).
    def print_summary(self, analysis: Mapping[str, Any], console: Any = None) -> None:
        """filoma's summary table: files, folders, size, files per folder, depth, empty folders, time."""
        s = analysis["summary"]
        timing = analysis.get("timing") or {}
        rows = [("Total Files", f"{s['total_files']:,}"), ("Total Folders", f"{s['total_folders']:,}"),
                ("Total Size", f"{s['total_size_mb']:,} MB"),
                ("Average Files per Folder", str(s["avg_files_per_folder"])),
                ("Maximum Depth", str(s["max_depth"])), ("Empty Folders", str(s["empty_folder_count"]))]
        if timing:
            rows.append(("Analysis Time", f"{timing['elapsed_seconds']:.2f}s"))
        title = f"Directory Analysis: {analysis.get('root_path', analysis.get('path'))}"
        if timing:
            title += f" ({timing['implementation']})"
        _print_table(title, ("Metric", "Value"), rows, console)

    def print_file_extensions(self, analysis: Mapping[str, Any], top_n: int = 10, console: Any = None) -> None:
        """The ``top_n`` most common extensions with their share of the files."""
        extensions = analysis["file_extensions"]
        total = analysis["summary"]["total_files"]
        if extensions:
            rows = [(ext, f"{count:,}", f"{100 * count / total if total else 0:.1f}%")
                    for ext, count in list(extensions.items())[:top_n]]
            _print_table("File Extensions", ("Extension", "Count", "Percentage"), rows, console)

    def print_folder_patterns(self, analysis: Mapping[str, Any], top_n: int = 10, console: Any = None) -> None:
        """The ``top_n`` most common folder names."""
        names = analysis["common_folder_names"]
        if names:
            rows = [(name, f"{count:,}") for name, count in list(names.items())[:top_n]]
            _print_table("Common Folder Names", ("Folder Name", "Occurrences"), rows, console)

    def print_empty_folders(self, analysis: Mapping[str, Any], max_show: int = 20, console: Any = None) -> None:
        """Up to ``max_show`` empty folders, and how many more there are."""
        empty = analysis["empty_folders"]
        if not empty:
            _print_lines(["No empty folders found."], console)
            return
        rows: list[Sequence[str]] = [(folder,) for folder in empty[:max_show]]
        if len(empty) > max_show:
            rows.append((f"... and {len(empty) - max_show} more",))
        _print_table(f"Empty Folders (showing {min(len(empty), max_show)} of {len(empty)})", ("Path",), rows,
                     console)

    def print_report(self, analysis: Mapping[str, Any], console: Any = None) -> None:
        """filoma's report: summary, extensions, folder names, empty folders (``result.report.print_report()``
        prints vegafs's fuller one)."""
        self.print_summary(analysis, console)
        self.print_file_extensions(analysis, console=console)
        self.print_folder_patterns(analysis, console=console)
        self.print_empty_folders(analysis, console=console)


@dataclass(frozen=True)
class DirectoryProfilerConfig:
    """filoma 1.4+'s profiler configuration, validated as filoma validates it. What vegafs cannot do is
    refused when the profiler is made (RuntimeError, as filoma refuses a backend its build lacks):
    ``use_async``, ``use_fd`` and ``search_backend="fd"``. ``walker`` is accepted (vegafs has one walker),
    ``walker_threads`` sets the native engine's worker count, ``return_absolute_paths`` makes every path
    absolute."""

    use_rust: bool = False
    use_parallel: bool = True
    use_async: bool = False
    use_fd: bool = False
    search_backend: SearchBackend = "auto"
    walker: str = "auto"
    walker_threads: Optional[int] = None
    parallel_threshold: int = 1000
    build_dataframe: bool = False
    return_absolute_paths: bool = False
    show_progress: Optional[bool] = True
    progress_callback: Optional[ProgressCallback] = None
    fast_path_only: bool = False
    network_concurrency: int = 192
    network_timeout_ms: int = 20000
    network_retries: int = 0
    threads: Optional[int] = None
    fd_no_ignore: bool = False

    def __post_init__(self) -> None:
        if self.search_backend not in _BACKENDS:
            raise InvalidArgumentError("search_backend must be one of 'auto','rust','fd','python'")
        if self.walker not in ("auto", "walkdir", "dua-core"):
            raise InvalidArgumentError("walker must be one of 'auto','walkdir','dua-core'")
        if self.walker_threads is not None and (not isinstance(self.walker_threads, int)
                                                or not 1 <= self.walker_threads <= 512):
            raise InvalidArgumentError("walker_threads must be an integer between 1 and 512 when set")
        if not isinstance(self.parallel_threshold, int) or self.parallel_threshold < 0:
            raise InvalidArgumentError("parallel_threshold must be a non-negative integer")
        if not isinstance(self.network_concurrency, int) or self.network_concurrency <= 0:
            raise InvalidArgumentError("network_concurrency must be a positive integer")
        if self.network_timeout_ms <= 0:
            raise InvalidArgumentError("network_timeout_ms must be positive")
        if self.network_retries < 0:
            raise InvalidArgumentError("network_retries must be non-negative")
        custom_network = (self.network_concurrency, self.network_timeout_ms, self.network_retries) != (192, 20000, 0)
        if not self.use_async and custom_network:
            raise InvalidArgumentError("Network tuning parameters only apply when use_async=True")
        if self.threads is not None and not (self.use_fd or self.search_backend == "fd"):
            raise InvalidArgumentError("'threads' only applies when use_fd=True or search_backend='fd'")

    def check_supported(self) -> None:
        """RuntimeError for what this configuration asks and vegafs does not have."""
        if self.use_async:
            raise RuntimeError("vegafs has no async prober: the native engine walks network filesystems too "
                               "(leave use_async=False)")
        if self.use_fd or self.search_backend == "fd":
            raise RuntimeError("vegafs does not run fd: use search_backend='auto' or 'rust' (the native engine)")


@dataclass
class DirectoryAnalysis(Mapping[str, Any]):
    """filoma 1.4+'s probe result: its fields as attributes, and a read-only mapping of them (``path``,
    not 1.3's ``root_path``). :attr:`report` is vegafs's full report of the same analysis."""

    path: str
    summary: dict[str, Any]
    file_extensions: dict[str, int]
    common_folder_names: dict[str, int]
    empty_folders: list[str]
    top_folders_by_file_count: list[tuple[str, int]]
    depth_distribution: dict[int, int]
    dataframe: Any = None
    timing: Optional[dict[str, Any]] = None
    dataframe_note: Optional[str] = None
    report: Optional[DirectoryReport] = field(default=None, repr=False, compare=False)

    @classmethod
    def from_result(cls, result: ProfileResult) -> DirectoryAnalysis:
        return cls(path=result["root_path"], summary=result["summary"], file_extensions=result["file_extensions"],
                   common_folder_names=result["common_folder_names"], empty_folders=result["empty_folders"],
                   top_folders_by_file_count=result["top_folders_by_file_count"],
                   depth_distribution=result["depth_distribution"], dataframe=result.get("dataframe"),
                   timing=result.get("timing"), report=result.report)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DirectoryAnalysis:
        """From a dict of filoma's shape (``path`` or 1.3's ``root_path``)."""
        return cls(path=d.get("path") or d.get("root_path") or "", summary=d.get("summary", {}),
                   file_extensions=d.get("file_extensions", {}), common_folder_names=d.get("common_folder_names", {}),
                   empty_folders=d.get("empty_folders", []),
                   top_folders_by_file_count=d.get("top_folders_by_file_count", []),
                   depth_distribution=d.get("depth_distribution", {}), dataframe=d.get("dataframe"),
                   timing=d.get("timing"), dataframe_note=d.get("dataframe_note"))

    @property
    def path_obj(self) -> Path:
        return Path(self.path)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict: filoma's keys, and ``dataframe``/``timing``/``dataframe_note`` when set."""
        d: dict[str, Any] = {"path": self.path, "summary": self.summary, "file_extensions": self.file_extensions,
                             "common_folder_names": self.common_folder_names, "empty_folders": self.empty_folders,
                             "top_folders_by_file_count": self.top_folders_by_file_count,
                             "depth_distribution": self.depth_distribution}
        for key in ("dataframe", "timing", "dataframe_note"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d

    as_dict = to_dict

    def to_df(self) -> Any:
        """The pandas DataFrame, or None with a warning (as filoma) if the probe ran without
        ``build_dataframe=True``."""
        if self.dataframe is None:
            warnings.warn(f"no DataFrame for {self.path}: probe with build_dataframe=True", UserWarning, stacklevel=2)
        return self.dataframe

    def print_summary(self, profiler: Optional[DirectoryProfiler] = None) -> None:
        (profiler or DirectoryProfiler()).print_summary(self)

    def print_report(self, profiler: Optional[DirectoryProfiler] = None) -> None:
        (profiler or DirectoryProfiler()).print_report(self)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def probe(path: StrOrBytesPath, *, max_depth: Optional[int] = None, threads: Optional[int] = None,
          **config: Any) -> DirectoryAnalysis:
    """filoma 1.4+'s ``filoma.probe`` for a directory: ``DirectoryProfilerConfig(**config)``, then
    :meth:`DirectoryProfiler.probe`. (filoma also profiles a single file here; vegafs raises ValueError.)"""
    return DirectoryProfiler(DirectoryProfilerConfig(**config)).probe(path, max_depth=max_depth, threads=threads)


def _filoma_dict(report: DirectoryReport) -> dict[str, Any]:
    """filoma's keys, computed as filoma does: folders include the root, ``depth_distribution`` counts
    folders per depth and ``max_depth`` is the deepest folder's depth."""
    depths = {d.depth: d.folders for d in report.depths if d.folders}
    return {
        "root_path": os.fsdecode(report.path),
        "summary": filoma_summary(report.totals, max(depths)),
        "file_extensions": {e.label: e.files for e in report.extensions},
        "common_folder_names": {n.name: n.count for n in report.folder_names},
        "empty_folders": [os.fsdecode(p) for p in report.empty_folders],
        "top_folders_by_file_count": [(os.fsdecode(f.path), f.files) for f in report.folders_by_files
                                      if f.files][:_TOP_FOLDERS],
        "depth_distribution": depths,
    }


def _cut_below(exclude: Filter, max_depth: Optional[int]) -> Filter:
    """``exclude`` plus a glob leaving out the directories at depth ``max_depth + 1``: the analysis then
    examines files to that depth but folders only to ``max_depth``, as filoma counts them. (The glob has
    ``max_depth + 1`` components, so it matches that depth only; its trailing '/' keeps files.)"""
    if max_depth is None:
        return exclude
    cut = "/".join(["*"] * (max_depth + 1)) + "/"
    if exclude is None:
        return cut
    if isinstance(exclude, PatternMatcher):
        return PatternMatcher([*exclude.patterns, cut], case_sensitive=exclude.case_sensitive)
    return [*pattern_list(exclude, "exclude"), os.fsencode(cut)]


def _check_depth(max_depth: Optional[int]) -> None:
    if max_depth is None:
        return
    if isinstance(max_depth, bool) or not isinstance(max_depth, int):
        raise TypeError(f"max_depth must be an integer or None, not {type(max_depth).__name__}")
    if not 0 <= max_depth < 2**31 - 1:
        raise InvalidArgumentError(f"max_depth must be a non-negative integer, not {max_depth}")


def _progress_adapter(callback: ProgressCallback) -> Callable[[WalkProgress], None]:
    def report(p: WalkProgress) -> None:
        callback(f"Analyzed {p.entries:,} entries in {p.directories:,} folders", p.entries, 0)
    return report


def _native_loads(fallback_warning: bool = False) -> bool:
    """Whether the native library loads (it is then loaded); ``fallback_warning`` warns that Python runs
    instead when it does not."""
    try:
        _native.native()
        return True
    except NativeLibraryError as error:
        if fallback_warning:
            warnings.warn(f"vegafs: the native engine is not available, using Python: {error}", RuntimeWarning,
                          stacklevel=3)
        return False


def _is_url(root: str | bytes) -> bool:
    return isinstance(root, str) and _backend.is_fsspec(root)


def _pandas_importable() -> bool:
    try:
        _pandas()
        return True
    except ImportError:
        return False


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError("build_dataframe=True needs pandas: pip install 'vegafs[pandas]'") from exc
    return pandas


def _print_table(title: str, headers: tuple[str, ...], rows: Sequence[Sequence[str]], console: Any) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        _print_lines(lines + [""], console)
        return
    table = Table(title=title)
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    (console or Console()).print(table)


def _print_lines(lines: list[str], console: Any) -> None:
    for line in lines:
        if console is None:
            print(line)
        else:
            console.print(line)


def _estimate_entries(root: str | bytes, limit: int) -> int:
    """Entries below ``root``, counted breadth-first, stopping at ``limit`` (so it costs at most ``limit`` reads)."""
    seen = 0
    queue = [os.fsencode(root)]
    while queue and seen < limit:
        try:
            with os.scandir(queue.pop(0)) as entries:
                for entry in entries:
                    seen += 1
                    if seen >= limit:
                        break
                    if entry.is_dir(follow_symlinks=False):
                        queue.append(entry.path)
        except OSError:
            continue
    return seen
