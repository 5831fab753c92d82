"""Search through the real library: differential against Python's re on every line, the dialect,
context and limits, bad input (binary, non-UTF-8, long lines, 4 GiB files, permissions, files changing
underneath), fsspec and the CLI."""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import fsspec
import pytest

import vegafs
from conftest import interrupt_loop

WORDS = ["alpha", "beta", "gamma", "foo", "bar", "foobar", "fooXbar", "Delta", "x", "", "  ", "42", "a1b2", "é", "中文"]


def _random_text(rng: random.Random, lines: int) -> bytes:
    out = []
    for _ in range(lines):
        out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 8))))
    text = "\n".join(out)
    if rng.random() < 0.5:
        text += "\n"
    return text.encode()


def _text_tree(root: Path, files: int = 60, seed: int = 1) -> Path:
    rng = random.Random(seed)
    for i in range(files):
        directory = root / f"d{i % 5}" / (f"s{i % 3}" if i % 2 else "")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{i}.txt").write_bytes(_random_text(rng, rng.randint(0, 40)))
    return root


def _byte_spans(regex: re.Pattern[str], line: bytes) -> list[tuple[int, int]]:
    """re's matches in a line decoded as the engine decodes it (UTF-8, other bytes escaped), as byte offsets."""
    text = line.decode("utf-8", "surrogateescape")
    width = lambda i: len(text[:i].encode("utf-8", "surrogateescape"))  # noqa: E731
    return [(width(m.start()), width(m.end())) for m in regex.finditer(text)]


def _reference(root: Path, pattern: str, flags: int = 0) -> dict[tuple[str, int], tuple[int, bytes, list[tuple[int, int]]]]:
    """Every matching line under root: (path, line number) -> (offset, line, spans), by re on each line."""
    regex = re.compile(pattern, flags)
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            data = Path(path).read_bytes()
            if b"\0" in data:
                continue
            offset = 0
            lines = data.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            for number, line in enumerate(lines, 1):
                spans = _byte_spans(regex, line)
                if spans:
                    found[(path, number)] = (offset, line, spans)
                offset += len(line) + 1
    return found


def _records(results) -> dict[tuple[str, int], tuple[int, bytes, list[tuple[int, int]]]]:
    return {(r.path, r.line_number): (r.offset, r.line, list(r.spans)) for r in results}


@pytest.mark.parametrize("pattern", [
    "foo", r"foo\w*bar", "^alpha", "beta$", r"\bfoo\b", "[0-9]+", "a|gamma", r"\s", "[^a]", "x*", "",
    "(?P<word>gam+a)", r"foo.{0,3}bar", "é", "中", r"^$", r"\d\w", "fo{,1}",
])
def test_lines_offsets_and_spans_equal_python_re_per_line(tmp_path, pattern):
    root = _text_tree(tmp_path)
    expected = _reference(root, pattern.replace("{,1}", "{0,1}"))
    got = _records(vegafs.search_files(pattern, str(root)))
    assert got == expected


def test_counts_equal_the_reference_and_leave_out_files_without_matches(tmp_path):
    root = _text_tree(tmp_path, files=80, seed=3)
    expected: dict[str, int] = {}
    for path, _ in _reference(root, "foo|Delta"):
        expected[path] = expected.get(path, 0) + 1
    counts = vegafs.search_counts(["foo", "Delta"], str(root))
    assert dict(counts) == expected
    assert counts.total == sum(expected.values())
    assert counts.summary.files_matched == len(expected)


