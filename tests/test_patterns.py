"""PatternMatcher: semantics, a differential test against an independent re translation, and bad input."""
from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vegafs
from globref import reference_match, reference_regex
from vegafs import PatternMatcher


CASES = [
    ("*.py", "a.py", True), ("*.py", "src/deep/a.py", True), ("*.py", "a.pyc", False),
    ("src/*.py", "src/a.py", True), ("src/*.py", "src/x/a.py", False), ("src/*.py", "lib/src/a.py", False),
    ("**/src/*.py", "lib/src/a.py", True), ("**/src/*.py", "src/a.py", True),
    ("a/**/b", "a/b", True), ("a/**/b", "a/x/y/b", True), ("a/**", "a/x/y", True), ("a/**", "a", False),
    ("**", "x/y", True), ("a**b", "axxb", True), ("a**b", "ax/b", False),
    ("?.c", "x.c", True), ("?.c", "xy.c", False), ("?.c", "é.c", True), ("?.c", "😀.c", True),
    ("[abc].txt", "b.txt", True), ("[!abc].txt", "a.txt", False), ("[^abc].txt", "d.txt", True),
    ("[a-c]x", "bx", True), ("[]a]", "]", True), ("[a-]", "-", True), ("x[/]y", "x/y", False),
    ("[[:upper:]]*", "Readme", True), ("[[:upper:]]*", "readme", False),
    ("*.{c,h}", "main.h", True), ("*.{c,h}", "main.o", False), ("{src/**/*.rs,*.{py,pyi}}", "src/a/b.rs", True),
    ("{a,}b", "b", True), ("x{a,{b,c}}", "xc", True),
    ("\\*.py", "*.py", True), ("\\*.py", "a.py", False), ("a\\[b", "a[b", True),
    ("build/", "x/build/", True), ("build/", "x/build", False),
    ("/abs/*.log", "/abs/x.log", True), ("*_test.go", "pkg/a_test.go", True), ("*.tar.gz", "x.tar.gz", True),
]


@pytest.mark.parametrize("glob,path,expected", CASES)
def test_each_syntax_element(glob, path, expected):
    assert PatternMatcher(glob).matches(path) is expected
    if "[:" not in glob:  # the reference has no POSIX classes
        assert reference_match(glob, path) is expected  # it agrees with the documented table


def test_which_lists_every_matching_glob():
    m = PatternMatcher(["*.py", "src/**", "*.{py,txt}", "*.rs", "**/a.py"])
    assert m.which("src/a.py") == [0, 1, 2, 4]
    assert m.which("b.c") == []
    assert m.patterns == ("*.py", "src/**", "*.{py,txt}", "*.rs", "**/a.py")
    assert len(m) == 5 and "PatternMatcher" in repr(m)


def test_filter_keeps_order_and_the_objects_given():
    m = PatternMatcher(["*.py"])
    paths = ["b.py", "a.txt", "c/d.py", "e.pyc"]
    assert m.filter(paths) == ["b.py", "c/d.py"]
    assert m.filter([p.encode() for p in paths]) == [b"b.py", b"c/d.py"]
    pure = [PurePosixPath(p) for p in paths]
    out = m.filter(pure)
    assert out == [PurePosixPath("b.py"), PurePosixPath("c/d.py")] and out[0] is pure[0]
    mixed = ["x.py", b"y.py", Path("z.py"), "w.c"]
    assert m.filter(mixed) == ["x.py", b"y.py", Path("z.py")]
    assert m.filter(iter(["q.py"])) == ["q.py"] and m.filter([]) == []


def test_filter_on_a_long_list_equals_fnmatch():
    names = [f"dir{i % 97}/file{i}.{('py', 'txt', 'rs', 'pyc')[i % 4]}" for i in range(200_000)]
    m = PatternMatcher("*.py")
    assert m.filter(names) == [n for n in names if fnmatch.fnmatchcase(n.rsplit("/", 1)[1], "*.py")]


