"""vegafs.analyze / DirectoryProfiler / vegafs summarize: differential tests against an os.walk + lstat
reference (tests/analyzeref.py) and du, edge cases, report conversions, fsspec, CLI."""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vegafs
from analyzeref import as_reference, comparable, random_tree, reference
from conftest import interrupt_loop, make_tree


def du(path, *args) -> int:
    out = subprocess.run(["du", "-s", *args, os.fsdecode(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return random_tree(tmp_path_factory.mktemp("analysis") / "tree", seed=7)


@pytest.mark.parametrize("threads", [1, 2, 8])
def test_report_equals_os_walk_reference(generated, threads):
    report = vegafs.analyze(os.fsencode(generated), threads=threads, top_n=12)
    assert as_reference(report) == comparable(reference(os.fsencode(generated), top_n=12))


def test_python_engine_equals_reference(generated):
    report = vegafs.analyze(os.fsencode(generated), engine="python", top_n=12)
    assert report.engine == "python"
    assert as_reference(report) == comparable(reference(os.fsencode(generated), top_n=12))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_trees_equal_reference_and_du(tmp_path, seed):
    root = random_tree(tmp_path / "t", seed=seed, files=200)
    report = vegafs.analyze(root, top_n=5)
    assert as_reference(vegafs.analyze(os.fsencode(root), top_n=5)) == comparable(reference(os.fsencode(root), 5))
    assert report.totals.apparent_bytes == du(root, "-b")
    assert report.totals.disk_bytes == du(root, "-B1")


@pytest.mark.parametrize("path", ["/usr/include", "/usr/lib/x86_64-linux-gnu", "/usr/share/doc"])
def test_real_trees_equal_reference_and_du(path):
    if not os.path.isdir(path):
        pytest.skip(f"{path} is not on this machine")
    report = vegafs.analyze(os.fsencode(path), top_n=10)
    ref = reference(os.fsencode(path), top_n=10)
    assert as_reference(report) == comparable(ref)
    assert report.totals.apparent_bytes == du(path, "-b")
    assert report.totals.disk_bytes == du(path, "-B1")


def test_folder_sizes_are_du_of_each_folder(generated):
    report = vegafs.analyze(generated, top_n=8)
    for folder in report.folders_by_size:
        assert folder.subtree_bytes == du(folder.path, "-b"), folder.path
        assert folder.subtree_disk_bytes == du(folder.path, "-B1"), folder.path


def test_str_path_gives_str_paths_and_same_numbers(generated):
    as_str = vegafs.analyze(str(generated))
    as_bytes = vegafs.analyze(os.fsencode(generated))
    assert all(isinstance(f.path, str) for f in as_str.largest + as_str.folders_by_size)
    assert [os.fsencode(f.path) for f in as_str.largest] == [f.path for f in as_bytes.largest]
    assert as_str.totals == as_bytes.totals


def test_non_utf8_names_in_every_table(generated):
    report = vegafs.analyze(os.fsencode(generated), top_n=50)
    raw = os.fsencode(generated)
    odd_file = raw + b"/caf\xe9-dir/\xff\xfe.D\xc9"
    assert report.largest[1].path == odd_file  # 123,456 bytes: second only to the sparse file
    assert os.fsdecode(b".d\xc9").lower() in {e.extension for e in report.extensions}
    assert raw + b"/caf\xe9-dir/empty-\xff" in report.empty_folders
    assert os.fsdecode(b"caf\xe9-dir") in {n.name for n in report.folder_names}
    assert raw + b"/caf\xe9-dir" in {f.path for f in report.folders_by_files}
    text = vegafs.analyze(str(generated), top_n=50)
    assert os.fsencode(text.largest[1].path) == odd_file
    # JSON keeps undecodable bytes as surrogate escapes, and parses back to the same str.
    data = json.loads(text.to_json())
    assert data["largest_files"][1]["path"] == os.fsdecode(odd_file)


def test_extensions_fold_case_and_follow_suffix_rule(tmp_path):
    for name in ["a.TXT", "b.txt", "c.Txt", ".bashrc", "notes.", "x.tar.gz", "README"]:
        (tmp_path / name).write_bytes(b"12")
    report = vegafs.analyze(tmp_path)
    assert [(e.extension, e.files, e.bytes) for e in report.extensions] == [
        ("", 3, 6), (".txt", 3, 6), (".gz", 1, 2)]  # ties by extension
    assert report["file_extensions"] == {"<no extension>": 3, ".txt": 3, ".gz": 1}


def test_hard_links_and_sparse_files(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"a" * 10_000)
    os.link(tmp_path / "a.bin", tmp_path / "b.bin")
    with open(tmp_path / "sparse", "wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    report = vegafs.analyze(tmp_path)
    t = report.totals
    assert t.files == 3
    assert t.file_bytes == 10_000 + 100 * 1024 * 1024  # the linked file once
    assert t.apparent_bytes == du(tmp_path, "-b")
    assert t.disk_bytes == du(tmp_path, "-B1")
    assert t.disk_bytes < t.apparent_bytes - 90 * 1024 * 1024  # the hole takes no blocks
    assert [f.path for f in report.largest][:1] == [str(tmp_path / "sparse")]


def test_empty_tree(tmp_path):
    report = vegafs.analyze(tmp_path)
    t = report.totals
    assert (t.files, t.directories, t.folders, t.file_bytes, t.max_depth, t.errors) == (0, 0, 1, 0, 0, 0)
    assert t.apparent_bytes == du(tmp_path, "-b")
    assert report.empty_folders == [str(tmp_path)]  # the root itself is an empty folder
    assert [(d.depth, d.folders) for d in report.depths] == [(0, 1)]
    assert report.extensions == report.largest == report.folder_names == []
    assert [f.path for f in report.folders_by_size] == [str(tmp_path)]
    assert "Files" in report.to_text()


def test_a_file_or_a_missing_path_raises(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotADirectoryError) as caught:
        vegafs.analyze(tmp_path / "file.txt")
    assert caught.value.filename == tmp_path / "file.txt" or str(caught.value.filename) == str(tmp_path / "file.txt")
    with pytest.raises(FileNotFoundError):
        vegafs.analyze(tmp_path / "missing")
    with pytest.raises(NotADirectoryError):
        vegafs.analyze(tmp_path / "file.txt", engine="python")


@pytest.mark.parametrize("bad", [{"top_n": -1}, {"top_n": "3"}, {"max_depth": 0}, {"threads": 0}, {"engine": "rust"}])
def test_bad_arguments(tmp_path, bad):
    with pytest.raises(ValueError):
        vegafs.analyze(tmp_path, **bad)


def test_max_depth_and_top_n(generated):
    report = vegafs.analyze(os.fsencode(generated), max_depth=1, top_n=3)
    top_level = os.listdir(generated)
    assert report.totals.max_depth == 1
    assert report.totals.entries == len(top_level)
    assert len(report.largest) == len(report.folder_names) == 3
    assert [d.depth for d in report.depths] == [0, 1]
    assert vegafs.analyze(generated, top_n=0).largest == []


def test_symlink_loop_with_follow_links(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "file.txt").write_text("x")
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a")
    (tmp_path / "elsewhere").symlink_to(tmp_path / "a" / "b")
    # Loops are caught when a followed link leads to a directory on the current path (as find -L does):
    # elsewhere -> a/b, and elsewhere/up -> a is not yet a loop (a is not above elsewhere); its b/up is.
    loops = [(str(tmp_path / "a/b/up"), errno.ELOOP), (str(tmp_path / "elsewhere/up/b/up"), errno.ELOOP)]
    reports = [vegafs.analyze(tmp_path, follow_links=True, engine=e) for e in ("native", "python")]
    for report in reports:
        assert [(e.path, e.errno) for e in report.errors] == loops, report.engine
        assert report.totals.files == 3, report.engine  # a/b, elsewhere and elsewhere/up/b hold file.txt
    assert reports[0].totals == reports[1].totals
    plain = vegafs.analyze(tmp_path)
    assert plain.totals.symlinks == 2 and plain.totals.files == 1 and plain.errors == []


def test_unreadable_subdirectory_as_unprivileged_user(world_tmp, unprivileged_python):
    root = world_tmp / "tree"
    make_tree(root, dirs=20, files_per_dir=3)
    os.chmod(root / "d1", 0o000)
    os.chmod(root / "d2", 0o311)  # listable? no: executable but not readable
    code = f"""
import json, vegafs
r = vegafs.analyze({str(root)!r})
print(json.dumps({{"errors": [[e.path, e.errno] for e in r.errors], "files": r.totals.files,
                   "folders": r.totals.folders}}))
"""
    result = subprocess.run([*unprivileged_python, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert sorted(data["errors"]) == [[str(root / "d1"), errno.EACCES], [str(root / "d2"), errno.EACCES]]
    readable = sum(1 for dp, _, fs in os.walk(root) for _ in fs
                   if not dp.startswith((str(root / "d1"), str(root / "d2"))))
    assert data["files"] == readable


def test_files_vanishing_during_analysis(tmp_path):
    """Another process creates and deletes files and folders as fast as it can while analyses run:
    entries gone between listing and lstat (or opening) count as vanished, never as errors or crashes."""
    make_tree(tmp_path / "stable", dirs=200, files_per_dir=10)
    churn = tmp_path / "churn"
    churn.mkdir()
    churner = subprocess.Popen([sys.executable, "-c", f"""
import os, shutil
root = {str(churn)!r}
while True:
    for d in range(20):
        os.makedirs(f"{{root}}/d{{d}}/sub", exist_ok=True)
        for j in range(300):
            open(f"{{root}}/d{{d}}/{{j}}.tmp", "wb").close()
    for d in range(20):
        shutil.rmtree(f"{{root}}/d{{d}}")
"""])
    try:
        time.sleep(0.3)
        reports = [vegafs.analyze(tmp_path, threads=2) for _ in range(50)]
        deadline = time.monotonic() + 20
        while not any(r.totals.vanished for r in reports) and time.monotonic() < deadline:
            reports.append(vegafs.analyze(tmp_path, threads=2))
    finally:
        churner.kill()
        churner.wait()
    stable = sum(len(fs) for _, _, fs in os.walk(tmp_path / "stable"))
    for report in reports:
        assert stable <= report.totals.files <= stable + 20 * 300
        assert all(e.errno != errno.ENOENT for e in report.errors), report.errors
        assert report.totals.errors == len(report.errors)
    assert sum(r.totals.vanished for r in reports) > 0, "the churn never raced an analysis: the test proves nothing"


def test_include_selects_files_and_exclude_prunes(generated):
    everything = vegafs.analyze(os.fsencode(generated), top_n=1000)
    only_py = vegafs.analyze(os.fsencode(generated), include="*.py", top_n=1000)
    assert only_py.totals.directories == everything.totals.directories  # folders are all still there
    assert {e.extension for e in only_py.extensions} == {".py"}  # "*.py" is case-sensitive: .Py is left out
    assert only_py.totals.files == sum(1 for f in everything.largest if f.path.endswith(b".py"))
    no_data = vegafs.analyze(os.fsencode(generated), exclude=["data", "*.txt"], top_n=1000)
    assert all(b"/data/" not in f.path + b"/" and not f.path.endswith(b".txt") for f in no_data.largest)
    assert "data" not in {n.name for n in no_data.folder_names}
    python = vegafs.analyze(os.fsencode(generated), engine="python", exclude=["data", "*.txt"], top_n=1000)
    assert as_reference(python) == as_reference(no_data)


def test_gitignore(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("*.log\nbuild/\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.o").write_bytes(b"o" * 100)
    (tmp_path / "keep.py").write_text("x")
    (tmp_path / "debug.log").write_text("log")
    report = vegafs.analyze(tmp_path, gitignore=True)
    listed = vegafs.scan_tree(tmp_path, gitignore=True, stat=True)
    assert report.totals.files == sum(1 for e in listed if e.kind == vegafs.Kind.FILE) == 2  # keep.py, .gitignore
    assert {e.extension for e in report.extensions} == {".py", ""}
    with pytest.raises(ValueError):
        vegafs.analyze("memory://x", gitignore=True)


def test_fsspec_memory_equals_local_copy(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    local = tmp_path / "local"
    files = {"a/one.txt": b"1", "a/b/two.PY": b"22" * 50, "a/b/c/three.csv": b"333", "top.md": b"top" * 9,
             "z/README": b""}
    for name, data in files.items():
        fs.pipe(f"/analyze-test/{name}", data)
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    try:
        remote = vegafs.analyze("memory://analyze-test", top_n=3)
        native = vegafs.analyze(local, top_n=3)
        assert remote.engine.startswith("python (fsspec")
        for field in ("files", "directories", "file_bytes", "empty_files", "max_depth"):
            assert getattr(remote.totals, field) == getattr(native.totals, field), field
        assert remote.totals.disk_bytes is None
        assert remote.extensions == [vegafs.ExtensionStat(e.extension, e.files, e.bytes, None) for e in native.extensions]
        assert [f.path for f in remote.largest] == [
            "memory://analyze-test" + f.path[len(str(local)):] for f in native.largest]
        assert [(d.depth, d.folders, d.files) for d in remote.depths] == [(d.depth, d.folders, d.files) for d in native.depths]
        assert remote.folder_names == native.folder_names
        assert [f.path[len("memory://analyze-test"):] for f in remote.folders_by_files] == [
            f.path[len(str(local)):] for f in native.folders_by_files]
        assert vegafs.analyze("memory://analyze-test", include="*.txt").totals.files == 1
        with pytest.raises(FileNotFoundError):
            vegafs.analyze("memory://no-such-tree")
    finally:
        fs.rm("/analyze-test", recursive=True)


def test_report_conversions(generated):
    report = vegafs.analyze(generated, top_n=4)
    data = report.to_dict()
    assert data["summary"]["total_files"] == report.totals.files
    assert data["summary"]["total_folders"] == report.totals.directories + 1
    assert report["summary"]["avg_files_per_folder"] == round(report.totals.files / report.totals.folders, 2)
    assert set(report) >= {"root_path", "summary", "file_extensions", "common_folder_names", "empty_folders",
                           "top_folders_by_file_count", "depth_distribution", "timing"}
    assert report["timing"]["implementation"] == report.engine
    assert json.loads(report.to_json()) == json.loads(json.dumps(data))
    assert len(data["largest_files"]) == 4
    html = report._repr_html_()
    assert html.count("<table>") >= 5 and "Largest files" in html and "<script" not in html
    text = report.to_text()
    assert f"{report.totals.files:,}" in text and "Extensions" in text
    assert "DirectoryReport" in repr(report)


def test_html_escapes_names(tmp_path):
    (tmp_path / "<b>bold").mkdir()
    (tmp_path / "<b>bold" / "x.txt").write_text("x" * 10)
    html = vegafs.analyze(tmp_path)._repr_html_()
    assert "<b>bold" not in html and "&lt;b&gt;bold" in html


def test_to_pandas(generated):
    pd = pytest.importorskip("pandas")
    report = vegafs.analyze(generated, top_n=4)
    frames = report.to_pandas()
    assert set(frames) == set(report.tables())
    assert list(frames["largest"].columns) == ["path", "size", "mtime_ns"]
    assert frames["totals"]["files"][0] == report.totals.files
    assert isinstance(report.to_pandas("extensions"), pd.DataFrame)
    with pytest.raises(KeyError):
        report.to_pandas("nope")


def test_print_report_with_rich(generated):
    rich_console = pytest.importorskip("rich.console")
    console = rich_console.Console(record=True, width=120, file=io.StringIO())
    report = vegafs.analyze(generated)
    report.print_report(console)
    out = console.export_text()
    assert "Directory summary" in out and "Largest files" in out and f"{report.totals.files:,}" in out


def test_progress_callback_and_auto_progress(generated, capsys):
    seen = []
    vegafs.analyze(generated, progress=seen.append)
    assert seen and seen[-1].directories > 0 and seen[-1].entries > 0
    vegafs.analyze(generated)  # progress=None: stderr is not a terminal here, so nothing is drawn
    assert capsys.readouterr().err == ""


def test_ctrl_c_cancels_analysis(tmp_path):
    make_tree(tmp_path / "t", dirs=3000, files_per_dir=20)
    line, latency = interrupt_loop(tmp_path, f"vegafs.analyze({str(tmp_path / 't')!r}, progress=False)",
                                   settle=0.1)
    assert line == ["interrupted", "0"]
    assert latency < 1.5


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "vegafs", *args], capture_output=True, text=True, timeout=120, **kwargs)


def test_cli_summarize_json_is_the_full_report(generated):
    result = run_cli("summarize", str(generated), "--json", "--top", "3")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    report = vegafs.analyze(generated, top_n=3)
    assert data["summary"] == report.to_dict()["summary"]
    assert data["largest_files"] == report.to_dict()["largest_files"]


def test_cli_summarize_text(generated):
    result = run_cli("summarize", str(generated), "--max-depth", "2", "--top", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Directory summary: {generated}")
    for section in ("Extensions", "Largest files", "Largest folders", "Depth"):
        assert section in result.stdout
    assert "caf\\xe9-dir" in result.stdout  # undecodable bytes shown as escapes, never as broken text
    assert result.stderr == ""


def test_cli_summarize_errors(tmp_path):
    missing = run_cli("summarize", str(tmp_path / "missing"))
    assert missing.returncode == 2 and "No such file or directory" in missing.stderr
    (tmp_path / "up").symlink_to(tmp_path)
    loop = run_cli("summarize", str(tmp_path), "-L", "--json")
    assert loop.returncode == 1
    assert json.loads(loop.stdout)["errors"][0]["errno"] == errno.ELOOP
