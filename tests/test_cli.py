"""The vegafs command line, run as a user would."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vegafs

VEGAFS = shutil.which("vegafs", path=str(Path(sys.executable).parent)) or "vegafs"


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([VEGAFS, *map(str, args)], capture_output=True, timeout=60, **kwargs)


def test_count_json_matches_api(tree):
    result = cli("count", tree, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == vegafs.count(tree).to_dict()


def test_count_table(tree):
    out = cli("count", tree).stdout.decode()
    assert "files" in out and "apparent size" in out and "disk usage" in out


def test_walk_prints_every_path(tree):
    result = cli("walk", tree)
    assert result.returncode == 0
    assert sorted(result.stdout.decode().splitlines()) == sorted(vegafs.scan_tree(tree).paths)


def test_walk_null_separated_keeps_raw_bytes(tmp_path):
    raw = os.fsencode(tmp_path) + b"/x\xffy"
    open(raw, "wb").close()
    result = cli("walk", "-0", tmp_path)
    assert result.stdout == raw + b"\0"


def test_walk_json_lines_with_stat(tree):
    rows = [json.loads(line) for line in cli("walk", "--json", "--stat", tree).stdout.splitlines()]
    by_path = {row["path"]: row for row in rows}
    assert by_path[str(tree / "top.md")]["size"] == 3
    assert by_path[str(tree / "a")]["kind"] == "dir"


def test_walk_max_depth(tree):
    lines = cli("walk", "-d", 1, tree).stdout.decode().splitlines()
    assert sorted(lines) == sorted(str(tree / n) for n in os.listdir(tree))


def test_missing_path_is_exit_2_with_message(tmp_path):
    result = cli("count", tmp_path / "missing")
    assert result.returncode == 2
    assert b"No such file or directory" in result.stderr and b"Traceback" not in result.stderr


def test_python_dash_m(tree):
    result = subprocess.run([sys.executable, "-m", "vegafs", "count", "--json", str(tree)], capture_output=True)
    assert json.loads(result.stdout)["files"] == vegafs.count(tree).files


def test_closed_pipe_is_quiet(tmp_path):
    from conftest import make_tree
    make_tree(tmp_path, dirs=200, files_per_dir=20)
    shell = subprocess.run(f"'{VEGAFS}' walk '{tmp_path}' | head -1", shell=True, capture_output=True, timeout=60)
    assert shell.stdout.count(b"\n") == 1
    assert b"Traceback" not in shell.stderr and b"Broken pipe" not in shell.stderr


def test_glob_prints_sorted_matches(tree):
    result = cli("glob", tree, "*.py", "*.csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == sorted(vegafs.glob(str(tree), ["*.py", "*.csv"]))
    as_json = json.loads(cli("glob", tree, "*", "-e", "a", "--files", "--json").stdout)
    assert as_json == sorted(vegafs.glob(str(tree), "*", exclude=["a"], files_only=True))
    bad = cli("glob", tree, "[x")
    assert bad.returncode == 2 and b"unclosed '['" in bad.stderr


def test_scan_and_shuffle_commands(tmp_path):
    from test_structure import EXPERIMENT, make_experiments
    root = make_experiments(tmp_path / "src", count=4)
    pattern = tmp_path / "pattern.json"
    pattern.write_text(EXPERIMENT.to_json())
    scanned = cli("scan", "-p", pattern, root)
    assert scanned.returncode == 0, scanned.stderr
    assert scanned.stdout.decode().splitlines() == sorted(str(m.source) for m in vegafs.scan(str(root), [EXPERIMENT]))
    plan = json.loads(cli("shuffle", "-p", pattern, root, tmp_path / "dst", "--dry-run", "--json").stdout)
    assert plan["dryrun"] and plan["counts"]["planned"] > 0 and not (tmp_path / "dst").exists()
    done = cli("shuffle", "-p", pattern, root, tmp_path / "dst")
    assert done.returncode == 0 and b"copied" in done.stdout
    assert sum(1 for p in (tmp_path / "dst").rglob("*") if p.is_file()) == plan["counts"]["planned"]


def test_bad_pattern_files_are_clear_errors(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"files": [7]}')
    result = cli("scan", "-p", broken, tmp_path)
    assert result.returncode == 2 and b"pattern.files[0]: expected a glob string" in result.stderr
    broken.write_text("{not json")
    assert b"malformed" in cli("scan", "-p", broken, tmp_path).stderr
