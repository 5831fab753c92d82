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
