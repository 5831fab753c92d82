"""The ``vegafs`` command line. Plain argparse, so the CLI needs nothing beyond the package itself."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from . import __version__, count, scan_tree
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        if args.command == "count":
            return _count(args, progress)
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
