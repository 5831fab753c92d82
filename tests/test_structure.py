"""pathvein parity: FileStructurePattern, scan, assess, explain and shuffle, locally and on memory://."""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# Links, overlaps and collisions: shuffle never follows a link while writing, moving or deleting.

def make_experiment(directory: Path, marker: str = "") -> Path:
    """One directory matching EXPERIMENT: meta.json, raw/run.csv and README.md, their bytes tagged by ``marker``."""
    (directory / "raw").mkdir(parents=True)
    (directory / "meta.json").write_text(f'{{"from": "{marker or directory}"}}')
    (directory / "raw" / "run.csv").write_text(f"a,b\n{marker}\n")
    (directory / "README.md").write_text(f"readme {marker}")
    return directory


def contents(root: Path) -> dict[str, bytes]:
    """Every regular file below ``root`` (never through a link): relative path -> bytes."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def test_move_carries_a_symlinked_directory_as_a_link_and_never_deletes_through_it(tmp_path):
    outside = tmp_path / "outside" / "plots"
    outside.mkdir(parents=True)
    (outside / "p.png").write_bytes(b"kept")
    exp = make_experiment(tmp_path / "src" / "exp1")
    (exp / "plots").symlink_to(outside)
    report = vegafs.shuffle(vegafs.scan(tmp_path / "src", [EXPERIMENT]), tmp_path / "dest", move=True)
    assert (outside / "p.png").read_bytes() == b"kept"
    moved = tmp_path / "dest" / "exp1" / "plots"
    assert moved.is_symlink() and os.readlink(moved) == str(outside) and not os.path.lexists(exp / "plots")
    assert not report.failed and report.count("done") == 4


def test_a_destination_directory_linked_back_into_the_source_is_refused(tmp_path):
    exp = make_experiment(tmp_path / "src" / "exp1", "original")
    (tmp_path / "dest" / "exp1").mkdir(parents=True)
    (tmp_path / "dest" / "exp1" / "raw").symlink_to(exp / "raw")
    report = vegafs.shuffle(vegafs.scan(tmp_path / "src", [EXPERIMENT]), tmp_path / "dest", move=True, overwrite=True)
    assert (exp / "raw" / "run.csv").read_text() == "a,b\noriginal\n"
    failed = {Path(item.source).name: item.error for item in report.failed}
    assert list(failed) == ["run.csv"] and "symbolic link" in failed["run.csv"]
    assert report.count("done") == 2 and (tmp_path / "dest/exp1/meta.json").exists()


def test_structures_with_the_same_name_never_overwrite_one_another(tmp_path):
    for group in ("a", "b"):
        make_experiment(tmp_path / "src" / group / "exp1", group)
    (tmp_path / "src" / "a" / "exp1" / "only-in-a.md").write_text("a")
    before = contents(tmp_path / "src")
    report = vegafs.shuffle(vegafs.scan(tmp_path / "src", [EXPERIMENT]), tmp_path / "dest", move=True, overwrite=True)
    assert {Path(i.source).relative_to(tmp_path / "src").as_posix() for i in report.failed} == {
        f"{g}/exp1/{f}" for g in "ab" for f in ("meta.json", "raw/run.csv", "README.md")}
    assert all("collision" in item.error for item in report.failed)
    assert [Path(i.destination).name for i in report.items if i.status == "done"] == ["only-in-a.md"]
    after = {**contents(tmp_path / "src"), **{f"a/exp1/{k}": v for k, v in contents(tmp_path / "dest/exp1").items()}}
    assert after == before  # every file is somewhere, unchanged


@pytest.mark.parametrize("spelled", [str, lambda path: f"file://{path}"], ids=["path", "file-url"])
def test_a_link_planted_in_the_destination_is_not_written_through(tmp_path, spelled):
    make_experiment(tmp_path / "src" / "exp1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "exp1").symlink_to(elsewhere)
    for move in (False, True):
        report = vegafs.shuffle(vegafs.scan(spelled(tmp_path / "src"), [EXPERIMENT]), spelled(tmp_path / "dest"), move=move)
        assert list(elsewhere.iterdir()) == []
        assert report.count("failed") == 3 and all("symbolic link" in i.error for i in report.failed)
    assert len(contents(tmp_path / "src")) == 3


def test_overlapping_sources_and_destinations_are_refused_per_item(tmp_path):
    for name in ("exp1", "exp2", "exp3"):
        make_experiment(tmp_path / "src" / name, name)
    make_experiment(tmp_path / "src" / "holder" / "nested" / "exp6", "exp6")
    targets = {"exp1": lambda m: Path(m.source) / "copy",  # inside its source
               "exp2": lambda m: m.source,  # the source itself
               "exp3": lambda m: tmp_path / "out" / "exp3",  # fine
               "exp6": lambda m: tmp_path / "src" / "holder"}  # its source is inside it
    before = contents(tmp_path / "src")
    report = vegafs.shuffle(vegafs.scan(tmp_path / "src", [EXPERIMENT]), lambda m: targets[m.source.name](m),
                            move=True, overwrite=True)
    refused = {Path(i.source).relative_to(tmp_path / "src").parts[0] for i in report.failed}
    assert refused == {"exp1", "exp2", "holder"} and report.count("failed") == 9, report.failed
    assert all(re.search("inside the source|the source itself|inside the destination", i.error) for i in report.failed)
    assert not (tmp_path / "src" / "exp1" / "copy").exists()
    assert contents(tmp_path / "out" / "exp3") == {k[5:]: v for k, v in before.items() if k.startswith("exp3/")}
    assert {k: v for k, v in contents(tmp_path / "src").items() if not k.startswith("exp3/")} == {
        k: v for k, v in before.items() if not k.startswith("exp3/")}


def test_memory_urls_refuse_a_self_overwrite_spelled_differently(tmp_path):
    fs = fsspec.filesystem("memory")
    for name in ("meta.json", "raw/run.csv"):
        fs.pipe(f"/vegafs-self/exp1/{name}", b"precious")
    try:
        matches = vegafs.scan("memory:///vegafs-self", [EXPERIMENT])
        report = vegafs.shuffle(matches, "memory://vegafs-self", move=True, overwrite=True)  # the same place
        assert report.count("failed") == 2 and all("source itself" in i.error for i in report.failed)
        report = vegafs.shuffle(matches, lambda m: "memory://vegafs-self/exp1/raw", move=True)
        assert report.count("failed") == 2 and all("inside the source" in i.error for i in report.failed)
        assert fs.cat("/vegafs-self/exp1/meta.json") == fs.cat("/vegafs-self/exp1/raw/run.csv") == b"precious"
        assert sorted(fs.find("/vegafs-self")) == ["/vegafs-self/exp1/meta.json", "/vegafs-self/exp1/raw/run.csv"]
    finally:
        fs.rm("/vegafs-self", recursive=True)


@pytest.mark.parametrize("call", [
    lambda root: vegafs.scan(root, "exp*"),
    lambda root: vegafs.scan(root, ["exp*"]),
    lambda root: list(vegafs.assess(root / "exp1" / "meta.json", "exp*")),
    lambda root: vegafs.shuffle(str(root / "exp1"), root / "out"),
    lambda root: vegafs.shuffle([str(root / "exp1")], root / "out"),
    lambda root: vegafs.shuffle(vegafs.scan(root, EXPERIMENT), 3),
    lambda root: vegafs.shuffle(vegafs.scan(root, EXPERIMENT), lambda m: 3),
    lambda root: vegafs.shuffle_to("exp1", root / "out"),
    lambda root: P().add_files("*.csv"),
    lambda root: P().add_directories(EXPERIMENT),
    lambda root: P().add_file(["*.csv"]),
    lambda root: P().add_directory("raw"),
    lambda root: P().set_directory_name(["raw"]),
    lambda root: P(files="*.csv"),
    lambda root: P(directories=[{"directory_name": "raw"}]),
])
def test_a_str_or_wrong_type_where_patterns_or_matches_belong_is_a_type_error(tmp_path, call):
    make_experiment(tmp_path / "exp1")
    with pytest.raises(TypeError, match="FileStructurePattern|StructureMatch|str|glob|destination"):
        call(tmp_path)


# Links planted anywhere, at random: nothing outside the source and destination trees changes, and
# every source entry ends at its destination or stays where it was.

SOURCE_LINKS = ["g0/exp1/plots", "g0/exp1/raw", "g1/exp1/plots", "g1/exp1/meta.json", "g1/exp2/extra.md",
                "g1/exp2/raw/extra.csv", "g1/exp2/raw"]
DESTINATION_LINKS = ["exp1", "exp1/raw", "exp1/meta.json", "exp1/plots", "exp2", "g0-exp1", "g1-exp1/raw",
                     "g1-exp2/raw/run.csv"]
LINK_TARGETS = ["outside/dir", "outside/dir/raw", "outside/dir/plots", "outside/a.txt", "src/g0/exp1/raw", "src/g1/exp1/meta.json",
                "src", "dest", "missing", "itself", ".."]


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything about every entry below ``root`` (links not followed) that a write, a removal, a
    rename, a new hard link or a change of mode or times would change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            data = (os.readlink(path) if stat.S_ISLNK(info.st_mode) else
                    Path(path).read_bytes() if stat.S_ISREG(info.st_mode) else None)
            out[os.path.relpath(path, root)] = (info.st_mode, info.st_ino, info.st_nlink, info.st_size,
                                                 info.st_mtime_ns, info.st_ctime_ns, data)
    return out


def entries(root: Path) -> dict[str, tuple[str, object]]:
    """Files (their bytes) and links (their targets) below ``root``, never through a link."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                out[os.path.relpath(path, root)] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                out[os.path.relpath(path, root)] = ("file", Path(path).read_bytes())
    return out


