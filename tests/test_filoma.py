"""vegafs.filoma / vegafs.DirectoryProfiler: filoma's directory profiler (1.3 arguments and result dict,
1.4+ config/probe/DirectoryAnalysis), checked against a reference written from filoma's rules
(tests/analyzeref.py, filoma_reference) and on the behaviours filoma users rely on."""
from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

import vegafs
from analyzeref import filoma_reference, random_tree
from conftest import run_python
from vegafs.filoma import DirectoryAnalysis, DirectoryProfiler, DirectoryProfilerConfig, ProfileResult, probe

FILOMA_KEYS = {"root_path", "summary", "file_extensions", "common_folder_names", "empty_folders",
               "top_folders_by_file_count", "depth_distribution", "timing"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return random_tree(tmp_path_factory.mktemp("filoma") / "tree", seed=11, files=300)


@pytest.fixture
def levels(tmp_path) -> Path:
    """top.txt at depth 1, then one folder and one file per level: level1/file1.txt (depth 2),
    level1/level2/file2.txt (3), level1/level2/level3/file3.txt (4)."""
    deepest = tmp_path / "level1" / "level2" / "level3"
    deepest.mkdir(parents=True)
    (tmp_path / "top.txt").write_text("top")
    (tmp_path / "level1" / "file1.txt").write_text("one")
    (tmp_path / "level1" / "level2" / "file2.txt").write_text("two")
    (deepest / "file3.txt").write_text("three")
    return tmp_path


def quiet(**kwargs) -> DirectoryProfiler:
    return DirectoryProfiler(show_progress=False, **kwargs)


def comparable(result) -> dict:
    keys = ("summary", "file_extensions", "common_folder_names", "depth_distribution")
    return {**{k: result[k] for k in keys}, "empty_folders": sorted(result["empty_folders"])}


@pytest.mark.parametrize("max_depth", [None, 0, 1, 2, 3])
@pytest.mark.parametrize("backend,parallel", [("rust", True), ("rust", False), ("python", False)])
def test_every_backend_equals_filoma_reference(generated, backend, parallel, max_depth):
    profiler = quiet(search_backend=backend, use_parallel=parallel, parallel_threshold=0, top_n=1000)
    result = profiler.analyze(str(generated), max_depth=max_depth)
    expected = filoma_reference(os.fsencode(generated), max_depth)
    assert comparable(result) == expected
    assert result.report.engine.startswith("native" if backend == "rust" else "python")


@pytest.mark.parametrize("max_depth,files,folders,deepest", [
    (None, 4, 4, 3), (0, 1, 1, 0), (1, 2, 2, 1), (2, 3, 3, 2), (3, 4, 4, 3), (10, 4, 4, 3)])
def test_max_depth_counts_folders_to_n_and_files_to_n_plus_one(levels, max_depth, files, folders, deepest):
    for use_rust in (True, False):
        summary = quiet(use_rust=use_rust).analyze(str(levels), max_depth=max_depth)["summary"]
        assert (summary["total_files"], summary["total_folders"], summary["max_depth"]) == (files, folders, deepest)


def test_max_depth_distribution_and_names_stop_at_the_cut(levels):
    result = quiet().analyze(levels, max_depth=1)
    assert result["depth_distribution"] == {0: 1, 1: 1}
    assert result["common_folder_names"] == {"level1": 1}  # level2, at depth 2, is not a counted folder
    assert result["empty_folders"] == []  # level1 holds level2: not empty, though level2 is not counted
    assert quiet(max_depth=1).analyze(levels)["summary"]["total_folders"] == 2  # the profiler's default
    assert quiet(max_depth=1).analyze(levels, max_depth=3)["summary"]["total_folders"] == 4


@pytest.mark.parametrize("exclude", ["level2", ["level2", "*.md"], vegafs.PatternMatcher(["LEVEL2"], case_sensitive=False)])
def test_own_exclude_combines_with_the_depth_cut(levels, exclude):
    (levels / "level1" / "other").mkdir()
    summary = quiet(exclude=exclude).analyze(levels, max_depth=1)["summary"]
    assert (summary["total_files"], summary["total_folders"]) == (2, 2)  # "other", at depth 2, is cut
    summary = quiet(exclude=exclude).analyze(levels, max_depth=2)["summary"]
    assert (summary["total_files"], summary["total_folders"]) == (2, 3)  # level2 excluded, other counted


def test_filoma_example_tree(tmp_path):
    for folder in ("folder1", "folder2", "empty_folder", "nested/deep", ".hidden"):
        (tmp_path / folder).mkdir(parents=True)
    for name, text in [("file1.txt", "a"), ("file2.py", "b"), ("folder1/data.csv", "c,d"),
                       ("nested/image.png", "png"), (".hidden/secret.TXT", "s"), ("README", "r")]:
        (tmp_path / name).write_text(text)
    result = quiet().analyze(str(tmp_path))
    s = result["summary"]
    assert (s["total_files"], s["total_folders"], s["empty_folder_count"]) == (6, 7, 3)
    assert result["file_extensions"] == {".txt": 2, ".py": 1, ".csv": 1, ".png": 1, "<no extension>": 1}
    assert sorted(Path(p).name for p in result["empty_folders"]) == ["deep", "empty_folder", "folder2"]
    assert s["total_size_bytes"] == 1 + 1 + 3 + 3 + 1 + 1
    assert s["avg_files_per_folder"] == round(6 / 7, 2)
    assert result["top_folders_by_file_count"][0] == (str(tmp_path), 3)
    assert result["depth_distribution"] == {0: 1, 1: 5, 2: 1}


def test_empty_root_and_single_file(tmp_path):
    for use_rust in (True, False):
        empty = quiet(use_rust=use_rust).analyze(tmp_path)["summary"]
        assert (empty["total_files"], empty["total_folders"], empty["max_depth"]) == (0, 1, 0)
        assert empty["empty_folder_count"] == 1  # the root itself is empty
    (tmp_path / "only.txt").write_text("x")
    single = quiet().analyze(tmp_path)
    assert (single["summary"]["total_files"], single["summary"]["total_folders"]) == (1, 1)
    assert single["empty_folders"] == []


def test_result_is_a_plain_dict_with_the_report_attached(levels):
    result = quiet().analyze(str(levels))
    assert isinstance(result, dict) and isinstance(result, ProfileResult)
    assert set(result) == FILOMA_KEYS
    assert set(result["timing"]) == {"elapsed_seconds", "implementation", "items_per_second"}
    again = json.loads(json.dumps(result))
    assert again["summary"] == result["summary"]
    assert again["depth_distribution"] == {str(k): v for k, v in result["depth_distribution"].items()}
    result["note"] = "mine"
    result["summary"]["total_files"] += 1
    assert result["note"] == "mine"
    assert isinstance(result.report, vegafs.DirectoryReport)
    assert result.report.totals.files == 4 and result.report.largest[0].path == str(levels / "level1/level2/level3/file3.txt")


def test_bytes_and_pathlike_roots(levels):
    as_bytes = quiet().analyze(os.fsencode(levels))
    as_path = quiet().analyze(levels)
    assert as_bytes["root_path"] == as_path["root_path"] == str(levels)
    assert as_bytes["summary"] == as_path["summary"]


@pytest.mark.parametrize("use_rust", [True, False])
def test_missing_path_or_file_raises_value_error(tmp_path, use_rust):
    profiler = quiet(use_rust=use_rust)
    with pytest.raises(ValueError, match="Path does not exist") as missing:
        profiler.analyze(tmp_path / "missing")
    assert isinstance(missing.value, vegafs.VegaError)
    assert isinstance(missing.value.__cause__, FileNotFoundError)
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValueError, match="Path is not a directory") as a_file:
        profiler.analyze(str(tmp_path / "f.txt"))
    assert isinstance(a_file.value.__cause__, NotADirectoryError)
    with pytest.raises(FileNotFoundError):  # vegafs's own API keeps its OSError subclasses
        vegafs.analyze(tmp_path / "missing")
    with pytest.raises(NotADirectoryError):
        vegafs.analyze(tmp_path / "f.txt")


