"""Reads and writes vector store files the way an attacker would: any field, with valid checksums.

The formats are those of docs/vectors.md: a segment is a 128-byte header (magic, version, dim, metric,
row count, section offsets, end, an XXH3-64 of the payload and one of the header's first 80 bytes), the
vectors, then three text sections (count+1 int64 offsets, the bytes, padding to 8); a MANIFEST is JSON
followed by a line ``xxh3:<hex of the JSON's XXH3-64>``; a graph file is a 128-byte header (checksums at
48 and 56) and the levels and lists. The checksums are plain XXH3, so anyone can forge a file that
passes them: these helpers do exactly that, so tests can show the engine checks everything else.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

METRICS = {"cosine": 0, "l2": 1, "ip": 2}
SEGMENT_HEADER = 128


def _xxh3(data: bytes) -> int:
    return xxhash.xxh3_64_intdigest(data)


@dataclass
class Segment:
    """A segment's fields; ``texts`` are (ids, metadata, documents), each one bytes per row."""

    dim: int
    metric: int
    vectors: bytes
    ids: list[bytes]
    metadata: list[bytes]
    documents: list[bytes]
    version: int = 1
    count: int | None = None  # None: len(ids)
    overrides: dict[str, int] = field(default_factory=dict)  # header fields written as given
    offset_overrides: dict[tuple[int, int], int] = field(default_factory=dict)  # (section, row) -> offset

    @classmethod
    def read(cls, path: Path) -> "Segment":
        data = path.read_bytes()
        dim, metric = struct.unpack_from("<ii", data, 12)
        count, vectors_at, ids_at, metadata_at, documents_at = struct.unpack_from("<qqqqq", data, 24)
        sections = []
        for at in (ids_at, metadata_at, documents_at):
            offsets = struct.unpack_from(f"<{count + 1}q", data, at)
            blob = at + 8 * (count + 1)
            sections.append([data[blob + offsets[i]:blob + offsets[i + 1]] for i in range(count)])
        vectors = data[vectors_at:vectors_at + count * dim * 4]
        return cls(dim, metric, vectors, *sections)

    def to_bytes(self) -> bytes:
        count = len(self.ids) if self.count is None else self.count
        body = bytearray(self.vectors)
        at = SEGMENT_HEADER + len(body)
        starts = []
        for section, texts in enumerate((self.ids, self.metadata, self.documents)):
            starts.append(at)
            offsets = [0]
            for text in texts:
                offsets.append(offsets[-1] + len(text))
            for row in range(len(offsets)):
                offsets[row] = self.offset_overrides.get((section, row), offsets[row])
            chunk = struct.pack(f"<{len(offsets)}q", *offsets) + b"".join(texts)
            chunk += b"\0" * ((8 - (at + len(chunk)) % 8) % 8)
            body += chunk
            at += len(chunk)
        fields = {"version": self.version, "dim": self.dim, "metric": self.metric, "count": count,
                  "vectors_at": SEGMENT_HEADER, "ids_at": starts[0], "metadata_at": starts[1],
                  "documents_at": starts[2], "end": SEGMENT_HEADER + len(body)}
        fields.update(self.overrides)
        header = bytearray(SEGMENT_HEADER)
        header[0:8] = b"VEGAVEC\0"
        struct.pack_into("<iii", header, 8, fields["version"], fields["dim"], fields["metric"])
        struct.pack_into("<qqqqqq", header, 24, fields["count"], fields["vectors_at"], fields["ids_at"],
                         fields["metadata_at"], fields["documents_at"], fields["end"])
        struct.pack_into("<Q", header, 72, _xxh3(bytes(body)))
        struct.pack_into("<Q", header, 80, _xxh3(bytes(header[:80])))
        return bytes(header) + bytes(body)

    def write(self, path: Path) -> None:
        path.write_bytes(self.to_bytes())


def read_manifest(directory: Path) -> dict[str, Any]:
    text = (directory / "MANIFEST").read_text()
    return json.loads(text[:text.rindex("\nxxh3:") + 1])


def write_manifest(directory: Path, manifest: dict[str, Any] | str) -> None:
    """Writes a MANIFEST with a valid checksum: ``manifest`` as JSON, or a str written as is."""
    body = (manifest if isinstance(manifest, str) else json.dumps(manifest, indent=2)).rstrip("\n") + "\n"
    raw = body.encode("utf-8", "surrogateescape")
    (directory / "MANIFEST").write_bytes(raw + f"xxh3:{_xxh3(raw):016x}\n".encode())


def rewrite_graph(path: Path, **fields: int) -> None:
    """Rewrites a graph file's header fields (m, ef_construction, count, entry, end) and recomputes both checksums."""
    data = bytearray(path.read_bytes())
    names = {"m": (20, "<i"), "ef_construction": (24, "<i"), "count": (28, "<i"), "entry": (32, "<q"), "end": (40, "<q")}
    for name, value in fields.items():
        at, fmt = names[name]
        struct.pack_into(fmt, data, at, value)
    struct.pack_into("<Q", data, 48, _xxh3(bytes(data[128:])))
    struct.pack_into("<Q", data, 56, _xxh3(bytes(data[:56])))
    path.write_bytes(bytes(data))


def patch_graph_payload(path: Path, offset: int, value: bytes) -> None:
    """Overwrites payload bytes at ``offset`` past the header, keeping both checksums valid."""
    data = bytearray(path.read_bytes())
    at = 128 + offset
    data[at:at + len(value)] = value
    path.write_bytes(bytes(data))
    rewrite_graph(path)
