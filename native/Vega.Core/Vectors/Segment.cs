using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using Vega.Core.Hashing;

namespace Vega.Core.Vectors;

/// <summary>
/// One immutable segment file of a vector store: a batch of rows written once, then memory-mapped.
/// Layout (little-endian, docs/vectors.md): a 128-byte header (magic "VEGAVEC\0", format version, dim,
/// metric, row count, section offsets, an XXH3-64 of the payload and one of the header itself), then the
/// rows' float32 vectors, then three text sections (ids, metadata JSON, documents), each count+1 int64
/// offsets followed by the bytes. A file that is truncated, corrupted, of another format version or of
/// another dim or metric is refused with a message saying which, before anything is read from it.
/// </summary>
public sealed unsafe class Segment : IDisposable
{
    public const int FormatVersion = 1;
    private const int HeaderSize = 128;
    private static ReadOnlySpan<byte> Magic => "VEGAVEC\0"u8;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _vectorsAt, _idsAt, _metadataAt, _documentsAt;

    public string Path { get; }
    public int Dim { get; }
    public long Count { get; }
    public VectorMetric Metric { get; }

    private Segment(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* data, int dim, VectorMetric metric,
                    long count, long vectorsAt, long idsAt, long metadataAt, long documentsAt)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = data;
        Dim = dim;
        Metric = metric;
        Count = count;
        _vectorsAt = vectorsAt;
        _idsAt = idsAt;
        _metadataAt = metadataAt;
        _documentsAt = documentsAt;
    }

    /// <summary>The vectors of all rows, row-major (valid until <see cref="Dispose"/>).</summary>
    public float* Vectors => (float*)(_base + _vectorsAt);

    public ReadOnlySpan<float> Row(long row) => new(Vectors + row * Dim, Dim);

    public ReadOnlySpan<byte> Id(long row) => Text(_idsAt, row);
    public ReadOnlySpan<byte> Metadata(long row) => Text(_metadataAt, row);
    public ReadOnlySpan<byte> Document(long row) => Text(_documentsAt, row);

    private ReadOnlySpan<byte> Text(long section, long row)
    {
        long* offsets = (long*)(_base + section);
        byte* blob = (byte*)(offsets + Count + 1);
        return new ReadOnlySpan<byte>(blob + offsets[row], (int)(offsets[row + 1] - offsets[row]));
    }

    /// <summary>The vector of row <paramref name="row"/> of a segment being written.</summary>
    public delegate ReadOnlySpan<float> RowSource(long row);

    /// <summary>Writes a segment to <paramref name="path"/> (a new file, fsynced before it returns).</summary>
    public static void Write(string path, int dim, VectorMetric metric, float[] vectors,
                             IReadOnlyList<byte[]> ids, IReadOnlyList<byte[]> metadata, IReadOnlyList<byte[]> documents) =>
        Write(path, dim, metric, row => vectors.AsSpan((int)(row * dim), dim), ids, metadata, documents);

    /// <summary>Writes a segment whose rows come one at a time (compaction copies them from other segments without a whole-store buffer).</summary>
    public static void Write(string path, int dim, VectorMetric metric, RowSource vectors,
                             IReadOnlyList<byte[]> ids, IReadOnlyList<byte[]> metadata, IReadOnlyList<byte[]> documents)
    {
        long count = ids.Count;
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        stream.SetLength(HeaderSize);
        stream.Position = HeaderSize;
        long vectorsAt = HeaderSize;
        for (long row = 0; row < count; row++)
        {
            var vector = vectors(row);
            if (vector.Length != dim) throw new ArgumentException($"row {row} has {vector.Length} values, not {dim}");
            stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector));
        }
        long idsAt = WriteTexts(stream, ids);
        long metadataAt = WriteTexts(stream, metadata);
        long documentsAt = WriteTexts(stream, documents);
        long end = stream.Position;

        stream.Position = HeaderSize;
        ulong payloadHash = HashStream(stream, end - HeaderSize);
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

    private static long WriteTexts(FileStream stream, IReadOnlyList<byte[]> texts)
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
        foreach (var text in texts) stream.Write(text);
        // Keep the next section's offsets 8-byte aligned.
        int pad = (int)((8 - stream.Position % 8) % 8);
        for (int i = 0; i < pad; i++) stream.WriteByte(0);
        return at;
    }

    private static ulong HashStream(Stream stream, long length)
    {
        var hasher = Hasher.Create(HashAlgorithmKind.Xxh3_64);
        byte[] buffer = new byte[1 << 20];
        while (length > 0)
        {
            int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
            if (n <= 0) throw new InvalidDataException("the segment file ended early while being checksummed");
            hasher.Append(buffer.AsSpan(0, n));
            length -= n;
        }
        Span<byte> digest = stackalloc byte[8];
        hasher.Finish(digest);
        return BinaryPrimitives.ReadUInt64BigEndian(digest);
    }

    /// <summary>Maps and checks a segment file. Throws <see cref="InvalidDataException"/> naming the problem.</summary>
    public static Segment Open(string path, int dim, VectorMetric metric)
    {
        long length = new FileInfo(path).Length;
        string name = System.IO.Path.GetFileName(path);
        if (length < HeaderSize) throw new InvalidDataException($"{name}: truncated ({length} bytes, shorter than its header)");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* data = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref data);
            data += view.PointerOffset;
            var header = new ReadOnlySpan<byte>(data, HeaderSize);
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
            long count = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
            long end = BinaryPrimitives.ReadInt64LittleEndian(header[64..]);
            if (end != length) throw new InvalidDataException($"{name}: truncated or extended ({length} bytes, the header says {end})");
            var hasher = Hasher.Create(HashAlgorithmKind.Xxh3_64);
            for (long at = HeaderSize; at < end; at += 1 << 30)
                hasher.Append(new ReadOnlySpan<byte>(data + at, (int)Math.Min(1 << 30, end - at)));
            Span<byte> digest = stackalloc byte[8];
            hasher.Finish(digest);
            if (BinaryPrimitives.ReadUInt64BigEndian(digest) != BinaryPrimitives.ReadUInt64LittleEndian(header[72..]))
                throw new InvalidDataException($"{name}: corrupted data (checksum mismatch)");
            var segment = new Segment(path, map, view, data, fileDim, fileMetric, count,
                BinaryPrimitives.ReadInt64LittleEndian(header[32..]), BinaryPrimitives.ReadInt64LittleEndian(header[40..]),
                BinaryPrimitives.ReadInt64LittleEndian(header[48..]), BinaryPrimitives.ReadInt64LittleEndian(header[56..]));
            return segment;
        }
        catch
        {
            if (view is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                view.Dispose();
            }
            map.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
