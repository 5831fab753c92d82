"""gitignore=True against git itself (git ls-files --others --exclude-standard) and pathspec."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vegafs
from conftest import deep_chain_cost_ratio

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is installed by ./scripts/test")


def git_env(home: Path) -> dict[str, str]:
    # No user or system configuration: no global excludes file, which vegafs does not read.
    return {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "XDG_CONFIG_HOME": str(home)}


def git_files(root: Path, home: Path) -> set[str]:
    """Untracked, not ignored files below root, relative to it (a repository with no commits)."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "--others", "--exclude-standard", "-z"],
                         capture_output=True, check=True, env=git_env(home)).stdout
    return {os.fsdecode(p) for p in out.split(b"\0") if p}


def vegafs_files(root: Path) -> set[str]:
    result = vegafs.scan_tree(root, gitignore=True)
    return {os.path.relpath(p, root) for p, kind in zip(result.paths, result.kinds) if kind != vegafs.Kind.DIRECTORY}


def init_repo(root: Path, home: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=git_env(home))


def make_repo(root: Path, home: Path, files: list[str], **rule_files: str) -> Path:
    """A repository with the given files and rule files (keyword: file name with '_' for '.', '/')."""
    init_repo(root, home)
    for name, rules in rule_files.items():
        write(root, name.replace("__", "/").replace("_", "."), rules)
    for f in files:
        write(root, f)
    return root


def write(root: Path, relative: str, text: str = "x") -> None:
    """Writes a file; in the random trees a name already taken by the other kind is skipped."""
    path = root / relative
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except (IsADirectoryError, NotADirectoryError, FileExistsError):
        pass


def test_the_rules_git_documents(tmp_path):
    repo = tmp_path / "repo"
    init_repo(repo, tmp_path)
    write(repo, ".gitignore", "\n".join([
        "# a comment", "*.log", "!keep.log", "/build", "docs/*.tmp", "out/", "**/cache/**", "\\#literal",
        "trailing\\ ", "spaces   ", "node_modules", "a/**/z", "[Tt]emp*", "", "\\!bang",
    ]) + "\n")
    write(repo, "sub/.gitignore", "*.txt\n!important.txt\n/local\n")
    write(repo, ".git/info/exclude", "secret*\n")
    for f in ["a.log", "keep.log", "x/keep.log", "build/x", "src/build/y", "docs/a.tmp", "docs/deep/b.tmp", "out",
              "x/out/f", "cache/c", "a/cache/b/c", "#literal", "trailing ", "spaces", "node_modules/m/i.js",
              "deep/node_modules", "a/z", "a/b/c/z", "a/zz", "Temp1", "temp2", "attempt", "!bang", "bang",
              "sub/a.txt", "sub/important.txt", "sub/local/z", "sub/x/local/z", "sub/d/e.txt", "secret1",
              "sub/secret2", "plain.c", "sub/plain.c"]:
        write(repo, f)
    expected = git_files(repo, tmp_path)
    assert {"keep.log", "src/build/y", "out", "sub/important.txt", "sub/x/local/z", "plain.c"} <= expected
    assert vegafs_files(repo) == expected
    # A subdirectory walked on its own still obeys the .gitignore files above it, as git does.
    sub = subprocess.run(["git", "-C", str(repo / "sub"), "ls-files", "--others", "--exclude-standard", "-z"],
                         capture_output=True, check=True, env=git_env(tmp_path)).stdout
    assert vegafs_files(repo / "sub") == {os.fsdecode(p) for p in sub.split(b"\0") if p}


RULE_PARTS = ["*.a", "*.b", "d1", "d2/", "/d3", "d1/*.a", "**/d2/x*", "!*.b", "!d1", "x?", "[xy]1", "d*/",
              "!x1", "/*.c", "d3/**", "!**/keep*", "y*", "**/e"]
TREE_PARTS = ["d1", "d2", "d3", "e", "sub"]
FILE_PARTS = ["f.a", "g.b", "x1", "y1", "keep.a", "h.c", "e", "z"]


@pytest.mark.parametrize("seed", range(int(os.environ.get("VEGAFS_GIT_SEEDS", "25"))))
def test_random_repositories_agree_with_git(tmp_path, seed):
    rng = random.Random(seed)
    repo = tmp_path / "repo"
    init_repo(repo, tmp_path)
    for _ in range(30):
        depth = rng.randint(0, 3)
        directory = "/".join(rng.choice(TREE_PARTS) for _ in range(depth))
        write(repo, (directory + "/" if directory else "") + rng.choice(FILE_PARTS))
    for directory in ["", "d1/", "sub/", "d2/d1/"]:
        if rng.random() < 0.6 and (directory == "" or (repo / directory).is_dir()):
            rules = rng.sample(RULE_PARTS, rng.randint(1, 6))
            write(repo, directory + ".gitignore", "\n".join(rules) + "\n")
    assert vegafs_files(repo) == git_files(repo, tmp_path)


