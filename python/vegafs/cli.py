"""The ``vegafs`` command line. Plain argparse, so the CLI needs nothing beyond the package itself."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, BinaryIO, Sequence

from . import __version__, analyze, count, find_duplicates, get_file_info, hash_files, scan_tree, search_counts, search_files
from ._hashing import ALGORITHMS
from ._glob import glob
from ._structure import FileStructurePattern, PatternError, scan, shuffle
from ._progress import human_bytes
from .errors import VegaError

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vegafs", description="Fast operations on large file trees.")
    parser.add_argument("--version", action="version", version=f"vegafs {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("path", help="directory (or fsspec URL such as memory://data)")
        p.add_argument("-j", "--threads", type=int, default=None, help="worker threads (default: one per CPU)")
        p.add_argument("-L", "--follow-links", action="store_true", help="descend into symlinks to directories")
        bar = p.add_mutually_exclusive_group()
        bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                         help="show progress on stderr (default: when stderr is a terminal)")
        bar.add_argument("--no-progress", dest="progress", action="store_false")

    p = commands.add_parser("summarize", aliases=["summarise", "analyze"],
                            help="summarize the tree below PATH: sizes, extensions, largest files and folders, ...",
                            description="One parallel pass over PATH; prints a compact summary, or with --json "
                                        "the full report (every table).")
    common(p)
    p.add_argument("-d", "--max-depth", type=int, default=None, help="deepest entry depth (1: PATH's own entries)")
    p.add_argument("-n", "--top", type=int, default=10, metavar="N", help="rows in each ranked table (default 10)")
    p.add_argument("-i", "--include", action="append", metavar="GLOB", help="only files matching a glob; repeatable")
    p.add_argument("-e", "--exclude", action="append", metavar="GLOB", help="leave out (and do not descend into) matches")
    p.add_argument("--gitignore", action="store_true", help="honour .gitignore, .ignore and .git/info/exclude")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")

    p = commands.add_parser("count", help="count entries and sum sizes below PATH (like du -sb)")
    common(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = commands.add_parser("walk", help="print every path below PATH, one per line")
    common(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON lines: path, kind (and stat fields with --stat)")
    out.add_argument("-0", "--null", action="store_true", help="end each path with NUL instead of newline")
    p.add_argument("--stat", action="store_true", help="with --json: add size, mtime_ns, mode, inode, device, nlink")
    p.add_argument("-d", "--max-depth", type=int, default=None, help="deepest entry depth (1: PATH's own entries)")

    p = commands.add_parser("glob", help="print the paths below ROOT that globs match (one native walk)",
                            description="Globs without '/' match names at any depth, globs with '/' match "
                                        "paths relative to ROOT (see docs/patterns.md).")
    p.add_argument("root", help="directory (or fsspec URL)")
    p.add_argument("patterns", nargs="+", metavar="GLOB", help="glob to include")
    p.add_argument("-e", "--exclude", action="append", metavar="GLOB", help="leave out (and do not descend into) matches")
    p.add_argument("--gitignore", action="store_true", help="honour .gitignore, .ignore and .git/info/exclude")
    p.add_argument("--files", action="store_true", help="only regular files")
    p.add_argument("-j", "--threads", type=int, default=None, help="worker threads (default: one per CPU)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON array of paths")
    out.add_argument("-0", "--null", action="store_true", help="end each path with NUL instead of newline")

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("-i", "--include", action="append", metavar="GLOB", help="only files matching a glob; repeatable")
        p.add_argument("-e", "--exclude", action="append", metavar="GLOB", help="leave out (and do not descend into) matches")
        p.add_argument("--gitignore", action="store_true", help="honour .gitignore, .ignore and .git/info/exclude")
        p.add_argument("-d", "--max-depth", type=int, default=None, help="deepest entry depth (1: PATH's own entries)")

    p = commands.add_parser("hash", help="hash files in parallel (sha256sum-style output)",
                            description="Hashes each FILE, and every regular file below each DIRECTORY. Output "
                                        "is 'DIGEST  PATH' per line, sorted by path, which sha256sum -c reads.")
    common(p)
    p.add_argument("more", nargs="*", metavar="PATH", help="more files or directories")
    p.add_argument("-a", "--algorithm", default="sha256", metavar="NAME", help=f"one of {', '.join(ALGORITHMS)} (default sha256)")
    selection(p)
    p.add_argument("--json", action="store_true", help="one JSON object: algorithm, files, errors")

    p = commands.add_parser("dupes", help="find files with identical content below PATH",
                            description="Groups by size, then a hash of the first 4 KiB, then a hash of whole "
                                        "files. Groups are printed by wasted bytes, largest first.")
    common(p)
    p.add_argument("--min-size", type=int, default=1, metavar="BYTES", help="ignore smaller files (default 1: skip empty files)")
    p.add_argument("-a", "--algorithm", default="xxh3_128", metavar="NAME", help="whole-file hash (default xxh3_128; sha256 for adversarial data)")
    selection(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = commands.add_parser("search", aliases=["grep"], help="print the lines matching a regex in files below PATH",
                            description="Searches every regular file below each PATH (default '.') in parallel, "
                                        "like ripgrep: lines print as PATH:LINE:TEXT (context lines as "
                                        "PATH-LINE-TEXT). Files holding a NUL byte are skipped; hidden files and "
                                        "ignored files are searched unless --gitignore. The regex dialect is in "
                                        "docs/search.md. Exit status: 0 if a line matched, 1 if none, 2 on an error.")
    p.add_argument("pattern", metavar="PATTERN", help="regex (or literal text with -F)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (or fsspec URLs); default '.'")
    p.add_argument("-e", "--regexp", action="append", default=[], metavar="PATTERN", help="another pattern; repeatable")
    p.add_argument("-F", "--fixed-strings", action="store_true", help="patterns are literal text")
    case = p.add_mutually_exclusive_group()
    case.add_argument("-i", "--ignore-case", action="store_true", help="ignore case")
    case.add_argument("-S", "--smart-case", action="store_true", help="ignore case in patterns without uppercase letters")
    p.add_argument("-g", "--glob", action="append", default=[], metavar="GLOB",
                   help="only files matching GLOB; '!GLOB' leaves matches out; repeatable")
    p.add_argument("--gitignore", action="store_true", help="honour .gitignore, .ignore and .git/info/exclude")
    p.add_argument("-d", "--max-depth", type=int, default=None, help="deepest entry depth (1: PATH's own entries)")
    p.add_argument("-L", "--follow-links", action="store_true", help="follow symlinks")
    p.add_argument("-m", "--max-count", type=int, default=None, metavar="N", help="stop a file after N matching lines")
    p.add_argument("-A", "--after-context", type=int, default=None, metavar="N", help="N lines after each match")
    p.add_argument("-B", "--before-context", type=int, default=None, metavar="N", help="N lines before each match")
    p.add_argument("-C", "--context", type=int, default=None, metavar="N", help="N lines before and after each match")
    p.add_argument("--max-filesize", type=_byte_count, default=None, metavar="SIZE",
                   help="skip files larger than SIZE bytes (suffixes K, M, G)")
    p.add_argument("-a", "--binary", "--text", action="store_true", help="search files holding NUL bytes as text")
    p.add_argument("-c", "--count", action="store_true", help="print PATH:COUNT of matching lines per file")
    p.add_argument("-l", "--files-with-matches", action="store_true", help="print only the paths of matching files")
    p.add_argument("-j", "--threads", type=int, default=None, help="worker threads (default: one per CPU)")
    p.add_argument("--json", action="store_true", help="JSON lines: one object per line (or per file with -c/-l)")

    p = commands.add_parser("vectors", help="add to, query, delete from, compact, snapshot or describe a vector store",
                            description="A persistent vector store (docs/vectors.md). Texts are embedded with "
                                        "the built-in hashing embedder.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("info", help="dim, metric and size of STORE")
    a.add_argument("store")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("add", help="add texts (embedded) or vectors from a .npy file")
    a.add_argument("store")
    source = a.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", metavar="TEXT", help="a text to embed and store; repeatable")
    source.add_argument("--npy", metavar="FILE", help="an (n, dim) array saved with numpy.save")
    a.add_argument("--id", action="append", metavar="ID", help="ids, one per row (default: new UUIDs)")
    a.add_argument("--metadata", action="append", metavar="JSON", help="a JSON object per row")
    a.add_argument("--dim", type=int, default=None, help="dim when creating the store (default 384 for texts)")
    a.add_argument("--metric", default="cosine", choices=["cosine", "l2", "ip"], help="metric when creating it")
    a.add_argument("--index", choices=["flat", "hnsw"], default=None,
                   help="index kind (default: the store's own; flat for a new store)")
    a.add_argument("--M", type=int, default=None, dest="m", help="HNSW links per node (default 16)")
    a.add_argument("--ef-construction", type=int, default=None, help="HNSW build beam width (default 200)")
    a.add_argument("--ef", type=int, default=None, help="HNSW default query beam width, saved (default 64)")
    a = actions.add_parser("query", help="the K nearest rows to a text or a vector")
    a.add_argument("store")
    source = a.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", metavar="TEXT")
    source.add_argument("--vector", metavar="V1,V2,...", help="comma-separated numbers")
    a.add_argument("-k", type=int, default=10)
    a.add_argument("--filter", metavar="JSON", help='metadata filter, e.g. \'{"year": {"$gte": 2000}}\'')
    a.add_argument("--ef", type=int, default=None, help="HNSW beam width for this query (default: the saved ef)")
    a.add_argument("--exact", action="store_true", help="compare every row even if the store has an HNSW index")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("compact", help="rewrite live rows into one file, reclaiming deleted rows")
    a.add_argument("store")
    a = actions.add_parser("snapshot", help="record the store's current state under NAME (hard links: cheap)")
    a.add_argument("store")
    a.add_argument("name")
    a = actions.add_parser("restore", help="make the store what snapshot NAME recorded")
    a.add_argument("store")
    a.add_argument("name")
    a = actions.add_parser("snapshots", help="list the store's snapshots, oldest first")
    a.add_argument("store")
    a = actions.add_parser("delete", help="delete rows by id")
    a.add_argument("store")
    a.add_argument("ids", nargs="+", metavar="ID")
    a.add_argument("--missing-ok", action="store_true", help="skip unknown ids instead of failing")

    p = commands.add_parser("info", help="show what the file system knows about each PATH")
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, directory or link (or fsspec URL)")
    p.add_argument("--no-follow", action="store_true", help="describe symlinks themselves, not their targets")
    p.add_argument("--json", action="store_true", help="JSON lines, one object per PATH")

    def structure(p: argparse.ArgumentParser) -> None:
        p.add_argument("-p", "--pattern", action="append", required=True, metavar="JSON",
                       help="pattern file (one pattern object or a list of them); repeatable")
        p.add_argument("--json", action="store_true", help="print JSON")

    p = commands.add_parser("scan", help="find the directories below PATH that match structure patterns")
    structure(p)
    p.add_argument("path", help="directory (or fsspec URL)")

    p = commands.add_parser("shuffle", help="copy (or move) matched structures from SRC to DST")
    structure(p)
    p.add_argument("source", help="directory to scan (or fsspec URL)")
    p.add_argument("destination", help="directory to copy into: DST/<matched directory name>/...")
    p.add_argument("-n", "--dry-run", action="store_true", help="only report what would be copied")
    p.add_argument("--overwrite", action="store_true", help="replace existing destination files")
    p.add_argument("--move", action="store_true", help="remove each source file once copied")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress = sys.stderr.isatty() if getattr(args, "progress", None) is None else args.progress
    try:
        if args.command in ("summarize", "summarise", "analyze"):
            return _summarize(args, progress)
        if args.command == "count":
            return _count(args, progress)
        if args.command == "glob":
            return _glob(args)
        if args.command in ("scan", "shuffle"):
            return _structure(args)
        if args.command == "hash":
            return _hash(args, progress)
        if args.command == "dupes":
            return _dupes(args, progress)
        if args.command == "info":
            return _info(args)
        if args.command in ("search", "grep"):
            return _search(args)
        if args.command == "vectors":
            return _vectors(args)
        return _walk(args, progress)
    except BrokenPipeError:
        # The reader went away (e.g. `vegafs walk . | head`): stop quietly, as find and fd do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except (VegaError, OSError, ValueError) as error:
        print(f"vegafs: {error}", file=sys.stderr)
        return EXIT_FAILED


def _report_errors(errors: list[OSError]) -> int:
    for error in errors:
        print(f"vegafs: {os.fsdecode(error.filename)}: {error.strerror}", file=sys.stderr)
    return EXIT_PARTIAL if errors else EXIT_OK


def _summarize(args: argparse.Namespace, progress: bool) -> int:
    report = analyze(args.path, max_depth=args.max_depth, top_n=args.top, follow_links=args.follow_links,
                     include=args.include, exclude=args.exclude, gitignore=args.gitignore, threads=args.threads,
                     progress=progress)
    if args.json:
        sys.stdout.write(report.to_json() + "\n")
    elif sys.stdout.isatty():
        report.print_report()
    else:
        sys.stdout.write(report.to_text())
    return EXIT_PARTIAL if report.errors else EXIT_OK


def _count(args: argparse.Namespace, progress: bool) -> int:
    result = count(args.path, followlinks=args.follow_links, threads=args.threads, progress=progress)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        rows = [("files", f"{result.files:,}"), ("directories", f"{result.directories:,}"),
                ("symlinks", f"{result.symlinks:,}"), ("others", f"{result.others:,}"),
                ("apparent size", f"{human_bytes(result.apparent_bytes)} ({result.apparent_bytes:,} bytes)")]
        if result.disk_bytes is not None:
            rows.append(("disk usage", f"{human_bytes(result.disk_bytes)} ({result.disk_bytes:,} bytes)"))
        if result.errors:
            rows.append(("errors", f"{len(result.errors):,}"))
        print(os.fsdecode(result.path))
        for name, value in rows:
            print(f"  {name:<14} {value}")
    return _report_errors(result.errors)


def _walk(args: argparse.Namespace, progress: bool) -> int:
    stat = bool(args.stat and args.json)
    listing = scan_tree(args.path, stat=stat, followlinks=args.follow_links, max_depth=args.max_depth,
                        threads=args.threads, progress=progress)
    out = sys.stdout.buffer
    end = b"\0" if args.null else b"\n"
    for batch in listing.iter_batches(65536):
        if args.json:
            lines = []
            for entry in batch:
                row: dict[str, object] = {"path": os.fsdecode(entry.path), "kind": entry.kind.value}
                if stat:
                    row.update(size=entry.size, mtime_ns=entry.mtime_ns, mode=entry.mode, inode=entry.inode,
                               device=entry.device, nlink=entry.nlink)
                lines.append(json.dumps(row))
            out.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        else:
            out.write(end.join(map(os.fsencode, batch.paths)) + end)
    out.flush()
    return _report_errors(listing.errors)


def _glob(args: argparse.Namespace) -> int:
    paths = sorted(glob(args.root, args.patterns, args.exclude, gitignore=args.gitignore, threads=args.threads,
                        files_only=args.files))
    out = sys.stdout.buffer
    if args.json:
        out.write(json.dumps([os.fsdecode(p) for p in paths]).encode("utf-8", "surrogateescape") + b"\n")
    elif paths:
        end = b"\0" if args.null else b"\n"
        out.write(end.join(map(os.fsencode, paths)) + end)
    out.flush()
    return EXIT_OK


def _hash(args: argparse.Namespace, progress: bool) -> int:
    digests: dict[str, str] = {}
    errors: list[OSError] = []
    for path in [args.path, *args.more]:
        try:
            result = hash_files(path, args.algorithm, args.threads, include=args.include, exclude=args.exclude,
                                gitignore=args.gitignore, follow_links=args.follow_links, max_depth=args.max_depth,
                                progress=progress)
        except OSError as error:
            errors.append(error)
            continue
        digests.update(result)
        errors += result.errors
    if args.json:
        print(json.dumps({"algorithm": args.algorithm, "files": dict(sorted(digests.items())),
                          "errors": [{"path": os.fsdecode(e.filename), "errno": e.errno, "message": e.strerror}
                                     for e in errors]}))
    else:
        out = sys.stdout.buffer
        out.write(b"".join(f"{digest}  ".encode() + os.fsencode(path) + b"\n" for path, digest in sorted(digests.items())))
        out.flush()
    return _report_errors(errors)


def _dupes(args: argparse.Namespace, progress: bool) -> int:
    report = find_duplicates(args.path, min_size=args.min_size, algorithm=args.algorithm, include=args.include,
                             exclude=args.exclude, gitignore=args.gitignore, follow_links=args.follow_links,
                             max_depth=args.max_depth, threads=args.threads, progress=progress)
    if args.json:
        print(report.to_json(indent=None))
        return _report_errors(report.errors)
    out = sys.stdout.buffer
    for group in report.groups:
        header = (f"{group.copies} copies of {human_bytes(group.size)} ({group.size:,} bytes), "
                  f"{human_bytes(group.wasted_bytes)} wasted, {report.algorithm} {group.digest}")
        out.write(header.encode() + b"\n" + b"".join(b"  " + os.fsencode(p) + b"\n" for p in group.paths) + b"\n")
    out.write(f"{len(report.groups):,} groups, {report.duplicate_files:,} duplicate files, "
              f"{human_bytes(report.wasted_bytes)} ({report.wasted_bytes:,} bytes) wasted\n".encode())
    out.flush()
    return _report_errors(report.errors)


def _info(args: argparse.Namespace) -> int:
    errors: list[OSError] = []
    for path in args.paths:
        try:
            info = get_file_info(path, follow_symlinks=not args.no_follow)
        except OSError as error:
            errors.append(error)
            continue
        data = info.to_dict()
        if args.json:
            print(json.dumps(data))
            continue
        print(data.pop("path"))
        for key, value in data.items():
            if value is not None:
                print(f"  {key:<15} {value}")
    return _report_errors(errors)


def _byte_count(text: str) -> int:
    """'1000', '10K', '1.5M', '2G' as bytes (powers of 1024), for argparse."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    scale = units.get(text[-1:].upper(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 1000, 10K, 5M, 2G)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a size must be >= 0, not {text!r}")
    return int(value * scale)


