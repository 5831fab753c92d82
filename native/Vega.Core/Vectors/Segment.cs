using System.Buffers.Binary;
using Vega.Core.Files;
using Vega.Core.Hashing;

namespace Vega.Core.Vectors;

/// <summary>
/// One immutable segment file of a vector store: a batch of rows written once, then read whole into
/// private memory. Layout (little-endian, docs/vectors.md): a 128-byte header (magic "VEGAVEC\0", format
/// version, dim, metric, row count, section offsets, an XXH3-64 of the payload and one of the header
/// itself), then the rows' float32 vectors, then three text sections (ids, metadata JSON, documents), each
/// count+1 int64 offsets followed by the bytes and padded to 8 bytes.
///
/// A segment file is not trusted: a store directory is data that users copy and share, and its
/// checksums are plain XXH3 that anyone can recompute. <see cref="Open"/> therefore checks every count
/// and offset against the file's size before anything is addressed through it, and works on its own copy
/// of the bytes (not a mapping of the file), so a file truncated or rewritten afterwards by another
/// process (cp, rsync --inplace) can neither fault the process nor change what was checked.
/// </summary>
public sealed unsafe class Segment : IDisposable
{
    public const int FormatVersion = 1;
    private const int HeaderSize = 128;
    /// <summary>Bytes read or checksummed between two looks at the cancel token (a few ms of work).</summary>
    private const int Chunk = 16 << 20;
    private static ReadOnlySpan<byte> Magic => "VEGAVEC\0"u8;

    private readonly PrivateMemory _memory;
    private readonly long _vectorsAt, _idsAt, _metadataAt, _documentsAt;

    /// <summary>The segment's file name in its store directory.</summary>
    public string Name { get; }
    public int Dim { get; }
    public long Count { get; }
    public VectorMetric Metric { get; }

    private Segment(string name, PrivateMemory memory, int dim, VectorMetric metric, long count,
                    long vectorsAt, long idsAt, long metadataAt, long documentsAt)
    {
        Name = name;
        _memory = memory;
        Dim = dim;
        Metric = metric;
        Count = count;
        _vectorsAt = vectorsAt;
        _idsAt = idsAt;
        _metadataAt = metadataAt;
        _documentsAt = documentsAt;
    }

    private byte* Base => _memory.Pointer != null ? _memory.Pointer : throw new ObjectDisposedException(nameof(Segment));

    /// <summary>The vectors of all rows, row-major (valid until <see cref="Dispose"/>).</summary>
    public float* Vectors => (float*)(Base + _vectorsAt);

    public ReadOnlySpan<float> Row(long row) => new(Vectors + row * Dim, Dim);

    public ReadOnlySpan<byte> Id(long row) => Text(_idsAt, row);
    public ReadOnlySpan<byte> Metadata(long row) => Text(_metadataAt, row);
    public ReadOnlySpan<byte> Document(long row) => Text(_documentsAt, row);

    /// <summary>A row's text: <see cref="Open"/> checked that every section's offsets rise from 0 and stay inside it.</summary>
    private ReadOnlySpan<byte> Text(long section, long row)
    {
        if ((ulong)row >= (ulong)Count) throw new ArgumentOutOfRangeException(nameof(row));
        long* offsets = (long*)(Base + section);
        byte* blob = (byte*)(offsets + Count + 1);
        return new ReadOnlySpan<byte>(blob + offsets[row], (int)(offsets[row + 1] - offsets[row]));
    }

    /// <summary>The vector of row <paramref name="row"/> of a segment being written.</summary>
    public delegate ReadOnlySpan<float> RowSource(long row);

    /// <summary>Writes a segment as the new file <paramref name="name"/> of <paramref name="directory"/> (fsynced before it returns).</summary>
    public static void Write(DirectoryHandle directory, string name, int dim, VectorMetric metric, float[] vectors,
                             IReadOnlyList<byte[]> ids, IReadOnlyList<byte[]> metadata, IReadOnlyList<byte[]> documents,
                             CancellationToken cancel = default) =>
        Write(directory, name, dim, metric, row => vectors.AsSpan((int)(row * dim), dim), ids, metadata, documents, cancel);