def test_ignore_case_smart_case_and_fixed_strings(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes(b"Foo.Bar\nfoo.bar\nfooXbar\nFOO\n")
    lines = lambda **kw: [r.line for r in vegafs.search_text(kw.pop("p"), f, **kw)]  # noqa: E731
    assert lines(p="foo.bar") == [b"foo.bar", b"fooXbar"]
    assert lines(p="foo.bar", fixed_strings=True) == [b"foo.bar"]
    assert lines(p="foo.bar", fixed_strings=True, ignore_case=True) == [b"Foo.Bar", b"foo.bar"]
    assert lines(p="foo", smart_case=True) == [b"Foo.Bar", b"foo.bar", b"fooXbar", b"FOO"]
    assert lines(p="Foo", smart_case=True) == [b"Foo.Bar"]
    assert lines(p=r"\Wbar", smart_case=True) == [b"Foo.Bar", b"foo.bar"]  # an escape's letter is not "uppercase"
    assert lines(p=["FOO", "xbar"], smart_case=True) == [b"fooXbar", b"FOO"]  # decided per pattern
    assert lines(p="a\nFOO") == [b"Foo.Bar", b"foo.bar", b"fooXbar", b"FOO"]  # a newline separates patterns


def test_named_groups_in_python_syntax_are_accepted(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes(b"key=value\nnothing\n")
    [match] = vegafs.search_text(r"(?P<key>\w+)=(?P<value>\w+)", f)
    assert match.matches == [b"key=value"]


@pytest.mark.parametrize("pattern, position, words", [
    ("a(b", 3, "parenthes"),
    ("[z-a]", 4, "range"),
    ("x**", 3, "quantifier"),  # positions are where the parser stopped: just after the offending char
    ("*a", 1, "quantifier after nothing"),
    (r"(a)\1", 3, "backreferences"),
    (r"(?P<n>a)(?P=n)", 8, "backreferences"),
    (r"(?<n>a)\k<n>", 7, "backreferences"),
    ("foo(?=bar)", 3, "lookaround"),
    ("(?<!x)y", 0, "lookaround"),
    ("(?>a+)b", 0, "atomic"),
])
def test_a_refused_pattern_raises_regex_error_with_its_position(tmp_path, pattern, position, words):
    (tmp_path / "t.txt").write_text("abc\n")
    with pytest.raises(vegafs.RegexError) as caught:
        vegafs.search_files(pattern, tmp_path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.pattern, error.pos) == (pattern, position)
    assert words in str(error) and f"position {position}" in str(error)


def test_the_position_names_the_right_pattern_of_several(tmp_path):
    with pytest.raises(vegafs.RegexError) as caught:
        vegafs.search_counts(["ok", "also ok", "bad)"], tmp_path)
    assert (caught.value.pattern, caught.value.pos) == ("bad)", 4)


def test_escaped_lookaround_text_is_a_literal(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes(b"a(?=b\n[(?=]\n")
    assert [r.line_number for r in vegafs.search_text(r"\(\?=", f)] == [1, 2]
    assert [r.line_number for r in vegafs.search_text(r"[(?=]\]", f)] == [2]


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)+$", r"(a|a?)+b", r"(.*a){12}x", r"^(\w+\s?)*$"])
def test_catastrophic_patterns_run_in_linear_time(tmp_path, pattern):
    """Classic ReDoS patterns against 2 MB of 'a': a backtracking engine would not finish in years. The
    search runs in a child process under a timeout, so an exponential engine fails instead of hanging."""
    f = tmp_path / "evil.txt"
    benign = [b"aaaa", b"aab", b"aaaaaaaaaaaax", b"word word"]
    f.write_bytes(b"a" * 50_000 + b"!\n" + (b"a" * 1000 + b"!\n") * 2000 + b"\n".join(benign) + b"\n")
    code = f"import vegafs; print(vegafs.search_counts({pattern!r}, {str(f)!r}).total)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # Python's backtracking re is the hostile case itself on the long lines, so it only judges the short
    # ones; no long line (all 'a's then '!') can match any of these patterns.
    expected = sum(1 for line in benign if re.search(pattern.encode(), line))
    assert expected >= 1
    assert int(out.stdout) == expected


def _context_reference(lines: list[bytes], regex: re.Pattern[bytes], before: int, after: int,
                       max_count: int | None = None) -> list[tuple[int, bool]]:
    """grep -B/-A: (line number, is_match) for every line printed, in order, each once."""
    matches = [i for i, line in enumerate(lines) if regex.search(line)]
    if max_count is not None:
        matches = matches[:max_count]
    shown: dict[int, bool] = {}
    for i in matches:
        for k in range(max(0, i - before), min(len(lines), i + after + 1)):
            shown.setdefault(k, False)
        shown[i] = True
    # after max_count, grep shows the last match's after-context but no further matches as matches
    return [(k + 1, shown[k]) for k in sorted(shown)]


@pytest.mark.parametrize("before, after", [(0, 0), (1, 0), (0, 2), (2, 2), (5, 1)])
def test_context_lines_equal_grep_semantics(tmp_path, before, after):
    rng = random.Random(before * 10 + after)
    lines = [rng.choice([b"hit", b"miss", b"other", b""]) + str(i).encode() for i in range(400)]
    f = tmp_path / "c.txt"
    f.write_bytes(b"\n".join(lines) + b"\n")
    got = [(r.line_number, not r.is_context) for r in vegafs.search_text("^hit", f, before=before, after=after)]
    assert got == _context_reference(lines, re.compile(b"^hit"), before, after)
    assert [(r.line_number, not r.is_context) for r in vegafs.search_text("^hit", f, context=2)] == \
        _context_reference(lines, re.compile(b"^hit"), 2, 2)


def test_context_across_chunk_boundaries_in_a_large_file(tmp_path):
    rng = random.Random(5)
    lines = [(b"needle " if rng.random() < 0.01 else b"") + os.urandom(rng.randint(0, 60)).hex().encode() for _ in range(60_000)]
    f = tmp_path / "big.txt"
    f.write_bytes(b"\n".join(lines))
    assert f.stat().st_size > 3 << 20
    records = vegafs.search_text("needle", f, before=2, after=3)
    assert [(r.line_number, not r.is_context) for r in records] == \
        _context_reference(lines, re.compile(b"needle"), 2, 3)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    assert all(r.offset == offsets[r.line_number - 1] and r.line == lines[r.line_number - 1] for r in records)


def test_max_count_stops_each_file_and_keeps_the_last_matchs_after_context(tmp_path):
    f = tmp_path / "m.txt"
    f.write_bytes(b"".join(b"hit %d\nmiss %d\n" % (i, i) for i in range(100)))
    records = vegafs.search_text("hit", f, max_count=3, after=1)
    assert [(r.line_number, r.is_context) for r in records] == [(1, False), (2, True), (3, False), (4, True), (5, False), (6, True)]
    (tmp_path / "n.txt").write_bytes(b"hit\n" * 10)
    counts = vegafs.search_counts("hit", tmp_path, max_count=4)
    assert dict(counts) == {str(f): 4, str(tmp_path / "n.txt"): 4}


def test_max_filesize_skips_larger_files(tmp_path):
    (tmp_path / "small.txt").write_bytes(b"hit\n")
    (tmp_path / "large.txt").write_bytes(b"hit\n" * 100)
    counts = vegafs.search_counts("hit", tmp_path, max_filesize=100)
    assert dict(counts) == {str(tmp_path / "small.txt"): 1}
    assert counts.summary.too_large == [str(tmp_path / "large.txt")]


def test_binary_files_are_skipped_unless_asked(tmp_path):
    (tmp_path / "text.txt").write_bytes(b"hit\n")
    (tmp_path / "data.bin").write_bytes(b"hit\n\0\x01\x02hit\n")
    results = vegafs.search_files("hit", tmp_path)
    assert [r.path for r in results] == [str(tmp_path / "text.txt")]
    assert results.summary.binary_files == [str(tmp_path / "data.bin")]
    found = sorted((r.path, r.line_number, r.line) for r in vegafs.search_files("hit", tmp_path, binary=True))
    assert found == [(str(tmp_path / "data.bin"), 1, b"hit"), (str(tmp_path / "data.bin"), 2, b"\0\x01\x02hit"),
                     (str(tmp_path / "text.txt"), 1, b"hit")]


def test_text_that_is_not_utf8_is_searched_as_bytes(tmp_path):
    f = tmp_path / "latin1.txt"
    raw = "café naïve\n".encode("latin-1") + b"\xff\xfe broken \xc3 utf8 \xe2\x82 end\nvalid caf\xc3\xa9 \xf0\x9f\x98\x80 x\n"
    f.write_bytes(raw)
    [broken] = vegafs.search_text("broken.*end", f)
    assert broken.line_number == 2 and broken.spans == ((3, 23),) and broken.line[3:23] == b"broken \xc3 utf8 \xe2\x82 end"
    [emoji] = vegafs.search_text(" x", f)
    assert emoji.spans == ((16, 18),)  # byte offsets after the 2-byte é and the 4-byte emoji
    # A byte that is not UTF-8 is matched by the surrogate escape of a str pattern, or by a bytes pattern.
    assert [r.line_number for r in vegafs.search_text("caf\udce9", f)] == [1]
    assert [r.line_number for r in vegafs.search_text(b"caf\xe9", f)] == [1]
    assert [r.line_number for r in vegafs.search_text("café", f)] == [3]
    assert vegafs.search_text("\udcff\udcfe", f)[0].spans == ((0, 2),)


def test_non_utf8_file_names_keep_their_bytes(tmp_path):
    name = b"caf\xe9.txt"
    with open(os.fsencode(tmp_path) + b"/" + name, "wb") as handle:
        handle.write(b"hit\n")
    [record] = vegafs.search_files("hit", os.fsencode(tmp_path))
    assert record.path == os.fsencode(tmp_path) + b"/" + name
    [record] = vegafs.search_files("hit", str(tmp_path))
    assert os.fsencode(record.path) == os.fsencode(tmp_path) + b"/" + name


def test_empty_files_empty_patterns_and_missing_final_newline(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "nl.txt").write_bytes(b"\n\n")
    (tmp_path / "last.txt").write_bytes(b"one\ntwo")
    counts = vegafs.search_counts("", tmp_path)
    assert dict(counts) == {str(tmp_path / "nl.txt"): 2, str(tmp_path / "last.txt"): 2}
    assert [r.line for r in vegafs.search_text("two$", tmp_path / "last.txt")] == [b"two"]
    assert vegafs.search_text("x", tmp_path / "empty.txt") == []
    with pytest.raises(ValueError, match="no patterns"):
        vegafs.search_counts([], tmp_path)


def test_a_line_longer_than_the_buffer(tmp_path):
    f = tmp_path / "long.txt"
    line = b"x" * (3 << 20) + b" needle " + b"y" * 1000
    f.write_bytes(b"first\n" + line + b"\nlast needle\n")
    records = vegafs.search_text("needle", f)
    assert [(r.line_number, r.offset, r.spans) for r in records] == [(2, 6, (((3 << 20) + 1, (3 << 20) + 7),)), (3, 6 + len(line) + 1, ((5, 11),))]
    assert records[0].line == line


def test_a_line_over_the_limit_is_a_reported_error_not_a_crash(tmp_path):
    f = tmp_path / "huge-line.txt"
    with open(f, "wb") as handle:
        handle.write(b"needle\n")
        handle.truncate(200 << 20)  # sparse: one 200 MiB line of NUL bytes, searched with binary=True
    results = vegafs.search_files("needle", tmp_path, binary=True)
    assert [r.line_number for r in results] == [1]
    [error] = results.errors
    assert error.filename == str(f) and "128 MiB" in error.strerror


def test_a_file_over_4_gib_has_64_bit_offsets(tmp_path):
    """4 GiB + of real text lines (written in tmpfs when it has room), a match past the 4 GiB mark."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.statvfs(shm).f_bavail * os.statvfs(shm).f_frsize > (6 << 30) else tmp_path
    f = base / f"vegafs-4g-{os.getpid()}.txt"
    block = (b"a" * 1023 + b"\n") * 1024  # 1 MiB of lines
    try:
        with open(f, "wb") as handle:
            handle.write(b"needle at start\n")
            for _ in range(4096):
                handle.write(block)
            handle.write(b"the needle past 4 GiB\n")
        size = f.stat().st_size
        assert size > 1 << 32
        records = vegafs.search_text("needle", f)
        assert [(r.line_number, r.offset, r.spans) for r in records] == [
            (1, 0, ((0, 6),)), (1 + 4096 * 1024 + 1, size - 22, ((4, 10),))]
        # The same file with a NUL byte is binary: skipped after the first chunk, not read to the end.
        with open(f, "r+b") as handle:
            handle.seek(100)
            handle.write(b"\0")
        started = time.monotonic()
        results = vegafs.search_files("needle", [f])
        assert list(results) == [] and results.summary.binary_files == [str(f)]
        assert time.monotonic() - started < 30  # generous: reading 4 GiB would be the failure
    finally:
        f.unlink(missing_ok=True)


def test_missing_files_directories_and_bad_roots(tmp_path):
    (tmp_path / "ok.txt").write_bytes(b"hit\n")
    (tmp_path / "dir").mkdir()
    results = vegafs.search_files("hit", [tmp_path / "ok.txt", tmp_path / "missing", tmp_path / "dir"])
    assert [r.path for r in results] == [str(tmp_path / "ok.txt")]
    assert sorted((type(e).__name__, e.filename) for e in results.errors) == [
        ("VegaFileNotFoundError", str(tmp_path / "missing")), ("VegaIsADirectoryError", str(tmp_path / "dir"))]
    with pytest.raises(FileNotFoundError):
        vegafs.search_files("hit", tmp_path / "nope")  # raised by the call, not on iteration
    with pytest.raises(FileNotFoundError):
        vegafs.search_text("hit", tmp_path / "nope")
    with pytest.raises(IsADirectoryError):
        vegafs.search_text("hit", tmp_path / "dir")
    with pytest.raises(ValueError):
        vegafs.search_files("hit", tmp_path, context=-1)
    with pytest.raises(ValueError):
        vegafs.search_files("hit", tmp_path, max_count=0)
    with pytest.raises(TypeError):
        vegafs.search_files(3, tmp_path)  # type: ignore[arg-type]


def test_permission_denied_as_unprivileged_user(world_tmp, unprivileged_python):
    secret = world_tmp / "secret.txt"
    secret.write_bytes(b"hit\n")
    os.chmod(secret, 0o600)
    (world_tmp / "open.txt").write_bytes(b"hit\n")
    os.chmod(world_tmp / "open.txt", 0o644)
    code = f"""
import vegafs
r = vegafs.search_counts("hit", {str(world_tmp)!r})
print(sorted(r), [(e.filename, isinstance(e, PermissionError)) for e in r.errors])
try:
    vegafs.search_text("hit", {str(secret)!r})
except PermissionError as e:
    print("raised", e.errno)
"""
    out = subprocess.run([*unprivileged_python, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"[{str(world_tmp / 'open.txt')!r}] [({str(secret)!r}, True)]"
    assert lines[1] == "raised 13"


def test_files_rewritten_while_searched_give_whole_lines_of_some_version(tmp_path):
    files = [tmp_path / f"f{i}.txt" for i in range(20)]
    for f in files:
        f.write_bytes(b"hit old\n" * 1000)
    stop = threading.Event()

    def churn() -> None:
        rng = random.Random(0)
        for _ in range(3000):  # bounded: small files, rewritten or truncated in place
            if stop.is_set():
                break
            f = rng.choice(files)
            with open(f, "r+b") as handle:
                handle.truncate(rng.randint(0, 8000))
                handle.seek(0)
                handle.write(b"hit new\n" * rng.randint(0, 1000))

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        for _ in range(20):
            for record in vegafs.search_files("hit", tmp_path):
                assert record.line in (b"hit old", b"hit new", b"hit", b"hi", b"h") or record.line.startswith(b"hit")
    finally:
        stop.set()
        writer.join()


def test_a_file_with_many_matches_streams_in_order(tmp_path):
    f = tmp_path / "many.txt"
    f.write_bytes(b"".join(b"hit %d\n" % i for i in range(50_000)))
    (tmp_path / "other.txt").write_bytes(b"hit\n")
    results = vegafs.search_files("hit", tmp_path, threads=2)
    numbers = [r.line_number for r in results if r.path == str(f)]
    assert numbers == list(range(1, 50_001))
    assert results.summary.lines_matched == 50_001 and results.summary.files_matched == 2


def test_closing_results_early_cancels_the_search(tmp_path):
    for i in range(200):
        (tmp_path / f"f{i}.txt").write_bytes(b"hit\n" * 2000)
    results = vegafs.search_files("hit", tmp_path)
    first = next(results)
    assert first.line == b"hit"
    results.close()
    with pytest.raises(StopIteration):
        next(results)


def test_ctrl_c_stops_a_search_promptly(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"some text without the word\n" * 40_000)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([str(big)] * 20000))
    printed, delay = interrupt_loop(tmp_path, f"vegafs.search_counts('nomatch', open({str(listing)!r}).read().split())", settle=1.0)
    assert printed == ["interrupted", "0"]
    assert delay < 1.0


def test_include_exclude_and_gitignore_select_files(tmp_path):
    (tmp_path / "a.py").write_bytes(b"hit\n")
    (tmp_path / "b.txt").write_bytes(b"hit\n")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "c.py").write_bytes(b"hit\n")
    (tmp_path / ".gitignore").write_bytes(b"b.txt\n")
    (tmp_path / ".git").mkdir()  # .gitignore files apply inside a repository (docs/patterns.md)
    paths = lambda **kw: sorted(os.path.relpath(p, tmp_path) for p in vegafs.search_counts("hit", tmp_path, **kw))  # noqa: E731
    assert paths() == ["a.py", "b.txt", "skip/c.py"]
    assert paths(include="*.py") == ["a.py", "skip/c.py"]
    assert paths(include="*.py", exclude="skip") == ["a.py"]
    assert paths(gitignore=True) == ["a.py", "skip/c.py"]


def test_fsspec_urls_give_the_same_results(tmp_path):
    root = _text_tree(tmp_path / "local", files=25, seed=9)
    fs = fsspec.filesystem("memory")
    base = f"memory://vegafs-search-{os.getpid()}"
    try:
        for path in root.rglob("*.txt"):
            fs.pipe(f"{base}/{path.relative_to(root)}", path.read_bytes())
        fs.pipe(f"{base}/binary.bin", b"foo\0")
        local = {(os.path.relpath(r.path, root), r.line_number, r.line, r.spans) for r in vegafs.search_files(r"foo\w*", root)}
        remote_results = vegafs.search_files(r"foo\w*", base)
        # fsspec spells listed URLs memory:///name/...: compare the part below the root.
        below = lambda url: url.split(f"vegafs-search-{os.getpid()}/", 1)[1]  # noqa: E731
        remote = {(below(r.path), r.line_number, r.line, r.spans) for r in remote_results}
        assert remote == local and local
        assert [below(p) for p in remote_results.summary.binary_files] == ["binary.bin"]
        assert len(vegafs.search_counts("foo", base)) == len(vegafs.search_counts("foo", root))
        one = next(iter(root.rglob("*.txt")))
        url = f"{base}/{one.relative_to(root)}"
        assert [(r.line_number, r.spans) for r in vegafs.search_text("a", url, context=1)] == \
            [(r.line_number, r.spans) for r in vegafs.search_text("a", one, context=1)]
        missing = vegafs.search_files("a", [f"{base}/missing.txt"])
        assert list(missing) == [] and [e.filename for e in missing.errors] == [f"{base}/missing.txt"]
    finally:
        fs.rm(base, recursive=True)


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "vegafs", *args], capture_output=True, cwd=cwd, timeout=60)


def test_cli_search_output_context_counts_json_and_exit_status(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one\nfoo two\nthree\nfour\nfive foo\n")
    (tmp_path / "b.md").write_bytes(b"FOO\n")
    out = _cli("search", "foo", str(tmp_path))
    assert out.returncode == 0
    assert sorted(out.stdout.splitlines()) == [f"{tmp_path}/a.txt:2:foo two".encode(), f"{tmp_path}/a.txt:5:five foo".encode()]
    out = _cli("search", "-C", "1", "foo", "a.txt", cwd=tmp_path)
    assert out.stdout == b"1-one\n2:foo two\n3-three\n4-four\n5:five foo\n"
    out = _cli("search", "-A", "1", "foo", "a.txt", cwd=tmp_path)
    assert out.stdout == b"2:foo two\n3-three\n--\n5:five foo\n"
    out = _cli("search", "-i", "--count", "foo", ".", cwd=tmp_path)
    assert out.stdout == b"./a.txt:2\n./b.md:1\n"
    out = _cli("search", "-F", "-i", "-g", "*.md", "--json", "foo", ".", cwd=tmp_path)
    assert [json.loads(line) for line in out.stdout.splitlines()] == [
        {"path": "./b.md", "line_number": 1, "offset": 0, "line": "FOO", "spans": [[0, 3]], "type": "match"}]
    out = _cli("search", "-l", "-g", "!*.md", "-S", "foo", ".", cwd=tmp_path)
    assert out.stdout == b"./a.txt\n"
    assert _cli("search", "absent", ".", cwd=tmp_path).returncode == 1
    bad = _cli("search", "a(b", ".", cwd=tmp_path)
    assert bad.returncode == 2 and b"position 3" in bad.stderr
    missing = _cli("search", "foo", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and b"nope" in missing.stderr


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    """A regex in the syntax Python and .NET read alike: literals, escapes, classes, groups, repeats."""
    def atom() -> str:
        kind = rng.random()
        if kind < 0.45:
            return rng.choice("abc")
        if kind < 0.55:
            return rng.choice([r"\.", ".", r"\d", r"\s", r"\w"])
        if kind < 0.7:
            return rng.choice(["[ab]", "[^c]", "[a-c1]", "[.]"])
        if depth < 2:
            inner = _random_pattern(rng, depth + 1)
            return rng.choice([f"({inner})", f"(?:{inner})", f"(?:{inner}|{_random_pattern(rng, depth + 1)})"])
        return "a"
    parts = []
    for _ in range(rng.randint(1, 5)):
        parts.append(atom() + rng.choice(["", "", "", "?", "*", "+", "{1,2}", "{2}", "+?"]))
    pattern = "".join(parts)
    if depth == 0 and rng.random() < 0.15:
        pattern += "|" + "".join(rng.choice("abc") for _ in range(rng.randint(1, 3)))
    if depth == 0 and rng.random() < 0.1:
        pattern = "^" + pattern
    return pattern


def test_random_patterns_match_the_lines_python_re_matches(tmp_path):
    """Generated patterns (the literal prefilter must never drop a line) against Python's re."""
    rng = random.Random(2024)
    f = tmp_path / "r.txt"
    lines = ["".join(rng.choice("abc.1 é") for _ in range(rng.randint(0, 14))) for _ in range(300)]
    f.write_text("\n".join(lines) + "\n")
    for _ in range(300):
        pattern = _random_pattern(rng)
        regex = re.compile(pattern)
        expected = [(i + 1, _byte_spans(regex, line.encode())) for i, line in enumerate(lines) if regex.search(line)]
        got = [(r.line_number, list(r.spans)) for r in vegafs.search_text(pattern, f)]
        assert [n for n, _ in got] == [n for n, _ in expected], pattern
        # Spans: .NET's linear engine and Python's re may pick different ends for lazy repeats, and
        # continue differently after an empty match (docs/search.md); elsewhere they must agree.
        lazy = re.search(r"[+*?}]\?", pattern.replace("(?", ""))
        if not lazy and not any(a == b for _, spans in expected + got for a, b in spans):
            assert got == expected, pattern
        # The same as one of several patterns (a line matches if any does).
        other = _random_pattern(rng)
        either = re.compile(other)
        expected_lines = [i + 1 for i, line in enumerate(lines) if regex.search(line) or either.search(line)]
        assert [r.line_number for r in vegafs.search_text([pattern, other], f)] == expected_lines, (pattern, other)


def test_progress_reports_files_and_bytes(tmp_path):
    for i in range(50):
        (tmp_path / f"f{i}.txt").write_bytes(b"hit\n" * 100)
    seen: list[vegafs.JobProgress] = []
    counts = vegafs.search_counts("hit", tmp_path, progress=seen.append)
    assert counts.total == 5000
    assert seen and seen[-1].files == 50 and seen[-1].bytes == 50 * 400 and seen[-1].errors == 0


def _literal_lines(literals: list[str], lines: list[bytes], ignore_case: bool = False) -> list[tuple[int, list[tuple[int, int]]]]:
    """re's matching lines and spans for the literals as one alternation (leftmost-first, in list order)."""
    regex = re.compile("|".join(re.escape(literal) for literal in literals), re.IGNORECASE if ignore_case else 0)
    return [(i + 1, spans) for i, line in enumerate(lines) if (spans := _byte_spans(regex, line))]


def test_fixed_strings_and_word_lists_of_any_length_and_number(tmp_path):
    """These raised NativeError (one NonBacktracking regex over its size limit); literals need no regex."""
    rng = random.Random(5)
    word = lambda n: "".join(rng.choice("abcdefghij") for _ in range(n))  # noqa: E731
    long_literal = word(2500)
    words = [word(rng.randint(4, 9)) for _ in range(3000)]
    lines = [f"{word(rng.randint(0, 30))} {rng.choice(words).upper()} {word(5)}".encode() for _ in range(300)]
    lines += [(word(7) + long_literal * (i % 3)).encode() for i in range(9)]
    f = tmp_path / "t.txt"
    f.write_bytes(b"\n".join(lines) + b"\n")
    found = lambda *args, **kw: [(r.line_number, list(r.spans)) for r in vegafs.search_text(*args, f, **kw)]  # noqa: E731
    assert found(long_literal, fixed_strings=True) == _literal_lines([long_literal], lines) != []
    assert found(long_literal) == _literal_lines([long_literal], lines)  # a regex of plain text is a literal
    assert found(words, fixed_strings=True, ignore_case=True) == _literal_lines(words, lines, ignore_case=True)
    assert found(words, smart_case=True) == _literal_lines(words, lines, ignore_case=True)
    assert found(words, fixed_strings=True) == _literal_lines(words, lines)
    many = [f"w{i}x" for i in range(100_000)] + [long_literal]
    assert vegafs.search_counts(many, f, fixed_strings=True).total == 6


def test_literal_lists_match_python_re(tmp_path):
    """Literal lists (overlapping, prefixes of one another, case variants, non-ASCII) against re with
    re.escape alternation: the same lines and the same leftmost-first spans."""
    rng = random.Random(14)
    pieces = ["a", "ab", "abc", "b", "ba", "A", "AB", "k", "K", "\u212a", "é", "É", "ß", "中", "😀", " ", "\udce9"]
    f = tmp_path / "t.txt"
    for _ in range(300):
        literals = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 6))]
        lines = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(1, 10))]
        data = [os.fsencode(line) for line in lines]
        f.write_bytes(b"\n".join(data) + b"\n")
        ignore_case = rng.random() < 0.5
        got = [(r.line_number, list(r.spans)) for r in vegafs.search_text(literals, f, fixed_strings=True, ignore_case=ignore_case)]
        assert got == _literal_lines(literals, data, ignore_case), (literals, lines, ignore_case)