def _search(args: argparse.Namespace) -> int:
    patterns = [args.pattern, *args.regexp]
    paths = args.paths or ["."]
    include = [g for g in args.glob if not g.startswith("!")] or None
    exclude = [g[1:] for g in args.glob if g.startswith("!")] or None
    options: dict[str, Any] = dict(fixed_strings=args.fixed_strings, ignore_case=args.ignore_case, smart_case=args.smart_case,
                   include=include, exclude=exclude, gitignore=args.gitignore, follow_links=args.follow_links,
                   max_depth=args.max_depth, max_filesize=args.max_filesize, binary=args.binary,
                   threads=args.threads, progress=False)
    out = sys.stdout.buffer
    errors: list[OSError] = []
    matched = False
    # A single file given prints lines without its path, as grep and rg do.
    with_path = len(paths) > 1 or os.path.isdir(paths[0]) or "://" in paths[0]
    for path in paths:
        try:
            if args.count or args.files_with_matches:
                counts = search_counts(patterns, path, max_count=1 if args.files_with_matches and not args.count
                                       else args.max_count, **options)
                errors += counts.errors
                matched |= len(counts) > 0
                _print_counts(out, counts, args)
            else:
                with search_files(patterns, path, max_count=args.max_count, before=args.before_context,
                                  after=args.after_context, context=args.context,
                                  **options) as results:
                    matched |= _print_lines(out, results, args.json, with_path,
                                            bool(args.context or args.before_context or args.after_context))
                    errors += results.errors
        except OSError as error:
            errors.append(error)
    out.flush()
    if _report_errors(errors) != EXIT_OK:
        return EXIT_FAILED
    return EXIT_OK if matched else EXIT_PARTIAL


