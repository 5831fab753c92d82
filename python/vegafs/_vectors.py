"""A persistent vector store (VexFS's engine): numpy in, numpy out, exact search natively.

Needs numpy (``pip install vegafs[vectors]``); it is imported when a store is opened, not with vegafs.
"""
from __future__ import annotations

import json
import os
import re
import threading
import uuid
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, Union

from . import _native
from ._progress import IndexProgress, IndexProgressArg, index_reporter
from .errors import InvalidArgumentError, VectorStoreError

if TYPE_CHECKING:
    import numpy as np

Metadata = Mapping[str, Any]
IdLike = Union[str, int]
_ERRNO_CORRUPT, _ERRNO_BUSY = 5, 16
_INDEX_CHUNK = 8192  # rows per native call while building the graph: progress between calls
_BACKGROUND_WORK = 1 << 24  # queries x rows from which a search runs on a helper thread, for Ctrl-C
_METADATA_DEPTH = 32  # VectorStore.MaxMetadataDepth in the engine
_WORD = re.compile(r"\w+")
Embedder = Callable[[Sequence[str]], Any]


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - numpy is installed wherever vectors are used
        raise ImportError("vegafs vector stores need numpy: pip install 'vegafs[vectors]'") from exc
    return numpy


@dataclass(frozen=True)
class QueryResult:
    """The k nearest rows of one query, closest first."""

    ids: list[str]
    distances: "np.ndarray[Any, Any]"
    metadata: list[dict[str, Any] | None]
    documents: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Record:
    """One stored row, as :meth:`VectorStore.get` returns it (vectors are stored normalized for cosine)."""

    id: str
    vector: "np.ndarray[Any, Any]"
    metadata: dict[str, Any] | None
    document: str | None


class HashingEmbedder:
    """A deterministic text embedder that needs no model: feature hashing of lowercase word tokens
    (weight 1) and of character n-grams of each word padded with spaces (weight 0.5), each feature
    hashed with CRC-32 to a dimension and a sign, then L2-normalized. Equal texts give equal vectors on
    every machine; texts sharing words or word pieces come out close. Good for offline tests and
    keyword-like similarity, not a substitute for a semantic model: any callable taking a list of str
    and returning an (n, dim) array can replace it."""

    def __init__(self, dim: int = 384, ngrams: tuple[int, int] = (3, 5)) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, not {dim!r}")
        low, high = ngrams
        if not 1 <= low <= high:
            raise ValueError(f"ngrams must be (low, high) with 1 <= low <= high, not {ngrams!r}")
        self.dim = dim
        self.ngrams = (low, high)

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self.dim}, ngrams={self.ngrams})"

    def __call__(self, texts: Sequence[str]) -> "np.ndarray[Any, Any]":
        numpy = _numpy()
        out: "np.ndarray[Any, Any]" = numpy.zeros((len(texts), self.dim), dtype=numpy.float32)
        low, high = self.ngrams
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{row}] must be a str, not {type(text).__name__}")
            words = _WORD.findall(text.lower())
            if not words:
                raise ValueError(f"texts[{row}] has no words to embed: {text[:40]!r}")
            vector = out[row]
            for word in words:
                self._add(vector, "w:" + word, 1.0)
                padded = f" {word} "
                for n in range(low, high + 1):
                    for start in range(len(padded) - n + 1):
                        self._add(vector, "c:" + padded[start:start + n], 0.5)
            norm = float(numpy.linalg.norm(vector))
            if norm == 0:  # every feature cancelled out (signs): rare, but a zero vector has no direction
                self._add(vector, "t:" + text, 1.0)
                norm = float(numpy.linalg.norm(vector))
            vector /= norm
        return out

    def _add(self, vector: Any, feature: str, weight: float) -> None:
        h = zlib.crc32(feature.encode("utf-8", "surrogatepass"))
        vector[h % self.dim] += weight if h & 0x80000000 else -weight


