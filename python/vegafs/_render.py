"""How a DirectoryReport looks: plain text, rich tables (rich is an optional extra) and HTML for Jupyter.

All three show the same sections, built once by :func:`_sections`."""
from __future__ import annotations

import html
import os
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from ._progress import human_bytes

if TYPE_CHECKING:
    from ._report import DirectoryReport, FileStat, FolderStat

MAX_LISTED = 10  # rows of the long lists (empty folders, errors) shown before "... and N more"


class Section(NamedTuple):
    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    numeric: tuple[bool, ...]  # right-aligned columns


def _path(p: Any) -> str:
    """A path or name for people: bytes that are not UTF-8 appear as \\xNN escapes, so the text is always
    printable (the report's data keeps them exact)."""
    return os.fsencode(p).decode("utf-8", "backslashreplace")


def _date(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ns / 1e9))


def _overview(r: DirectoryReport) -> Section:
    t = r.totals
    rows: list[tuple[str, ...]] = [
        ("Files", f"{t.files:,}"),
        ("Folders", f"{t.folders:,} ({t.empty_folders:,} empty)"),
        ("Symlinks / other", f"{t.symlinks:,} / {t.others:,}"),
        ("Size (apparent)", f"{human_bytes(t.apparent_bytes)} ({t.apparent_bytes:,} B)"),
    ]
    if t.disk_bytes is not None:
        rows.append(("Size (on disk)", f"{human_bytes(t.disk_bytes)} ({t.disk_bytes:,} B)"))
    rows += [
        ("Files per folder", f"{t.files / t.folders:,.2f}"),
        ("Empty files", f"{t.empty_files:,}"),
        ("Deepest entry", f"depth {t.max_depth}"),
    ]
    if t.vanished:
        rows.append(("Vanished while read", f"{t.vanished:,}"))
    rows.append(("Errors", f"{t.errors:,}"))
    rows.append(("Time", f"{r.elapsed_seconds:.2f} s ({r.engine})"))
    return Section(f"{_path(r.path)}", ("", ""), rows, (False, False))


def _files(title: str, items: list[FileStat]) -> Section:
    return Section(title, ("Size", "Modified", "Path"),
                   [(human_bytes(f.size), _date(f.mtime_ns), _path(f.path)) for f in items], (True, False, False))


def _folders(title: str, items: list[FolderStat], key: str) -> Section:
    rows = [(f"{f.files:,}", f"{f.subtree_files:,}", human_bytes(f.subtree_bytes), _path(f.path)) for f in items]
    headers = ("Files here", "Files below", "Size below", "Folder")
    order = (0, 1, 2, 3) if key == "files" else (2, 1, 0, 3)
    return Section(title, tuple(headers[i] for i in order), [tuple(row[i] for i in order) for row in rows],
                   (True, True, True, False))


def _listing(title: str, paths: list[Any], total: int) -> Section:
    rows: list[tuple[str, ...]] = [(_path(p),) for p in paths[:MAX_LISTED]]
    if total > MAX_LISTED:
        rows.append((f"... and {total - MAX_LISTED:,} more",))
    return Section(f"{title} ({total:,})", ("Path",), rows, (False,))


def _sections(r: DirectoryReport) -> list[Section]:
    t = r.totals
    sections = [_overview(r)]
    if r.extensions:
        shown = r.extensions[:r.top_n]
        sections.append(Section(
            f"Extensions (top {len(shown)} of {len(r.extensions):,})", ("Extension", "Files", "%", "Size"),
            [(_path(e.label), f"{e.files:,}", f"{100 * e.files / max(1, t.files):.1f}", human_bytes(e.bytes)) for e in shown],
            (False, True, True, True)))
    if r.largest:
        sections.append(_files("Largest files", r.largest))
    if r.newest:
        sections.append(_files("Newest files", r.newest))
    if r.oldest:
        sections.append(_files("Oldest files", r.oldest))
    if r.folders_by_size:
        sections.append(_folders("Largest folders (du)", r.folders_by_size, "size"))
    if r.folders_by_files:
        sections.append(_folders("Folders with most files", r.folders_by_files, "files"))
    if r.folder_names:
        sections.append(Section("Common folder names", ("Name", "Count"),
                                [(_path(n.name), f"{n.count:,}") for n in r.folder_names], (False, True)))
    if r.depths:
        sections.append(Section("Depth", ("Depth", "Folders", "Files", "Size"),
                                [(str(d.depth), f"{d.folders:,}", f"{d.files:,}", human_bytes(d.file_bytes))
                                 for d in r.depths], (True, True, True, True)))
    if r.empty_folders:
        sections.append(_listing("Empty folders", r.empty_folders, len(r.empty_folders)))
    if r.errors:
        rows: list[tuple[str, ...]] = [(_path(e.path), e.message) for e in r.errors[:MAX_LISTED]]
        if len(r.errors) > MAX_LISTED:
            rows.append((f"... and {len(r.errors) - MAX_LISTED:,} more", ""))
        sections.append(Section(f"Errors ({len(r.errors):,})", ("Path", "Error"), rows, (False, False)))
    return sections


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def text_report(r: DirectoryReport, width: int = 100) -> str:
    lines: list[str] = []
    for number, section in enumerate(_sections(r)):
        lines.append(section.title if number else f"Directory summary: {section.title}")
        widths = [max([len(h) for h in (section.headers[i],)] + [len(row[i]) for row in section.rows])
                  for i in range(len(section.headers))]
        last = len(widths) - 1
        widths[last] = min(widths[last], max(20, width - sum(widths[:last]) - 2 * last - 2))
        if any(section.headers):
            lines.append("  " + "  ".join(h.rjust(w) if section.numeric[i] else h.ljust(w)
                                          for i, (h, w) in enumerate(zip(section.headers, widths))).rstrip())
        for row in section.rows:
            cells = [_clip(c, widths[i]) if i == last else c for i, c in enumerate(row)]
            lines.append("  " + "  ".join(c.rjust(w) if section.numeric[i] else c.ljust(w)
                                          for i, (c, w) in enumerate(zip(cells, widths))).rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def print_report(r: DirectoryReport, console: Any = None) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(text_report(r), end="")
        return
    console = console or Console()
    for number, section in enumerate(_sections(r)):
        title = f"Directory summary: {section.title}" if number == 0 else section.title
        table = Table(title=title, title_justify="left", show_header=any(section.headers), header_style="bold")
        for i, header in enumerate(section.headers):
            last = i == len(section.headers) - 1
            table.add_column(header, justify="right" if section.numeric[i] else "left",
                             style="cyan" if i == 0 and not section.numeric[i] else None,
                             overflow="fold" if last else "ellipsis")
        for row in section.rows:
            table.add_row(*row)
        console.print(table)


def html_report(r: DirectoryReport) -> str:
    parts = ['<div class="vegafs-report">']
    for number, section in enumerate(_sections(r)):
        title = f"Directory summary: {section.title}" if number == 0 else section.title
        parts.append(f"<table><caption style='text-align:left;font-weight:bold'>{html.escape(title)}</caption>")
        if any(section.headers):
            parts.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in section.headers)
                         + "</tr></thead>")
        parts.append("<tbody>")
        for row in section.rows:
            cells = "".join(f"<td style='text-align:{'right' if section.numeric[i] else 'left'}'>{html.escape(c)}</td>"
                            for i, c in enumerate(row))
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
    parts.append("</div>")
    return "\n".join(parts)