def _print_counts(out: BinaryIO, counts: Any, args: argparse.Namespace) -> None:
    for path, n in sorted(counts.items(), key=lambda item: os.fsencode(item[0])):
        if args.json:
            row = {"path": os.fsdecode(path), "count": n} if args.count else {"path": os.fsdecode(path)}
            out.write(json.dumps(row).encode() + b"\n")
        elif args.count:
            out.write(os.fsencode(path) + f":{n}\n".encode())
        else:
            out.write(os.fsencode(path) + b"\n")


def _print_lines(out: BinaryIO, results: Any, as_json: bool, with_path: bool, context: bool) -> bool:
    """Writes each record as it comes (grep's format: ':' after a match's path and line number, '-' for a
    context line, '--' between groups of lines that are not adjacent). True if a line matched."""
    matched = False
    previous: tuple[Any, int] | None = None
    for record in results:
        matched |= not record.is_context
        if as_json:
            out.write(json.dumps(record.to_dict()).encode() + b"\n")
            continue
        if context and previous is not None and previous != (record.path, record.line_number - 1):
            out.write(b"--\n")
        previous = (record.path, record.line_number)
        mark = b"-" if record.is_context else b":"
        prefix = os.fsencode(record.path) + mark if with_path else b""
        out.write(prefix + str(record.line_number).encode() + mark + record.line + b"\n")
    return matched