    /// <summary>Writes a segment whose rows come one at a time (compaction copies them from other segments without a whole-store buffer).</summary>
    public static void Write(DirectoryHandle directory, string name, int dim, VectorMetric metric, RowSource vectors,
                             IReadOnlyList<byte[]> ids, IReadOnlyList<byte[]> metadata, IReadOnlyList<byte[]> documents,
                             CancellationToken cancel = default)
    {
        long count = ids.Count;
        using var stream = directory.CreateNew(name);
        stream.SetLength(HeaderSize);
        stream.Position = HeaderSize;
        long vectorsAt = HeaderSize;
        int rowsPerCheck = Math.Max(1, Chunk / (dim * sizeof(float)));
        for (long row = 0; row < count; row++)
        {
            if (row % rowsPerCheck == 0) cancel.ThrowIfCancellationRequested();
            var vector = vectors(row);
            if (vector.Length != dim) throw new ArgumentException($"row {row} has {vector.Length} values, not {dim}");
            stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector));
        }
        long idsAt = WriteTexts(stream, ids, cancel);
        long metadataAt = WriteTexts(stream, metadata, cancel);
        long documentsAt = WriteTexts(stream, documents, cancel);
        long end = stream.Position;

        stream.Position = HeaderSize;
        ulong payloadHash = HashStream(stream, end - HeaderSize, cancel);
        Span<byte> header = stackalloc byte[HeaderSize];
        header.Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], dim);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], (int)metric);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], count);
        BinaryPrimitives.WriteInt64LittleEndian(header[32..], vectorsAt);
        BinaryPrimitives.WriteInt64LittleEndian(header[40..], idsAt);
        BinaryPrimitives.WriteInt64LittleEndian(header[48..], metadataAt);
        BinaryPrimitives.WriteInt64LittleEndian(header[56..], documentsAt);
        BinaryPrimitives.WriteInt64LittleEndian(header[64..], end);
        BinaryPrimitives.WriteUInt64LittleEndian(header[72..], payloadHash);
        BinaryPrimitives.WriteUInt64LittleEndian(header[80..], XxHash3.Hash64(header[..80]));
        stream.Position = 0;
        stream.Write(header);
        stream.Flush(flushToDisk: true);
    }

    private static long WriteTexts(FileStream stream, IReadOnlyList<byte[]> texts, CancellationToken cancel)
    {
        long at = stream.Position;
        long offset = 0;
        Span<byte> number = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(number, 0);
        stream.Write(number);
        foreach (var text in texts)
        {
            offset += text.Length;
            BinaryPrimitives.WriteInt64LittleEndian(number, offset);
            stream.Write(number);
        }
        long written = 0;
        foreach (var text in texts)
        {
            stream.Write(text);
            written += text.Length + 64;
            if (written >= Chunk)
            {
                cancel.ThrowIfCancellationRequested();
                written = 0;
            }
        }
        stream.Write(new byte[Padding(stream.Position)]); // keeps the next section's offsets 8-byte aligned
        return at;
    }

    private static long Padding(long position) => (8 - position % 8) % 8;

    private static ulong HashStream(Stream stream, long length, CancellationToken cancel)
    {
        var hasher = Hasher.Create(HashAlgorithmKind.Xxh3_64);
        byte[] buffer = new byte[1 << 20];
        while (length > 0)
        {
            cancel.ThrowIfCancellationRequested();
            int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
            if (n <= 0) throw new InvalidDataException("the segment file ended early while being checksummed");
            hasher.Append(buffer.AsSpan(0, n));
            length -= n;
        }
        Span<byte> digest = stackalloc byte[8];
        hasher.Finish(digest);
        return BinaryPrimitives.ReadUInt64BigEndian(digest);
    }

    /// <summary>
    /// Reads and checks the segment file <paramref name="name"/> of <paramref name="directory"/> (a regular
    /// file, never a symlink). Throws <see cref="InvalidDataException"/> naming the file and the problem for
    /// anything that is not a whole, intact segment of this dim and metric: nothing in it is used unchecked.
    /// </summary>
    public static Segment Open(DirectoryHandle directory, string name, int dim, VectorMetric metric, CancellationToken cancel = default)
    {
        using var file = directory.OpenRead(name);
        long length = RandomAccess.GetLength(file);
        if (length < HeaderSize) throw new InvalidDataException($"{name}: truncated ({length} bytes, shorter than its header)");
        Span<byte> header = stackalloc byte[HeaderSize];
        DirectoryHandle.ReadExactly(file, header, 0, name);
        var layout = Layout.Check(name, header, length, dim, metric);
        var memory = new PrivateMemory(length);
        try
        {
            byte* data = memory.Pointer;
            for (long at = 0; at < length; at += Chunk)
            {
                cancel.ThrowIfCancellationRequested();
                DirectoryHandle.ReadExactly(file, new Span<byte>(data + at, (int)Math.Min(Chunk, length - at)), at, name);
            }
            if (!new ReadOnlySpan<byte>(data, HeaderSize).SequenceEqual(header)) throw new InvalidDataException($"{name}: changed while being read");
            var hasher = Hasher.Create(HashAlgorithmKind.Xxh3_64);
            for (long at = HeaderSize; at < length; at += Chunk)
            {
                cancel.ThrowIfCancellationRequested();
                hasher.Append(new ReadOnlySpan<byte>(data + at, (int)Math.Min(Chunk, length - at)));
            }
            Span<byte> digest = stackalloc byte[8];
            hasher.Finish(digest);
            if (BinaryPrimitives.ReadUInt64BigEndian(digest) != BinaryPrimitives.ReadUInt64LittleEndian(header[72..]))
                throw new InvalidDataException($"{name}: corrupted data (checksum mismatch)");
            layout.CheckTexts(name, data);
            return new Segment(name, memory, dim, metric, layout.Count, HeaderSize, layout.IdsAt, layout.MetadataAt, layout.DocumentsAt);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>Where a segment's sections lie, checked against the file's length before anything is read through them.</summary>
    private readonly record struct Layout(long Count, long IdsAt, long MetadataAt, long DocumentsAt, long End)
    {
        public static Layout Check(string name, ReadOnlySpan<byte> header, long length, int dim, VectorMetric metric)
        {
            if (!header[..8].SequenceEqual(Magic)) throw new InvalidDataException($"{name}: not a vegafs vector segment (bad magic)");
            if (BinaryPrimitives.ReadUInt64LittleEndian(header[80..]) != XxHash3.Hash64(header[..80]))
                throw new InvalidDataException($"{name}: corrupted header (checksum mismatch)");
            int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
            if (version != FormatVersion)
                throw new InvalidDataException($"{name}: format version {version}, but this vegafs reads version {FormatVersion}; upgrade vegafs");
            int fileDim = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
            var fileMetric = (VectorMetric)BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
            if (fileDim != dim || fileMetric != metric)
                throw new InvalidDataException($"{name}: dim {fileDim} / metric {fileMetric}, but the store is dim {dim} / metric {metric}");
            long end = BinaryPrimitives.ReadInt64LittleEndian(header[64..]);
            if (end != length) throw new InvalidDataException($"{name}: truncated or extended ({length} bytes, the header says {end})");
            long count = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
            // Every row needs its vector and three offsets, so the file's length bounds the count.
            if (count < 0 || count > int.MaxValue || count > (length - HeaderSize) / ((long)dim * sizeof(float) + 3 * sizeof(long)))
                throw new InvalidDataException($"{name}: impossible row count {count} for a file of {length} bytes");
            var layout = new Layout(count, BinaryPrimitives.ReadInt64LittleEndian(header[40..]),
                                    BinaryPrimitives.ReadInt64LittleEndian(header[48..]), BinaryPrimitives.ReadInt64LittleEndian(header[56..]), end);
            long tableBytes = (count + 1) * sizeof(long);
            if (BinaryPrimitives.ReadInt64LittleEndian(header[32..]) != HeaderSize || layout.IdsAt != HeaderSize + count * dim * sizeof(float) ||
                layout.MetadataAt < layout.IdsAt + tableBytes || layout.DocumentsAt < layout.MetadataAt + tableBytes ||
                layout.DocumentsAt > end - tableBytes)
                throw new InvalidDataException($"{name}: section offsets do not fit the file (damaged or forged)");
            return layout;
        }

        /// <summary>Each text section's offsets start at 0, never decrease, and its bytes end where the next section begins.</summary>
        public void CheckTexts(string name, byte* data)
        {
            CheckSection(name, data, IdsAt, MetadataAt, "ids");
            CheckSection(name, data, MetadataAt, DocumentsAt, "metadata");
            CheckSection(name, data, DocumentsAt, End, "documents");
        }

        private void CheckSection(string name, byte* data, long at, long next, string what)
        {
            long* offsets = (long*)(data + at);
            long blobAt = at + (Count + 1) * sizeof(long);
            if (offsets[0] != 0) throw new InvalidDataException($"{name}: the {what} offsets do not start at 0 (damaged or forged)");
            for (long row = 0; row < Count; row++)
            {
                long size = offsets[row + 1] - offsets[row];
                if (offsets[row + 1] < offsets[row] || size > int.MaxValue)
                    throw new InvalidDataException($"{name}: the {what} offset of row {row + 1} is out of order (damaged or forged)");
            }
            long blobEnd = blobAt + offsets[Count];
            if (offsets[Count] > next - blobAt || blobEnd + Padding(blobEnd) != next)
                throw new InvalidDataException($"{name}: the {what} section does not end where the next begins (damaged or forged)");
        }
    }

    public void Dispose() => _memory.Dispose();
}