def test_non_utf8_paths_match_as_python_sees_them():
    raw = b"caf\xe9.txt"
    m = PatternMatcher(["caf?.txt"])
    assert m.matches(raw) and m.matches(os.fsdecode(raw)) and m.filter([raw, b"x"]) == [raw]
    assert PatternMatcher([os.fsdecode(b"caf\xe9.*")]).matches(raw)
    assert PatternMatcher([b"caf\xe9.*"]).matches(raw)
    assert not PatternMatcher(["café.*"]).matches(raw)


@pytest.mark.parametrize("path,expected", [("README.MD", True), ("x.Md", True), ("x.\u212a", False), ("STRASSE", False)])
def test_case_insensitive_matching_follows_re_ignorecase(path, expected):
    m = PatternMatcher(["readme.md", "*.md", "straße"], case_sensitive=False)
    assert m.matches(path) is expected
    assert any(re.fullmatch(reference_regex(g), path, re.I) for g in m.patterns) is expected
    assert PatternMatcher("*.k", case_sensitive=False).matches("x.\u212a")  # KELVIN SIGN folds to k, as in re


@pytest.mark.parametrize("glob,problem,position", [
    ("a[bc", "unclosed '\\['", 1), ("x{a,b", "unclosed '{'", 1), ("abc\\", "escapes nothing", 3),
    ("[z-a]", "reversed range", 1), ("é[", "unclosed '\\['", 1), ("[[:nope:]]", "unknown character class", 1),
])
def test_invalid_globs_name_pattern_and_position(glob, problem, position):
    with pytest.raises(ValueError, match=f"{re.escape(glob)}.*{problem}.* at position {position}") as info:
        PatternMatcher(["ok", glob])
    assert isinstance(info.value, vegafs.VegaError)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one glob"):
        PatternMatcher([])
    with pytest.raises(ValueError, match="empty pattern"):
        PatternMatcher([""])
    with pytest.raises(ValueError, match="NUL character at position 1"):
        PatternMatcher(["a\0b"])
    with pytest.raises(TypeError, match="str or bytes"):
        PatternMatcher([3])  # type: ignore[list-item]
    m = PatternMatcher("*")
    with pytest.raises(ValueError, match="null"):
        m.filter(["ok", "bad\0path"])
    with pytest.raises(ValueError, match="null"):
        m.matches("a\0")
    with pytest.raises(TypeError):
        m.filter([1, 2])  # type: ignore[list-item]


# Hypothesis: globs and paths over a small alphabet, so that matches are frequent.
_atoms = st.sampled_from(["a", "b", "ab", ".", "x", "é", "*", "*", "?", "[ab]", "[!a]", "[a-c]", "{a,b}",
                          "{x,*.c}", "\\*", "/", "/", "**/", "/**"])
_path_atoms = st.sampled_from(["a", "b", "ab", ".", "x", "x.c", "é", "c", "/", "/", "*"])


def _glob(atoms: list[str]) -> str:
    return "".join(atoms)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_atoms, min_size=1, max_size=6).map(_glob), min_size=1, max_size=4),
       st.lists(st.lists(_path_atoms, min_size=1, max_size=8).map("".join), min_size=1, max_size=20),
       st.booleans())
def test_differential_against_an_re_translation(globs, paths, ignore_case):
    paths = [p for p in paths if "//" not in p.strip("/") and p.strip("/")]
    try:
        m = PatternMatcher(globs, case_sensitive=not ignore_case)
    except ValueError:
        return
    for path in paths:
        expected = [i for i, g in enumerate(globs) if reference_match(g, path, ignore_case)]
        assert m.which(path) == expected, (globs, path)
    assert m.filter(paths) == [p for p in paths if any(reference_match(g, p, ignore_case) for g in globs)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "*", "?", "[ab]", "[!b]", ".", "c", "[a-c]"]), min_size=1, max_size=6).map("".join),
       st.lists(st.sampled_from(["a", "b", ".", "c", "d", "ab"]), min_size=1, max_size=8).map("".join))
def test_basename_globs_agree_with_fnmatchcase(glob, name):
    assert PatternMatcher(glob).matches("some/dir/" + name) is fnmatch.fnmatchcase(name, glob)
