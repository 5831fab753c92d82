"""pathvein parity: FileStructurePattern, scan, assess, explain and shuffle, locally and on memory://."""
from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path

import fsspec
import pytest

import vegafs
from conftest import run_python
from vegafs import FileStructurePattern as P

EXPERIMENT = P(directory_name="exp*", files=["meta.json"], directories=[P(directory_name="raw", files=["*.csv"])],
               optional_files=["*.md"], optional_directories=[P(directory_name="plots", optional_files=["*.png"])])


def make_experiments(root: Path, count: int = 12) -> Path:
    for i in range(count):
        exp = root / "lab" / f"group{i % 3}" / f"exp{i}"
        (exp / "raw").mkdir(parents=True)
        if i % 4 != 1:
            (exp / "meta.json").write_text(json.dumps({"i": i}))
        if i % 5 != 2:
            (exp / "raw" / f"run{i}.csv").write_text("a,b\n" * (i + 1))
        (exp / "raw" / "notes.txt").write_text("n")
        if i % 2 == 0:
            (exp / "README.md").write_text("readme")
            (exp / "plots").mkdir()
            (exp / "plots" / "p.png").write_bytes(b"\x89PNG" * i)
        (exp / "other.bin").write_bytes(b"0" * 10)
    (root / "lab" / "not-an-exp" / "raw").mkdir(parents=True)
    (root / "lab" / "not-an-exp" / "meta.json").write_text("{}")
    return root


def reference_matches(pattern: P, directory: str) -> bool:
    """pathvein's rule, with fnmatch on names (the globs used here have no '/' or braces)."""
    if pattern.directory_name and not fnmatch.fnmatchcase(os.path.basename(directory), pattern.directory_name):
        return False
    entries = list(os.scandir(directory))
    files = [e.name for e in entries if not e.is_dir()]
    dirs = [e.path for e in entries if e.is_dir()]
    return (all(any(fnmatch.fnmatchcase(f, g) for f in files) for g in pattern.files)
            and all(any(reference_matches(sub, d) for d in dirs) for sub in pattern.directories))


def test_builders_and_json_round_trip(tmp_path):
    built = (P().set_directory_name("exp*").add_file("meta.json").add_directory(P(directory_name="raw").add_files(["*.csv"]))
             .add_file("*.md", is_optional=True)
             .add_directory(P().set_directory_name("plots").add_files(["*.png"], is_optional=True), is_optional=True))
    assert built == EXPERIMENT and hash(built) == hash(EXPERIMENT)
    assert P.from_json(EXPERIMENT.to_json(indent=2)) == EXPERIMENT
    path = tmp_path / "p.json"
    path.write_text(EXPERIMENT.to_json())
    assert P.load_json(path) == EXPERIMENT
    assert len({built, EXPERIMENT}) == 1


@pytest.mark.parametrize("text,field", [
    ("{", "malformed"), ("[]", "pattern: expected an object"), ('{"files": "a"}', "pattern.files: expected a list"),
    ('{"files": [1]}', r"pattern.files\[0\]: expected a glob string"),
    ('{"directory_name": 3}', "pattern.directory_name"), ('{"colour": 1}', "unknown field 'colour'"),
    ('{"directories": [{"files": ["a[b"]}]}', r"pattern.directories\[0\].files\[0\]: invalid glob 'a\[b': unclosed '\[' at position 1"),
    ('{"optional_directories": [{"optional_files": [""]}]}', r"optional_directories\[0\].optional_files\[0\]: .*empty pattern"),
])
def test_bad_pattern_json_names_the_field(text, field):
    with pytest.raises(vegafs.PatternError, match=field):
        P.from_json(text)


def test_validate_names_the_field():
    with pytest.raises(ValueError, match=r"pattern.directories\[0\].files\[1\]: invalid glob '\{a'"):
        P(directories=[P(files=["ok", "{a"])]).validate()