def test_backend_choice_and_capability_probes(levels):
    default = quiet()
    assert default._choose_backend() == "rust"
    assert default._probe_python(levels)["summary"] == default._analyze_rust(levels)["summary"]
    assert default.is_rust_available() and default.is_parallel_available() and default.use_native
    assert not default.is_fd_available() and not default.is_dataframe_enabled()
    python = quiet(use_rust=False)
    assert python._choose_backend() == "python" and not python.is_rust_available()
    assert not python.is_parallel_available()
    by_name = quiet(search_backend="python")  # use_rust=True, but the backend is named
    assert by_name._choose_backend() == "python" and not by_name.use_rust
    assert by_name.analyze(levels).report.engine == "python"
    assert quiet(use_native=False)._choose_backend() == "python"
    sequential = quiet(use_parallel=False)
    assert sequential.is_rust_available() and not sequential.is_parallel_available()
    sequential.analyze(levels)
    assert sequential.get_implementation_info()["threads"] == 1
    with pytest.warns(RuntimeWarning, match="does not run fd"):
        fd = quiet(search_backend="fd")
    assert fd._choose_backend() == "rust" and not fd.is_fd_available() and not fd.use_fd
    with pytest.raises(ValueError, match="search_backend"):
        quiet(search_backend="walkdir")  # type: ignore[arg-type]