class VectorStore:
    """A persistent vector store in the directory ``path`` (created with ``dim`` if it has none).

    ``metric`` is "cosine" (1 - cosine similarity), "l2" (squared euclidean, as faiss and hnswlib) or
    "ip" (1 - dot). Every :meth:`add` is durable when it returns; one process (one open store) writes a
    store at a time, any number read it with ``read_only=True``. Queries may run from several threads,
    also while another thread adds.

    ``index`` is "flat" (exact search) or "hnsw" (an approximate graph: ``M`` links per node,
    ``ef_construction`` beam width while building, ``ef`` default beam width of a query, all saved with
    the store). None keeps an existing store's index (flat for a new store); giving ``M``,
    ``ef_construction`` or ``ef`` implies "hnsw". Changing an existing store's index kind, ``M`` or
    ``ef_construction`` builds a new graph; changing ``ef`` only is instant.
    """

    def __init__(self, path: str | os.PathLike[str], *, dim: int | None = None, metric: str = "cosine",
                 index: str | None = None, M: int | None = None, ef_construction: int | None = None,
                 ef: int | None = None, embedder: Embedder | None = None, read_only: bool = False,
                 progress: IndexProgressArg = None) -> None:
        if index not in (None, "flat", "hnsw"):
            raise ValueError(f"index must be 'flat' (exact search) or 'hnsw', not {index!r}")
        settings = {"M": M, "ef_construction": ef_construction, "ef": ef}
        for name, value in settings.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if any(v is not None for v in settings.values()):
            if index == "flat":
                raise ValueError("M, ef_construction and ef are settings of index='hnsw', not of 'flat'")
            index = "hnsw"
        if metric not in _native.METRICS:
            raise ValueError(f"metric must be one of {', '.join(_native.METRICS)}, not {metric!r}")
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= 65536):
            raise ValueError(f"dim must be an integer from 1 to 65536, not {dim!r}")
        self._np = _numpy()
        self.path = os.fspath(path)
        if not isinstance(self.path, str):
            raise TypeError(f"path must be a str or os.PathLike[str], not {type(self.path).__name__}")
        if not self.path:
            raise ValueError("path is empty: give the store's directory (use '.' for the current one)")
        flags = _native.STORE_READONLY if read_only else _native.STORE_CREATE
        # A metric given with dim (creating) is checked against an existing store; without dim, the store's own.
        metric_code = _native.METRICS[metric] if dim is not None else -1
        options = None
        if index == "flat":
            options = (_native.INDEX_FLAT, 0, 0, 0)
        elif index == "hnsw":  # 0: as the store has it, or the default for a new graph
            options = (_native.INDEX_HNSW, M or 0, ef_construction or 0, ef or 0)
        try:
            self._store = _native.NativeStore(os.fsencode(self.path), dim or 0, metric_code, flags, options)
        except InvalidArgumentError as error:
            raise _store_error(error) from None
        info = self._store.info()
        self.dim: int = info[0]
        self.metric: str = next(name for name, code in _native.METRICS.items() if code == info[1])
        self.read_only = read_only
        self.embedder: Embedder = HashingEmbedder(self.dim)
        if embedder is not None:
            self.embedder = embedder
        self._lock = threading.Lock()  # orders this object's own writes; queries do not take it
        if not read_only:
            self.update_index(progress=progress)

    def __len__(self) -> int:
        return int(self._store.info()[2])

    @property
    def index(self) -> dict[str, Any]:
        """The store's index: ``{"kind": "flat"}``, or for HNSW its settings and how many rows the graph
        holds (``indexed``) and has yet to take (``pending``: those are searched exactly meanwhile)."""
        info = self._store.info()
        if info[5] != _native.INDEX_HNSW:
            return {"kind": "flat"}
        return {"kind": "hnsw", "M": info[6], "ef_construction": info[7], "ef": info[8], "indexed": info[9],
                "pending": info[10]}

    def __repr__(self) -> str:
        return f"<VectorStore {self.path!r}: {len(self)} vectors, dim {self.dim}, {self.metric}, {self.index['kind']}>"

    def __enter__(self) -> "VectorStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Saves the HNSW graph if it grew (:meth:`flush`), then closes the store (queries running on other
        threads finish first). Adds and deletes were durable already."""
        try:
            if not self.read_only:
                self.flush()
        except InvalidArgumentError:
            pass  # closed already
        finally:
            self._store.close()

    def flush(self) -> None:
        """Saves the HNSW graph's new rows as a checkpoint, so reopening does not insert them again. Rows
        themselves are on disk (fsynced) when each add and delete returns."""
        with self._lock:
            try:
                self._store.flush()
            except InvalidArgumentError as error:
                raise _store_error(error) from None

    def update_index(self, *, threads: int | None = None, progress: IndexProgressArg = None) -> int:
        """Inserts the rows the HNSW graph does not hold yet (after an add, a compaction, a restore, or a
        crash before a checkpoint); returns how many. :meth:`add` calls it, so this is needed only after an
        interrupted build. Until then those rows are searched exactly, so results are never missing rows.
        Ctrl-C stops it within milliseconds and keeps what was inserted. Without a graph it returns 0."""
        with self._lock:
            pending = total = int(self._store.info()[10])
            if not total:
                return 0
            show, close = index_reporter(progress)
            try:
                while pending:
                    if show is not None:
                        show(IndexProgress(total - pending, total))
                    pending = self._store.index(_INDEX_CHUNK, threads)
                if show is not None:
                    show(IndexProgress(total, total))
            except InvalidArgumentError as error:
                raise _store_error(error) from None
            finally:
                close()
            return total

    # --- maintenance ---

    def compact(self, *, progress: IndexProgressArg = None) -> int:
        """Rewrites the live rows into one segment file, dropping deleted rows for good; returns how many
        rows were reclaimed. When rows were deleted the HNSW graph is rebuilt (progress as for
        :meth:`update_index`). Snapshots keep the files they need."""
        with self._lock:
            try:
                reclaimed = self._store.compact()
            except InvalidArgumentError as error:
                raise _store_error(error) from None
        self.update_index(progress=progress)
        return reclaimed

    def snapshot(self, name: str) -> None:
        """Records the store as it is now under ``name`` (letters, digits, '.', '_', '-'), in
        ``path/snapshots/name``. Cheap: segment files are immutable, so the snapshot hard-links them and
        copies only the manifest. The HNSW graph is checkpointed first so the snapshot includes it."""
        self._snapshot_op(_native.SNAPSHOT_CREATE, name)

    def list_snapshots(self) -> list[str]:
        """Names of the snapshots, oldest first."""
        top = os.path.join(self.path, "snapshots")
        if os.path.islink(top):
            return []  # the store never follows a link out of its directory (restore refuses it too)
        try:
            entries = [e for e in os.scandir(top) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
                       and os.path.isfile(os.path.join(e.path, "MANIFEST"))
                       and not os.path.islink(os.path.join(e.path, "MANIFEST"))]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [e.name for e in sorted(entries, key=lambda e: (e.stat().st_mtime_ns, e.name))]

    def restore(self, name: str, *, progress: IndexProgressArg = None) -> None:
        """Makes the store what snapshot ``name`` recorded: rows, deletions and index. The snapshot stays;
        rows added since are gone (take a snapshot first to keep them). Queries running meanwhile finish
        on the state they started with."""
        self._snapshot_op(_native.SNAPSHOT_RESTORE, name)
        self.update_index(progress=progress)

    def delete_snapshot(self, name: str) -> None:
        """Removes snapshot ``name``; files the store still uses stay."""
        self._snapshot_op(_native.SNAPSHOT_DELETE, name)

    def _snapshot_op(self, op: int, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"a snapshot name must be a str, not {type(name).__name__}")
        with self._lock:
            try:
                self._store.snapshot(op, name.encode("utf-8", "surrogateescape"))
            except InvalidArgumentError as error:
                raise _store_error(error) from None

    # --- writing ---

    def add(self, vectors: Any, ids: Iterable[IdLike] | None = None, metadata: Sequence[Metadata | None] | None = None,
            documents: Sequence[str | None] | None = None, *, progress: IndexProgressArg = None) -> list[str]:
        """Adds rows (an (n, dim) array, or one dim-long vector); returns their ids (new UUIDs where
        ``ids`` is None). An id already in the store, a duplicate id, a NaN or infinite value, or a zero
        vector under cosine raises ValueError and adds nothing. With an HNSW index the rows are then
        inserted into the graph (``progress`` as for :meth:`update_index`); they are durable and found by
        queries before that."""
        return self._add(vectors, ids, metadata, documents, upsert=False, progress=progress)

    def upsert(self, vectors: Any, ids: Iterable[IdLike], metadata: Sequence[Metadata | None] | None = None,
               documents: Sequence[str | None] | None = None, *, progress: IndexProgressArg = None) -> list[str]:
        """Like :meth:`add`, but rows whose id exists are replaced."""
        return self._add(vectors, ids, metadata, documents, upsert=True, progress=progress)

    def _add(self, vectors: Any, ids: Iterable[IdLike] | None, metadata: Sequence[Metadata | None] | None,
             documents: Sequence[str | None] | None, upsert: bool, progress: IndexProgressArg) -> list[str]:
        matrix = self._matrix(vectors, "vectors")
        count = matrix.shape[0]
        names = [uuid.uuid4().hex for _ in range(count)] if ids is None else [_id(i) for i in ids]
        _check_length(names, count, "ids")
        meta = None if metadata is None else [_metadata_json(m, k) for k, m in enumerate(_check_length(metadata, count, "metadata"))]
        docs = None if documents is None else [_document(d, k) for k, d in enumerate(_check_length(documents, count, "documents"))]
        with self._lock:
            try:
                self._store.add(matrix, [n.encode() for n in names], meta, docs, upsert)
            except InvalidArgumentError as error:
                raise _store_error(error) from None
        self.update_index(progress=progress)
        return names

    def add_texts(self, texts: Sequence[str], metadata: Sequence[Metadata | None] | None = None,
                  ids: Iterable[IdLike] | None = None, *, progress: IndexProgressArg = None) -> list[str]:
        """Embeds ``texts`` with :attr:`embedder` and adds them, each text stored as the row's document."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of str; wrap a single text in a list")
        return self.add(self._embed(list(texts)), ids, metadata, list(texts), progress=progress)

    def _embed(self, texts: list[str]) -> Any:
        vectors = self._np.asarray(self.embedder(texts))
        if vectors.shape != (len(texts), self.dim):
            raise ValueError(f"the embedder returned shape {vectors.shape} for {len(texts)} texts; the store needs "
                             f"({len(texts)}, {self.dim})")
        return vectors

    def delete(self, ids: Iterable[IdLike], *, missing_ok: bool = False) -> int:
        """Deletes rows by id: gone from results at once (the space is reclaimed by compaction). An unknown
        id raises KeyError and deletes nothing, unless ``missing_ok``. Returns how many were deleted."""
        names = _ids(ids)
        if not names:
            return 0
        with self._lock:
            try:
                return self._store.delete([n.encode() for n in names], missing_ok)
            except InvalidArgumentError as error:
                raise _store_error(error) from None

    # --- reading ---

    def query(self, vectors: Any, k: int = 10, *, filter: Mapping[str, Any] | None = None, ef: int | None = None,
              exact: bool = False, threads: int | None = None) -> list[QueryResult]:
        """The ``k`` nearest rows of each query, closest first: one :class:`QueryResult` per query. Queries
        are an (n, dim) array, one vector, or text (a str or a list of str, embedded with
        :attr:`embedder`). Fewer than k results when fewer rows exist or pass ``filter``.

        ``filter`` selects rows by metadata, natively during the scan (docs/vectors.md): ``{"kind": "a"}``,
        ``{"lang": {"$in": ["en", "fr"]}}``, ``{"year": {"$gte": 2000, "$lt": 2010}}``, ``$ne``, ``$nin``,
        and ``{"$or": [...]}`` / ``{"$and": [...]}``; several keys must all hold.

        With an HNSW index the search is approximate, with beam width ``max(ef, k)`` (None: the store's
        saved ef); higher ef finds more of the true neighbours and is slower. ``exact=True`` compares every
        row instead. A filter admitting under a tenth of the rows is searched exactly either way."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive integer, not {k!r}")
        if ef is not None and (not isinstance(ef, int) or isinstance(ef, bool) or not 1 <= ef <= 100_000):
            raise ValueError(f"ef must be an integer from 1 to 100000, not {ef!r}")
        np = self._np
        if isinstance(vectors, str) or (isinstance(vectors, (list, tuple)) and vectors and
                                        all(isinstance(v, str) for v in vectors)):
            vectors = self._embed([vectors] if isinstance(vectors, str) else list(vectors))
        queries = self._matrix(vectors, "queries")
        count = queries.shape[0]
        rows_now = len(self)
        k = max(1, min(k, rows_now))  # no more results than rows: a huge k must not size the output arrays
        distances = np.empty((count, k), dtype=np.float32)
        rows = np.empty((count, k), dtype=np.int64)
        predicate = None
        if filter is not None:
            if not isinstance(filter, Mapping):
                raise TypeError(f"filter must be a dict, not {type(filter).__name__}")
            try:
                predicate = json.dumps(dict(filter), allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"filter cannot be written as JSON: {exc}") from None
        try:
            table = self._store.search(queries, count, k, predicate, threads, ef or 0, exact, distances, rows,
                                       background=count * rows_now >= _BACKGROUND_WORK)
        except InvalidArgumentError as error:
            raise _store_error(error) from None
        texts = table.texts or []
        # Decoded for the whole batch in three passes (per-query loops cost more than the search at small ef).
        ids = [raw.decode() for raw in texts[0::3]]
        raw_metadata, raw_documents = texts[1::3], texts[2::3]
        metadata = [_parse_metadata(raw, self.path) for raw in raw_metadata] if any(raw_metadata) else [None] * len(ids)
        documents = ([_parse_document(raw, self.path) for raw in raw_documents]
                     if any(raw_documents) else [None] * len(ids))
        found = np.count_nonzero(rows >= 0, axis=1).tolist()
        results = [QueryResult(ids[q * k:q * k + n], distances[q, :n].copy(), metadata[q * k:q * k + n],
                               documents[q * k:q * k + n]) for q, n in enumerate(found)]
        return results

    def get(self, ids: Iterable[IdLike]) -> list[Record | None]:
        """The stored rows for ``ids``, in order; None for an id that is not in the store."""
        np = self._np
        names = _ids(ids)
        if not names:
            return []
        rows = np.empty(len(names), dtype=np.int64)
        vectors = np.empty((len(names), self.dim), dtype=np.float32)
        try:  # one native call: the rows, vectors and texts all come from one state of the store
            texts = self._store.get([n.encode() for n in names], rows, vectors).texts or []
        except InvalidArgumentError as error:
            raise _store_error(error) from None
        return [Record(names[i], vectors[i], _parse_metadata(texts[3 * i + 1], self.path),
                       _parse_document(texts[3 * i + 2], self.path))
                if rows[i] >= 0 else None for i in range(len(names))]

    def __contains__(self, id: object) -> bool:
        return isinstance(id, (str, int)) and self.get([id])[0] is not None

    def _matrix(self, data: Any, what: str) -> Any:
        """``data`` as a float32 C-contiguous (n, dim) array: float32 C-contiguous input is used as is
        (no copy); other real dtypes and layouts are converted; anything else is refused."""
        np = self._np
        array = np.asarray(data)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"{what} must be real numbers (float or int), not dtype {array.dtype}")
        if array.ndim == 1:
            if array.shape[0] != self.dim:
                raise ValueError(f"{what}: a 1-D array is one vector and needs {self.dim} values, not {array.shape[0]}")
            array = array.reshape(1, self.dim)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"{what} must have shape (n, {self.dim}), not {array.shape}")
        if array.shape[0] == 0:
            raise ValueError(f"{what} is empty")
        return np.ascontiguousarray(array, dtype=np.float32)


def _store_error(error: InvalidArgumentError) -> Exception:
    """The Python exception for a refused store call (vega.h: the detail code says which kind)."""
    message = str(error)
    if error.detail == _native.STORE_UNKNOWN_ID:
        return KeyError(message)
    if error.detail in (_ERRNO_CORRUPT, _ERRNO_BUSY):
        return VectorStoreError(message)
    return error


def _ids(ids: Iterable[IdLike] | IdLike) -> list[str]:
    """One id or several, as the stored strings."""
    return [_id(i) for i in ([ids] if isinstance(ids, (str, int)) else ids)]


def _id(value: IdLike) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"an id must be a str or int, not {type(value).__name__}")
    text = str(value)
    if not text or "\0" in text:
        raise ValueError(f"an id must be a non-empty string without NUL, not {text!r}")
    return text


def _check_length(items: Sequence[Any], count: int, what: str) -> Sequence[Any]:
    if len(items) != count:
        raise ValueError(f"{what} has {len(items)} entries for {count} vectors")
    return items


def _metadata_json(item: Metadata | None, index: int) -> bytes:
    if item is None:
        return b""
    if not isinstance(item, Mapping):
        raise TypeError(f"metadata[{index}] must be a dict or None, not {type(item).__name__}")
    try:
        return json.dumps(dict(item), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata[{index}] cannot be stored as JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"metadata[{index}] is nested too deeply (at most {_METADATA_DEPTH} levels)") from None


def _document(item: str | None, index: int) -> bytes:
    if item is None:
        return b""
    if not isinstance(item, str):
        raise TypeError(f"documents[{index}] must be a str or None, not {type(item).__name__}")
    if "\0" in item:
        raise ValueError(f"documents[{index}] contains a NUL character")
    # "=" marks a document, so "" (an empty document) stays apart from None (no document).
    return b"=" + item.encode("utf-8", "surrogatepass")


def _parse_metadata(raw: bytes, store: str) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):  # only a damaged or hand-made segment holds anything else
        raise VectorStoreError(f"{store}: a row's stored metadata is not a JSON object (damaged or forged store)")
    return value


def _parse_document(raw: bytes, store: str) -> str | None:
    if not raw:
        return None
    try:
        return raw[1:].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise VectorStoreError(f"{store}: a row's stored document is not UTF-8 (damaged or forged store)") from None