def _vectors(args: argparse.Namespace) -> int:
    from ._vectors import VectorStore
    if args.action == "add":
        import numpy
        vectors = numpy.load(args.npy) if args.npy else None
        dim = args.dim or (vectors.shape[-1] if vectors is not None else 384)
        metadata = [json.loads(m) for m in args.metadata] if args.metadata else None
        with VectorStore(args.store, dim=dim, metric=args.metric, index=args.index, M=args.m,
                         ef_construction=args.ef_construction, ef=args.ef) as store:
            ids = store.add_texts(args.text, metadata, args.id) if args.text else store.add(vectors, args.id, metadata)
        print("\n".join(ids))
        return EXIT_OK
    writes = args.action in ("delete", "compact", "snapshot", "restore")
    with VectorStore(args.store, read_only=not writes) as store:
        if args.action == "info":
            info = {"path": store.path, "dim": store.dim, "metric": store.metric, "count": len(store),
                    "index": store.index, "snapshots": store.list_snapshots()}
            print(json.dumps(info) if args.json else "\n".join(
                f"{k:<9} {' '.join(f'{n}={v}' for n, v in v.items()) if isinstance(v, dict) else v}" for k, v in info.items()))
        elif args.action == "compact":
            print(f"reclaimed {store.compact()} deleted rows")
        elif args.action == "snapshot":
            store.snapshot(args.name)
        elif args.action == "restore":
            store.restore(args.name)
        elif args.action == "snapshots":
            print("\n".join(store.list_snapshots()))
        elif args.action == "query":
            query: object = args.text if args.text is not None else [float(v) for v in args.vector.split(",")]
            flt = json.loads(args.filter) if args.filter else None
            [result] = store.query(query, k=args.k, filter=flt, ef=args.ef, exact=args.exact)
            rows: list[dict[str, Any]] = [{"id": i, "distance": float(d), "metadata": m, "document": doc}
                    for i, d, m, doc in zip(result.ids, result.distances, result.metadata, result.documents)]
            if args.json:
                print(json.dumps(rows))
            for row in [] if args.json else rows:
                print(f"{row['distance']:.6f}  {row['id']}  {json.dumps(row['metadata']) if row['metadata'] else ''}"
                      f"  {(row['document'] or '')[:80]}".rstrip())
        else:
            try:
                print(f"deleted {store.delete(args.ids, missing_ok=args.missing_ok)}")
            except KeyError as error:
                print(f"vegafs: {error.args[0]}", file=sys.stderr)
                return EXIT_FAILED
    return EXIT_OK


