"""The vegafs exception hierarchy.

Every error vegafs raises derives from :class:`VegaError` *and* from the builtin exception a Python
user would expect, so ``except FileNotFoundError`` and ``except vegafs.VegaError`` both work.
"""
from __future__ import annotations

import errno as _errno
import os
from typing import Union

PathLike = Union[str, bytes]


class VegaError(Exception):
    """Base class of every exception vegafs raises."""


class VegaOSError(VegaError, OSError):
    """An operating-system error; ``errno``, ``strerror`` and ``filename`` are set as for OSError."""


class VegaFileNotFoundError(VegaOSError, FileNotFoundError):
    """A path does not exist (ENOENT)."""


class VegaPermissionError(VegaOSError, PermissionError):
    """Access was denied (EACCES, EPERM)."""


class VegaNotADirectoryError(VegaOSError, NotADirectoryError):
    """A directory was expected (ENOTDIR)."""


class VegaIsADirectoryError(VegaOSError, IsADirectoryError):
    """A file was expected (EISDIR)."""


class VegaFileExistsError(VegaOSError, FileExistsError):
    """The path already exists (EEXIST)."""


class InvalidArgumentError(VegaError, ValueError):
    """An argument was rejected before any work was done."""

    detail: int = 0
    """A code the native call gives with the refusal (vega.h says which per call; 0: none)."""


class VectorStoreError(VegaError, ValueError):
    """A vector store cannot be used: its files are corrupted, truncated or of a newer format (the
    message names the file), or it is already open for writing elsewhere."""


class RegexError(InvalidArgumentError):
    """A search pattern was refused, like :class:`re.error`: ``msg`` says why, ``pattern`` is the pattern
    and ``pos`` the index in it where the problem is."""

    def __init__(self, msg: str, pattern: str | bytes, pos: int) -> None:
        super().__init__(f"invalid regex {pattern!r} at position {pos}: {msg}")
        self.msg = msg
        self.pattern = pattern
        self.pos = pos


class CancelledError(VegaError):
    """The operation was cancelled (from another thread; Ctrl-C raises KeyboardInterrupt instead)."""


class NativeError(VegaError, RuntimeError):
    """An internal error inside the native engine: a bug, please report it with the message."""


class ForkError(VegaError, RuntimeError):
    """The native engine was used in a process forked after the parent had used it."""


class NativeLibraryError(VegaError, ImportError):
    """The native library is missing, unloadable or of another ABI version."""


_BY_ERRNO: dict[int, type[VegaOSError]] = {
    _errno.ENOENT: VegaFileNotFoundError,
    _errno.EACCES: VegaPermissionError,
    _errno.EPERM: VegaPermissionError,
    _errno.ENOTDIR: VegaNotADirectoryError,
    _errno.EISDIR: VegaIsADirectoryError,
    _errno.EEXIST: VegaFileExistsError,
}


def os_error(code: int, filename: PathLike | None = None, message: str | None = None) -> VegaOSError:
    """The VegaOSError subclass for ``code``, built like ``OSError(code, strerror, filename)``."""
    cls = _BY_ERRNO.get(code, VegaOSError)
    text = message or (os.strerror(code) if code else "unknown error")
    if filename is None:
        return cls(code, text)
    return cls(code, text, filename)