def test_scan_equals_the_reference(tmp_path):
    root = make_experiments(tmp_path)
    found = vegafs.scan(str(root), [EXPERIMENT])
    expected = {d for d, _, _ in os.walk(root) if reference_matches(EXPERIMENT, d)}
    assert {m.source for m in found} == expected and len(expected) > 3
    assert all(m.pattern == EXPERIMENT for m in found)
    as_paths = vegafs.scan(root, EXPERIMENT)  # a Path in, Paths out; a single pattern is fine
    assert {m.source for m in as_paths} == {Path(p) for p in expected}


def test_explain_says_what_is_missing(tmp_path):
    root = make_experiments(tmp_path)
    no_meta = root / "lab/group1/exp1"
    no_csv = root / "lab/group2/exp2"
    text = str(EXPERIMENT.explain(no_meta))
    assert "does not match" in text and "files[0]: no file matches 'meta.json'" in text
    reasons = EXPERIMENT.explain(no_csv).reasons
    assert any("directories[0] (raw): no subdirectory matches" in r for r in reasons)
    assert any("raw/" in r and "no file matches '*.csv'" in r for r in reasons)
    assert "directory_name" in str(EXPERIMENT.explain(root / "lab/not-an-exp"))
    good = EXPERIMENT.explain(root / "lab/group0/exp0")
    assert good and good.matched and not good.reasons and EXPERIMENT.matches(root / "lab/group0/exp0")


def test_assess_finds_the_roots_a_file_belongs_to(tmp_path):
    root = make_experiments(tmp_path)
    exp0 = root / "lab/group0/exp0"
    assert [m.source for m in vegafs.assess(exp0 / "raw/run0.csv", [EXPERIMENT])] == [exp0]
    assert [m.source for m in vegafs.assess(str(exp0 / "plots/p.png"), EXPERIMENT)] == [str(exp0)]
    assert list(vegafs.assess(exp0 / "other.bin", [EXPERIMENT])) == []  # not part of the structure
    assert list(vegafs.assess(root / "lab/group1/exp1/raw/run1.csv", [EXPERIMENT])) == []  # exp1 has no meta.json


def test_shuffle_dry_run_then_copy_then_skip_then_overwrite(tmp_path):
    root = make_experiments(tmp_path / "src")
    dest = tmp_path / "dest"
    matches = vegafs.scan(root, [EXPERIMENT])
    plan = vegafs.shuffle(matches, dest, dryrun=True)
    assert not dest.exists() and plan.count("planned") == len(plan.items) > 0
    expected_files = {(Path(i.source), Path(i.destination)) for i in plan.items}
    assert plan.bytes == sum(src.stat().st_size for src, _ in expected_files)
    assert all(dst.parent.parent.name.startswith("exp") or dst.parent.name.startswith("exp") for _, dst in expected_files)
    assert not any(src.name in ("other.bin", "notes.txt") for src, _ in expected_files)
    assert "would copy" in str(plan) and plan.to_dict()["counts"]["planned"] == len(plan.items)

    done = vegafs.shuffle(matches, dest)
    assert done.count("done") == len(plan.items) and not done.failed
    for src, dst in expected_files:
        assert dst.read_bytes() == src.read_bytes()
    assert not [p for p in dest.rglob(".*vegafs-*")]  # no temporary files left

    some = next(iter(expected_files))[1]
    some.write_bytes(b"changed")  # bytes: the file picked may be a binary one (set order varies per run)
    again = vegafs.shuffle(matches, dest)
    assert again.count("skipped") == len(plan.items) and some.read_bytes() == b"changed"
    forced = vegafs.shuffle(matches, dest, overwrite=True)
    assert forced.count("done") == len(plan.items) and some.read_bytes() != b"changed"


def test_shuffle_move_and_destination_function(tmp_path):
    root = make_experiments(tmp_path / "src", count=4)
    matches = vegafs.scan(root, [EXPERIMENT])
    report = vegafs.shuffle_with(matches, lambda m: tmp_path / "by-group" / Path(m.source).parent.name / Path(m.source).name,
                                 move=True)
    assert report.count("done") > 0 and not report.failed
    for item in report.items:
        assert not os.path.exists(item.source) and os.path.exists(item.destination)
        assert "by-group/group" in item.destination