@pytest.mark.parametrize("seed", range(int(os.environ.get("VEGAFS_GIT_SEEDS", "25"))))
def test_nested_ignore_files_agree_with_git(tmp_path, seed):
    # Ignore files in many directories of a deeper tree, often with the same rules: the walk leaves out
    # of a directory's chain the files that can no longer decide anything there, which must not change a verdict.
    rng = random.Random(1000 + seed)
    repo = tmp_path / "repo"
    init_repo(repo, tmp_path)
    contents = ["\n".join(rng.sample(RULE_PARTS, rng.randint(1, 4))) + "\n" for _ in range(3)]
    for _ in range(40):
        directory = "/".join(rng.choice(TREE_PARTS) for _ in range(rng.randint(0, 6)))
        write(repo, (directory + "/" if directory else "") + rng.choice(FILE_PARTS))
    directories = sorted({str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_dir() and ".git" not in p.parts})
    for directory in [".", *directories]:
        if rng.random() < 0.5:
            write(repo, directory + "/.gitignore", rng.choice(contents))
    assert vegafs_files(repo) == git_files(repo, tmp_path)


def test_ignore_files_on_a_deep_chain_take_linear_time(deep_tmp):
    # An ignore file at every level: each entry used to be matched against all the files above it, each by
    # its whole path (cubic: ratio 7 here). Now a file whose rules cannot decide anything below a deeper
    # one with the same name rules leaves the chain, and path rules are tried only at the depths they match.
    init_repo(deep_tmp, deep_tmp)
    rules = {".gitignore": b"*.log\n/build\n", "f": b"x"}
    assert deep_chain_cost_ratio(deep_tmp, 1000, lambda top: vegafs.count(top, gitignore=True), level_files=rules) < 3


def test_single_gitignore_agrees_with_pathspec(tmp_path):
    pathspec = pytest.importorskip("pathspec", reason="Debian python3-pathspec is installed by ./scripts/test")
    rng = random.Random(5)
    for round_ in range(10):
        repo = tmp_path / f"r{round_}"
        init_repo(repo, tmp_path)
        for _ in range(30):
            directory = "/".join(rng.choice(TREE_PARTS) for _ in range(rng.randint(0, 3)))
            write(repo, (directory + "/" if directory else "") + rng.choice(FILE_PARTS))
        rules = [r for r in rng.sample(RULE_PARTS, 5) if not r.startswith("!")]
        write(repo, ".gitignore", "\n".join(rules) + "\n")
        spec = pathspec.GitIgnoreSpec.from_lines(rules)
        everything = {str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
        assert vegafs_files(repo) == {p for p in everything if not spec.match_file(p)}, rules


def test_dot_ignore_applies_outside_repositories_and_overrides_gitignore(tmp_path):
    plain = tmp_path / "plain"
    write(plain, ".ignore", "*.md\n")
    write(plain, ".gitignore", "*.txt\n")  # not a repository: .gitignore does not apply, as in fd and rg
    for f in ["a.md", "b.txt", "c.py"]:
        write(plain, f)
    assert vegafs_files(plain) == {".ignore", ".gitignore", "b.txt", "c.py"}
    repo = make_repo(tmp_path / "repo", tmp_path, ["a.txt", "keep.txt"], _gitignore="*.txt\n", _ignore="!keep.txt\n")
    assert vegafs_files(repo) == {".gitignore", ".ignore", "keep.txt"}


def test_nested_repository_starts_fresh_rules(tmp_path):
    outer = make_repo(tmp_path / "outer", tmp_path, [], _gitignore="*.a\n")
    make_repo(outer / "inner", tmp_path, ["y.a", "z.b"])
    write(outer, "x.a")
    assert vegafs_files(outer) == {".gitignore", "inner/y.a", "inner/z.b"}


def test_gitignore_works_in_walk_count_and_glob(tmp_path):
    repo = make_repo(tmp_path / "repo", tmp_path, ["src/a.c", "src/a.o", "build/out.bin", "README"],
                     _gitignore="build/\n*.o\n")
    walked = {(os.path.relpath(d, repo), tuple(sorted(ds)), tuple(sorted(fs))) for d, ds, fs in vegafs.walk(repo, gitignore=True)}
    assert walked == {(".", ("src",), (".gitignore", "README")), ("src", (), ("a.c",))}
    assert vegafs.count(repo, gitignore=True).files == 3
    assert sorted(os.path.relpath(p, repo) for p in vegafs.glob(str(repo), "*.[co]", gitignore=True)) == ["src/a.c"]
    assert vegafs.count(repo).files > 3 + 3  # without gitignore, .git's files count too


def test_a_fifo_or_a_symlink_named_gitignore_neither_blocks_nor_leads_outside(tmp_path):
    """A walked tree is untrusted: a FIFO named .gitignore blocked the walk forever (opened for reading with
    no writer; git ls-files blocks on it too), and a .gitignore symlink was followed to rules outside the
    tree. git (2.32+) does not follow an in-tree .gitignore symlink, and vegafs agrees with it."""
    home, root = tmp_path / "home", tmp_path / "repo"
    home.mkdir()
    init_repo(root, home)
    (tmp_path / "outside-rules").write_text("*.txt\n")
    for name in ("a.txt", "b.log", "sub/c.txt", "sub/d.log", "fifo/e.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / ".gitignore").write_text("*.log\n")
    (root / "sub" / ".gitignore").symlink_to(tmp_path / "outside-rules")
    expected = git_files(root, home)
    assert {"a.txt", "sub/c.txt", "fifo/e.txt"} <= expected
    assert vegafs_files(root) == expected
    os.mkfifo(root / "fifo" / ".gitignore")
    code = f"import vegafs; r = vegafs.scan_tree({str(root)!r}, gitignore=True); print(sorted(map(str, r.paths)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert vegafs_files(root) == expected | {"fifo/.gitignore"}