def entry_at(path: str) -> tuple[str, object] | None:
    if os.path.islink(path):
        return "link", os.readlink(path)
    return ("file", Path(path).read_bytes()) if os.path.isfile(path) else None


def plant(root: Path, where: str, target: str) -> None:
    """A link at root/where (replacing what is there) to one of LINK_TARGETS; never through a link."""
    path = root / where
    if any(p.is_symlink() for p in [*path.parents][: len(Path(where).parts) - 1]):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        for child in sorted(path.rglob("*"), reverse=True):
            child.unlink() if child.is_symlink() or child.is_file() else child.rmdir()
        path.rmdir()
    top = root.parent
    path.symlink_to({"itself": path.name, "..": ".."}.get(target, str(top / target)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source_links=st.lists(st.tuples(st.sampled_from(SOURCE_LINKS), st.sampled_from(LINK_TARGETS)), max_size=4),
       destination_links=st.lists(st.tuples(st.sampled_from(DESTINATION_LINKS), st.sampled_from(LINK_TARGETS)), max_size=4),
       move=st.booleans(), overwrite=st.booleans(), dryrun=st.sampled_from([False, False, True]),
       named_by_function=st.booleans())
def test_planted_links_never_reach_outside_and_never_lose_data(source_links, destination_links, move, overwrite,
                                                                dryrun, named_by_function):
    with tempfile.TemporaryDirectory() as scratch:
        top = Path(scratch)
        outside = top / "outside"
        make_experiment(outside / "dir", "sentinel")
        (outside / "dir" / "plots").mkdir()
        (outside / "dir" / "plots" / "p.png").write_bytes(b"sentinel png")
        (outside / "a.txt").write_text("sentinel")
        src, dest = top / "src", top / "dest"
        make_experiment(src / "g0" / "exp1", "g0")
        (src / "g0" / "exp1" / "plots").mkdir()
        (src / "g0" / "exp1" / "plots" / "p.png").write_bytes(b"png")
        make_experiment(src / "g1" / "exp1", "g1")
        make_experiment(src / "g1" / "exp2", "g1-2")
        (src / "g1" / "exp2" / "notes.txt").write_text("not part of the structure")
        (dest / "exp1").mkdir(parents=True)
        (dest / "exp1" / "meta.json").write_text("older")
        for where, target in source_links:
            plant(src, where, target)
        for where, target in destination_links:
            plant(dest, where, target)
        sentinel, source_before, whole_before = snapshot(outside), entries(src), snapshot(top)

        matches = vegafs.scan(src, [EXPERIMENT])
        where_to = (lambda m: dest / f"{m.source.parent.name}-{m.source.name}") if named_by_function else dest
        report = vegafs.shuffle(matches, where_to, move=move, overwrite=overwrite, dryrun=dryrun)

        assert snapshot(outside) == sentinel
        assert sorted(os.listdir(top)) == ["dest", "outside", "src"]
        if dryrun:
            assert snapshot(top) == whole_before
        done = {item.source: item.destination for item in report.items if item.status == "done"}
        for relative, before in source_before.items():
            path = str(src / relative)
            assert entry_at(path) == before or entry_at(done[path]) == before, (relative, report)
        for item in report.items:
            assert item.status in ("planned", "done", "skipped", "failed") and (item.error is None) == (item.status in ("planned", "done"))
        assert not list(top.rglob(".*vegafs-*"))


def test_links_swapped_in_after_planning_are_refused(tmp_path, monkeypatch):
    """Between planning and writing, a source subdirectory and a destination directory become links:
    the handles opened with O_NOFOLLOW refuse both."""
    exp = make_experiment(tmp_path / "src" / "exp1", "mine")
    make_experiment(tmp_path / "src" / "exp2", "mine too")
    outside = make_experiment(tmp_path / "outside", "theirs")
    sentinel = snapshot(outside)
    from vegafs import _structure

    def swap_then_run(structures, options):
        (exp / "raw").rename(tmp_path / "moved-raw")
        (exp / "raw").symlink_to(outside / "raw")
        (tmp_path / "dest").mkdir()
        (tmp_path / "dest" / "exp2").symlink_to(outside)
        return real_run(structures, options)

    real_run = _structure.run
    monkeypatch.setattr(_structure, "run", swap_then_run)
    report = vegafs.shuffle(vegafs.scan(tmp_path / "src", [EXPERIMENT]), tmp_path / "dest", move=True, overwrite=True)
    assert snapshot(outside) == sentinel
    failed = sorted(os.path.relpath(i.source, tmp_path / "src") for i in report.failed)
    assert failed == ["exp1/raw/run.csv", "exp2/README.md", "exp2/meta.json", "exp2/raw/run.csv"]
    assert all("symbolic link" in i.error for i in report.failed)
    assert (tmp_path / "moved-raw" / "run.csv").read_text() == "a,b\nmine\n"
    assert report.count("done") == 2 and (tmp_path / "dest" / "exp1" / "meta.json").read_text() == '{"from": "mine"}'


@pytest.mark.parametrize("change,field", [
    (lambda p: setattr(p, "files", "*.csv"), r"directories\[0\].files: expected a list, not a single str"),
    (lambda p: setattr(p, "directory_name", 3), r"directories\[0\].directory_name: expected a glob str"),
    (lambda p: p.directories.append("raw"), r"directories\[0\].directories\[0\]: expected a FileStructurePattern"),
    (lambda p: setattr(p, "optional_files", [1]), r"directories\[0\].optional_files\[0\]: a file glob is a str"),
])
def test_fields_assigned_after_construction_are_checked_before_use(tmp_path, change, field):
    pattern = P(directories=[P()])
    change(pattern.directories[0])
    with pytest.raises(vegafs.PatternError, match=r"patterns\[0\]\." + field):
        vegafs.scan(tmp_path, pattern)


@pytest.fixture
def other_filesystem(tmp_path):
    """A directory on another filesystem than tmp_path (tmpfs /dev/shm), or a skip."""
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the temporary directory")
    path = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="vegafs-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_move_across_filesystems_copies_checks_then_removes(tmp_path, other_filesystem):
    exp = make_experiment(tmp_path / "src" / "exp1", "across")
    (exp / "plots").symlink_to("raw")
    before, mtime = entries(tmp_path / "src"), (exp / "meta.json").stat().st_mtime_ns
    report = vegafs.shuffle(vegafs.scan(tmp_path / "src", [EXPERIMENT]), other_filesystem, move=True)
    assert report.count("done") == 4 and not report.failed
    assert entries(other_filesystem) == before and entries(tmp_path / "src") == {}
    assert (other_filesystem / "exp1" / "meta.json").stat().st_mtime_ns == mtime


def test_a_source_that_changes_while_it_is_copied_is_left_in_place(tmp_path, monkeypatch, other_filesystem):
    exp = make_experiment(tmp_path / "src" / "exp1", "growing")
    from vegafs import _transfer
    real_pump = _transfer._pump

    def pump_while_the_source_grows(reader, writer):
        for name in ("meta.json", "README.md", "raw/run.csv"):
            with open(exp / name, "a") as handle:
                handle.write("more")
        return real_pump(reader, writer)

    monkeypatch.setattr(_transfer, "_pump", pump_while_the_source_grows)
    report = vegafs.shuffle(vegafs.scan(tmp_path / "src", [EXPERIMENT]), other_filesystem, move=True)
    assert report.count("failed") == 3 and all("changed while it was copied" in i.error for i in report.failed)
    assert len(contents(tmp_path / "src")) == 3 and contents(other_filesystem) == {}