def test_shuffle_refuses_a_destination_inside_the_source(tmp_path):
    root = make_experiments(tmp_path / "src", count=2)
    matches = vegafs.scan(root, [EXPERIMENT])
    with pytest.raises(ValueError, match="inside the source"):
        vegafs.shuffle(matches, lambda m: Path(m.source) / "copy")


def test_a_full_disk_fails_per_item_and_leaves_nothing_half_written(tmp_path):
    big = tmp_path / "src" / "exp1"
    (big / "raw").mkdir(parents=True)
    (big / "meta.json").write_text("{}")
    (big / "raw" / "small.csv").write_text("a")
    (big / "raw" / "big.csv").write_bytes(b"x" * 300_000)
    dest = tmp_path / "dest"
    code = f"""
        import resource, json, vegafs
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # writes past 100 kB fail with EFBIG
        pattern = vegafs.FileStructurePattern.from_json({EXPERIMENT.to_json()!r})
        report = vegafs.shuffle(vegafs.scan({str(tmp_path / 'src')!r}, [pattern]), {str(dest)!r})
        print(json.dumps(report.to_dict()))
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    status = {os.path.basename(i["source"]): i for i in report["items"]}
    assert status["big.csv"]["status"] == "failed" and "File too large" in status["big.csv"]["error"]
    assert status["small.csv"]["status"] == "done" and status["meta.json"]["status"] == "done"
    assert not (dest / "exp1" / "raw" / "big.csv").exists()
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["meta.json", "small.csv"]


def test_memory_urls_scan_and_shuffle_like_local(tmp_path):
    root = make_experiments(tmp_path / "src", count=6)
    fs = fsspec.filesystem("memory")
    base = "/vegafs-structure"
    for path in root.rglob("*"):
        if path.is_file():
            fs.pipe(base + "/" + path.relative_to(root).as_posix(), path.read_bytes())
    url = "memory://" + base
    try:
        local = {os.path.relpath(m.source, root) for m in vegafs.scan(str(root), [EXPERIMENT])}
        remote = {m.source[len(url) + 1:] for m in vegafs.scan(url, [EXPERIMENT])}
        assert remote == local
        exp0 = url + "/lab/group0/exp0"
        assert [m.source for m in vegafs.assess(exp0 + "/raw/run0.csv", [EXPERIMENT])] == [exp0]
        assert "no file matches 'meta.json'" in str(EXPERIMENT.explain(url + "/lab/group1/exp1"))
        report = vegafs.shuffle(vegafs.scan(url, [EXPERIMENT]), "memory:///vegafs-structure-out")
        local_report = vegafs.shuffle(vegafs.scan(str(root), [EXPERIMENT]), tmp_path / "out", dryrun=True)
        assert report.count("done") == local_report.count("planned") and report.bytes == local_report.bytes
        for item in report.items:
            assert fs.cat(item.destination[len("memory://"):]) == fs.cat(item.source[len("memory://"):])
        assert not [p for p in fs.find("/vegafs-structure-out") if "vegafs-" in p.rsplit("/", 1)[-1]]
    finally:
        for prefix in (base, "/vegafs-structure-out"):
            if fs.exists(prefix):
                fs.rm(prefix, recursive=True)


def test_pathvein_names_work_unchanged(tmp_path):
    from vegafs.pathvein import FileStructurePattern, ScanResult, scan, shuffle_to
    root = make_experiments(tmp_path / "src", count=3)
    results = scan(root, [FileStructurePattern.from_json(EXPERIMENT.to_json())])
    assert results and all(isinstance(r, ScanResult) for r in results)
    assert shuffle_to(results, tmp_path / "out", dryrun=True).count("planned") > 0
