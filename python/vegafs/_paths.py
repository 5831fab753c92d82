"""Path typing shared by the native and fsspec backends: str in, str out; bytes in, bytes out."""
from __future__ import annotations

import operator
import os
import sys
from typing import Any, Callable, Union

StrOrBytesPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

ENCODING = sys.getfilesystemencoding()
ENCODE_ERRORS = sys.getfilesystemencodeerrors()


def fspath(top: StrOrBytesPath) -> str | bytes:
    path = os.fspath(top)
    if isinstance(path, str) and "\0" in path or isinstance(path, bytes) and b"\0" in path:
        raise ValueError("embedded null byte")
    return path


def splitter(as_bytes: bool) -> Callable[[Any], list[Any]]:
    """Splits a buffer of NUL-terminated names in one pass, decoding like os.fsdecode when str is wanted.
    The buffer may be native memory: str is decoded from it directly, without an intermediate bytes copy."""
    if as_bytes:
        return lambda blob: bytes(blob).split(b"\0")
    return lambda blob: str(blob, ENCODING, ENCODE_ERRORS).split("\0")


def is_url(path: str | bytes) -> bool:
    """True for fsspec URLs such as memory://x, s3://bucket/key or file:///tmp."""
    if isinstance(path, bytes):
        return False
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()


def check_limits(max_depth: int | None, threads: int | None) -> None:
    """Validates the ``max_depth`` and ``threads`` arguments shared by walk, scan_tree and count: TypeError
    for what is not an integer, ValueError for an integer out of range (the native side takes int32)."""
    _check_integer(max_depth, "max_depth", 1, 2**31 - 1, "a positive integer")
    _check_integer(threads, "threads", 1, 1024, "an integer from 1 to 1024")


def _check_integer(value: int | None, name: str, low: int, high: int, expected: str) -> None:
    if value is None:
        return
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {expected} or None, not {type(value).__name__}") from None
    if not low <= number <= high:
        raise ValueError(f"{name} must be {expected} or None, not {value!r}")
