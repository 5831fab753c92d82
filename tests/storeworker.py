"""Runs every VectorStore operation on store directories named on stdin, one JSON line each, and answers
with one JSON line per store: each operation's outcome ("ok" or the exception's class and message).

A separate process, so that a crash (a signal) shows as this process dying instead of taking the test
runner down, and is reported with the store that caused it (tests/test_vectors_fuzz.py).
"""
from __future__ import annotations

import json
import sys
from typing import Any, Callable

import numpy as np

import vegafs


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as error:  # every outcome is reported; the test decides which are allowed
        return f"{type(error).__module__}.{type(error).__qualname__}: {error}"[:400], None


def run(path: str) -> list[str]:
    outcomes: list[str] = []

    def step(call: Callable[[], Any]) -> Any:
        text, value = _outcome(call)
        outcomes.append(text)
        return value

    zero = np.zeros(8, np.float32)
    for read_only in (False, True):
        store = step(lambda: vegafs.VectorStore(path, read_only=read_only))
        if store is None:
            continue
        step(lambda: len(store))
        step(lambda: store.index)
        step(lambda: store.query(zero, k=5))
        step(lambda: store.query(np.ones((2, 8), np.float32), k=3, filter={"kind": "even"}))
        step(lambda: store.query(zero, k=3, exact=True, filter={"n": {"$gte": 3}}))
        step(lambda: store.get(["r0", "r1", "nope"]))
        step(lambda: store.list_snapshots())
        if not read_only:
            step(lambda: store.add(np.ones((2, 8), np.float32), ids=["fuzz-a", "fuzz-b"], metadata=[{"kind": "even"}, None]))
            step(lambda: store.delete(["r1", "fuzz-b"], missing_ok=True))
            step(lambda: store.compact())
            step(lambda: store.snapshot("fuzz"))
            step(lambda: store.restore("snap"))
            step(lambda: store.restore("fuzz"))
            step(lambda: store.delete_snapshot("fuzz"))
            step(lambda: store.query(zero, k=5))
        step(store.close)
    return outcomes


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