def test_without_the_native_library_python_runs_with_a_warning(levels, tmp_path):
    env = dict(os.environ, VEGAFS_LIBRARY=str(tmp_path / "nope.so"))
    result = run_python(f"""
        import warnings, vegafs
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            profiler = vegafs.DirectoryProfiler(show_progress=False)
        info = profiler.get_implementation_info()
        result = profiler.analyze({str(levels)!r})
        print(caught[0].category.__name__, profiler._choose_backend(), info["rust_available"],
              info["python_fallback"], result["summary"]["total_files"], result.report.engine)
    """, env=env)
    assert result.stdout.split() == ["RuntimeWarning", "python", "False", "True", "4", "python"], result.stderr


def test_implementation_info_has_filoma_keys():
    info = quiet().get_implementation_info()
    assert {"rust_available", "rust_parallel_available", "fd_available", "dataframe_available", "using_rust",
            "using_parallel", "using_fd", "using_dataframe", "search_backend", "python_fallback"} <= set(info)
    assert info["rust_available"] and info["using_rust"] and not info["python_fallback"]
    assert info["using_fd"] is False and info["search_backend"] == "auto"
    python = quiet(use_rust=False).get_implementation_info()
    assert python["python_fallback"] and not python["using_rust"]
    assert python["rust_available"]  # the library loads; this profiler just does not use it


def test_parallel_threshold_picks_threads(generated, tmp_path):
    big = quiet(parallel_threshold=10)
    big.analyze(generated)
    info = big.get_implementation_info()
    assert info["using_parallel"] and "parallel_threshold=10" in info["threads_reason"]
    small = quiet(parallel_threshold=1000)
    (tmp_path / "x.txt").write_text("x")
    small.analyze(tmp_path)
    assert small.get_implementation_info()["threads"] == 1
    assert "fewer than" in small.get_implementation_info()["threads_reason"]


def test_progress_callback_gets_message_current_total(levels):
    calls: list[tuple] = []
    result = quiet(progress_callback=lambda *args: calls.append(args)).analyze(levels)
    assert calls and all(isinstance(m, str) and isinstance(c, int) and isinstance(t, int) for m, c, t in calls)
    entries = result.report.totals.entries
    assert calls[-1][1:] == (entries, entries) and entries == 7  # 4 files, 3 folders below the root
    with pytest.raises(ValueError, match="progress_callback"):
        quiet(progress_callback="print")  # type: ignore[arg-type]


def test_accepted_arguments_without_effect_keep_results(levels):
    base = quiet().analyze(levels)["summary"]
    fast = quiet(fast_path_only=True, use_fd=False, network_concurrency=8, network_timeout_ms=100,
                 network_retries=2).analyze(levels)["summary"]
    assert fast == base  # sizes too: they come from the lstat that classifies each entry anyway


@pytest.mark.parametrize("kwargs,error", [
    ({"network_concurrency": 0}, ValueError), ({"network_timeout_ms": -1}, ValueError),
    ({"network_retries": -1}, ValueError), ({"parallel_threshold": -1}, ValueError),
    ({"top_n": -1}, ValueError), ({"max_depth": -1}, ValueError), ({"max_depth": True}, TypeError),
    ({"max_depth": 1.5}, TypeError)])
def test_bad_arguments_are_refused(kwargs, error):
    with pytest.raises(error):
        quiet(**kwargs)


def test_bad_max_depth_in_analyze(levels):
    with pytest.raises(ValueError, match="max_depth"):
        quiet().analyze(levels, max_depth=-1)


def test_dataframe_lists_the_counted_paths(levels):
    pd = pytest.importorskip("pandas")
    profiler = quiet(build_dataframe=True)
    assert profiler.is_dataframe_enabled() and profiler.get_implementation_info()["using_dataframe"]
    result = profiler.analyze(str(levels), max_depth=1)
    frame = profiler.get_dataframe(result)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["path"]
    assert sorted(frame["path"]) == sorted(str(levels / p) for p in ("top.txt", "level1", "level1/file1.txt"))
    assert quiet().get_dataframe(quiet().analyze(levels)) is None


