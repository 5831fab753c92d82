"""VexFS's Python SDK on a vegafs vector store: ``init(path)``, ``add(text, metadata) -> id``,
``query(vector_or_text, top_k) -> results``, ``delete(id)``.

The module keeps one store, opened by :func:`init` (texts are embedded with the built-in
:class:`vegafs.HashingEmbedder` unless ``embedder=`` is given). Results are dicts with ``id``,
``distance``, ``metadata`` and ``document``, closest first.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from ._vectors import Embedder, VectorStore

_store: VectorStore | None = None


def init(path: str | os.PathLike[str], *, dim: int = 384, metric: str = "cosine",
         embedder: Embedder | None = None) -> VectorStore:
    """Opens (or creates) the store at ``path`` as this module's store; returns it."""
    global _store
    if _store is not None:
        _store.close()
        _store = None  # a failing open below leaves no closed store behind as the current one
    _store = VectorStore(path, dim=dim, metric=metric, embedder=embedder)
    return _store


def _current() -> VectorStore:
    if _store is None:
        raise RuntimeError("call vegafs.vexfs.init(path) first")
    return _store


def add(text: str, metadata: Mapping[str, Any] | None = None) -> str:
    """Embeds and stores ``text`` with its metadata; returns the new document id."""
    return _current().add_texts([text], metadata=[metadata])[0]


def query(vector_or_text: Any, top_k: int = 10) -> list[dict[str, Any]]:
    """The ``top_k`` stored documents nearest to one vector or one text."""
    results = _current().query(vector_or_text, k=top_k)
    if len(results) != 1:
        raise ValueError(f"vexfs.query takes one vector or one text, not a batch of {len(results)}: "
                         "use VectorStore.query for batches")
    [result] = results
    return [{"id": i, "distance": float(d), "metadata": m, "document": doc}
            for i, d, m, doc in zip(result.ids, result.distances, result.metadata, result.documents)]


def delete(doc_id: str) -> None:
    """Removes a document; KeyError if the id is unknown."""
    _current().delete([doc_id])


def close() -> None:
    """Closes the module's store."""
    global _store
    if _store is not None:
        _store.close()
        _store = None