def test_an_oversized_regex_is_a_regex_error(tmp_path):
    (tmp_path / "t.txt").write_text("abc\n")
    with pytest.raises(vegafs.RegexError, match="too large for the linear-time regex engine") as caught:
        vegafs.search_files(["ok", "x{100000}"], tmp_path)
    assert (caught.value.pattern, caught.value.pos) == ("x{100000}", 0)
    with pytest.raises(vegafs.RegexError, match="the 10 patterns together are too large"):
        vegafs.search_counts([f"p{i}x{{2000}}" for i in range(10)], tmp_path)


def test_limits_past_64_bits_and_unencodable_patterns(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes(b"hit\nhit\n")
    assert len(vegafs.search_text("hit", f, max_count=1 << 70)) == 2  # was OverflowError
    assert vegafs.search_counts("hit", tmp_path, max_filesize=1 << 70).total == 2
    with pytest.raises(ValueError, match="lone surrogate"):
        vegafs.search_text("a\ud800", f)
    assert len(vegafs.search_text("", f, fixed_strings=True)) == 2  # an empty literal matches every line


def test_a_glob_too_complex_for_the_regex_engine(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"hit\n")
    with pytest.raises(ValueError, match="too long or complex"):
        vegafs.search_counts("hit", tmp_path, include="*a" * 2000)  # was NativeError
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("*a" * 2000 + "\n*.txt\n")  # the first rule is skipped, as git would
    assert dict(vegafs.search_counts("hit", tmp_path, gitignore=True)) == {}
    assert vegafs.search_counts("hit", tmp_path, include=[f"*{i}*" for i in range(1000)] + ["*.txt"]).total == 1


def test_ctrl_c_stops_a_search_inside_a_huge_line(tmp_path):
    """One 100 MiB line matching everywhere: a cancel used to wait for the whole line (2 s, the join's cap)."""
    big = tmp_path / "line.txt"
    with open(big, "wb") as out:
        for _ in range(100):
            out.write(b"xyzw" * (1 << 18))
        out.write(b"\n")
    printed, delay = interrupt_loop(tmp_path, f"list(vegafs.search_files('x[yz]', [{str(big)!r}]))", settle=0.5)
    assert printed == ["interrupted", "0"]
    assert delay < 1.0


def test_ctrl_c_stops_a_search_of_a_large_fsspec_buffer(tmp_path):
    """fsspec files are searched as one caller buffer (vega_search_buffer): a single native call, which now
    takes a cancel token and runs on a helper thread, so Ctrl-C no longer waits for the whole buffer.
    (Driven through the internal call: fsspec's own memory cat() of 256 MiB is itself uninterruptible.)"""
    setup = ("from vegafs._search import _query; data = (b'xyzw' * 255 + b'\\n') * (1 << 19); "
             "query = _query('x[qz]', False, False, False, False, False, None, None, None, None, None)")
    printed, delay = interrupt_loop(tmp_path, "query.searcher.search_buffer(data, b'big', query.options)",
                                    settle=0.5, setup=setup)
    assert printed[0] == "interrupted"
    assert delay < 1.0  # the whole 512 MiB takes 2-3 s here