def _load_patterns(files: list[str]) -> list[FileStructurePattern]:
    patterns = []
    for name in files:
        try:
            with open(name, encoding="utf-8") as handle:
                data = json.load(handle)
        except json.JSONDecodeError as error:
            raise PatternError(f"{name}: pattern JSON is malformed: {error}") from error
        items = data if isinstance(data, list) else [data]
        try:
            patterns += [FileStructurePattern.from_dict(item, f"pattern[{i}]" if isinstance(data, list) else "pattern")
                         for i, item in enumerate(items)]
        except PatternError as error:
            raise PatternError(f"{name}: {error}") from error
    return patterns


def _structure(args: argparse.Namespace) -> int:
    patterns = _load_patterns(args.pattern)
    root = args.path if args.command == "scan" else args.source
    matches = sorted(scan(root, patterns), key=lambda m: str(m.source))
    if args.command == "scan":
        if args.json:
            print(json.dumps([{"source": str(m.source), "pattern": m.pattern.to_dict()} for m in matches]))
        else:
            for m in matches:
                print(m.source)
        return EXIT_OK
    report = shuffle(matches, args.destination, dryrun=args.dry_run, overwrite=args.overwrite, move=args.move)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        for item in report.items:
            note = f" ({item.error})" if item.error else ""
            print(f"{item.status:<8} {item.source} -> {item.destination}{note}")
        print(report)
    for item in report.failed:
        print(f"vegafs: {item.source}: {item.error}", file=sys.stderr)
    return EXIT_PARTIAL if report.failed else EXIT_OK
