"""An independent reference for the glob rules of docs/patterns.md, translated to Python's re."""
from __future__ import annotations

import re


def reference_regex(glob: str) -> str:
    """An independent translation of the documented glob rules (docs/patterns.md) into Python's re."""
    out, i, n = [], 0, len(glob)
    depth = 0
    while i < n:
        c = glob[i]
        if c == "\\":
            out.append(re.escape(glob[i + 1]))
            i += 2
        elif c == "*":
            j = i
            while j < n and glob[j] == "*":
                j += 1
            starts = i == 0 or glob[i - 1] in "/" or (depth and glob[i - 1] in "{,")
            if j - i >= 2 and starts and (j == n or (depth and glob[j] in ",}")):
                out.append(".*")
            elif j - i >= 2 and starts and glob[j] == "/":
                out.append("(?:.*/)?")
                j += 1
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            negate = j < n and glob[j] in "!^"
            j += negate
            body = ""
            first = True
            while glob[j] != "]" or first:
                first = False
                if glob[j] == "\\":
                    j += 1
                body += "\\" + glob[j] if glob[j] in "\\]^-[" and not (glob[j] == "-" and body and glob[j + 1] != "]") else glob[j]
                j += 1
            out.append(f"[^/{body}]" if negate else f"(?!/)[{body}]")
            i = j + 1
        elif c == "{":
            out.append("(?:")
            depth += 1
            i += 1
        elif c == "," and depth:
            out.append("|")
            i += 1
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def reference_match(glob: str, path: str, ignore_case: bool = False, anchor_slash: bool = False) -> bool:
    """Does ``glob`` match ``path`` (a trailing '/' marks a directory)? ``anchor_slash``: the walk-filter
    rule, where a leading '/' anchors the glob at the root of relative paths."""
    is_dir = path.endswith("/") and len(path) > 1
    path = path.rstrip("/") or path
    dir_only = glob.endswith("/") and len(glob) > 1
    glob = glob.rstrip("/") if dir_only else glob
    if dir_only and not is_dir:
        return False
    anchored = anchor_slash and glob.startswith("/")
    if anchored:
        glob = glob[1:]
    target = path if "/" in glob or anchored else path.rsplit("/", 1)[-1]
    return re.fullmatch(reference_regex(glob), target, re.S | (re.I if ignore_case else 0)) is not None