def test_dataframe_without_pandas_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"vegafs\[pandas\]"):
        quiet(build_dataframe=True)
    assert quiet().get_implementation_info()["dataframe_available"] is False


def test_print_methods(levels, tmp_path):
    rich_console = pytest.importorskip("rich.console")
    console = rich_console.Console(record=True, width=150, file=io.StringIO())
    profiler = quiet()
    result = profiler.analyze(levels)
    profiler.print_report(result, console)
    out = console.export_text()
    for text in ("Directory Analysis", "Total Files", "File Extensions", ".txt", "Common Folder Names", "level2",
                 "No empty folders found."):
        assert text in out
    for name in ("a", "b", "c"):
        (tmp_path / "many" / name).mkdir(parents=True)
    profiler.print_empty_folders(profiler.analyze(tmp_path / "many"), max_show=2, console=console)
    out = console.export_text()
    assert "Empty Folders (showing 2 of 3)" in out and "... and 1 more" in out


def test_config_probe_and_directory_analysis(levels):
    profiler = DirectoryProfiler(DirectoryProfilerConfig(use_rust=True, show_progress=False))
    analysis = profiler.probe(str(levels), max_depth=1)
    assert isinstance(analysis, DirectoryAnalysis) and profiler.is_rust_available()
    assert analysis.summary == quiet().analyze(levels, max_depth=1)["summary"]
    assert analysis["summary"]["total_folders"] == 2 and analysis.path == str(levels)
    assert set(analysis) == FILOMA_KEYS - {"root_path"} | {"path"}
    assert analysis.path_obj == levels and analysis.report is not None
    assert DirectoryAnalysis.from_dict(analysis.to_dict()).to_dict() == analysis.to_dict()
    with pytest.warns(UserWarning, match="build_dataframe"):
        assert analysis.to_df() is None
    python = DirectoryProfiler(DirectoryProfilerConfig(search_backend="python", show_progress=False))
    assert python.probe(levels, max_depth=1).summary == analysis.summary
    assert not python.is_rust_available()


def test_module_probe_threads_and_absolute_paths(levels, monkeypatch):
    monkeypatch.chdir(levels)
    analysis = probe("level1", max_depth=0, show_progress=False, return_absolute_paths=True)
    assert analysis.path == str(levels / "level1")
    assert analysis.top_folders_by_file_count == [(str(levels / "level1"), 1)]
    assert probe("level1", show_progress=False).path == "level1"
    profiler = DirectoryProfiler(DirectoryProfilerConfig(walker_threads=1, show_progress=False))
    profiler.probe(levels)
    assert profiler.get_implementation_info()["threads"] == 1
    profiler.probe(levels, threads=2)
    assert profiler.get_implementation_info()["threads"] == 2


@pytest.mark.parametrize("kwargs,message", [
    ({"search_backend": "dua"}, "search_backend"), ({"walker": "fast"}, "walker"),
    ({"walker_threads": 0}, "walker_threads"), ({"parallel_threshold": -1}, "parallel_threshold"),
    ({"network_concurrency": 8}, "use_async=True"), ({"threads": 4}, "threads")])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DirectoryProfilerConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"use_async": True}, {"use_fd": True}, {"search_backend": "fd"},
                                    {"use_fd": True, "threads": 4}])
def test_config_asking_for_what_vegafs_lacks_is_refused(kwargs):
    config = DirectoryProfilerConfig(**kwargs)
    with pytest.raises(RuntimeError, match="vegafs"):
        DirectoryProfiler(config)


def test_config_dataframe(levels):
    pytest.importorskip("pandas")
    analysis = probe(levels, max_depth=0, build_dataframe=True, show_progress=False)
    assert list(analysis.to_df()["path"]) == [str(levels / "top.txt")]  # level1, at depth 1, is past the cut


def test_fsspec_url(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe({"/filoma-t/top.py": b"y", "/filoma-t/a/one.txt": b"1", "/filoma-t/a/b/two.txt": b"22"})
    try:
        result = quiet().analyze("memory://filoma-t", max_depth=1)
        assert (result["summary"]["total_files"], result["summary"]["total_folders"]) == (2, 2)
        assert result["common_folder_names"] == {"a": 1} and result["depth_distribution"] == {0: 1, 1: 1}
        assert result.report.engine.startswith("python (fsspec")
        with pytest.raises(ValueError, match="Path does not exist"):
            quiet().analyze("memory://filoma-missing")
    finally:
        fs.rm("/filoma-t", recursive=True)


def test_top_level_name_is_the_filoma_profiler():
    assert vegafs.DirectoryProfiler is DirectoryProfiler
