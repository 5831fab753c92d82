using System.Text;
using System.Text.Json;
using Vega.Core.Hashing;

namespace Vega.Core.Vectors;

/// <summary>A store refuses an id: unknown to a delete, or already present for an add.</summary>
public sealed class VectorIdException(string message) : ArgumentException(message);

/// <summary>
/// A persistent vector store in a directory (docs/vectors.md): immutable segment files plus a MANIFEST
/// naming the live ones and the deleted rows. Every add writes a new segment, then swaps the manifest
/// atomically (temp file, fsync, rename, directory fsync), so a crash loses at most the batch being
/// added and the store always opens. One writer per store (an exclusive lock on its LOCK file);
/// queries run without locks over a snapshot of the segment list, so readers never wait for a writer.
/// </summary>
public sealed class VectorStore : IDisposable
{
    public const int ManifestFormat = 1;
    private const string ManifestName = "MANIFEST";
    private const int BlockRows = 4096;

    private readonly string _directory;
    private readonly FileStream? _lock;
    private readonly object _write = new();
    /// <summary>Held (shared) by every call that reads segment memory, and exclusively by Dispose, which unmaps it.</summary>
    private readonly ReaderWriterLockSlim _mapped = new(LockRecursionPolicy.SupportsRecursion);
    private readonly Dictionary<string, long> _ids = new(StringComparer.Ordinal);
    private volatile Part[] _parts = [];
    private int _nextSegment = 1;
    private long _nextRow;
    private long _deletedCount;
    private bool _disposed;

    /// <summary>A segment in the store: its first global row and its deleted-row marks (1 = deleted).</summary>
    private sealed record Part(Segment Segment, long BaseRow, byte[] Deleted);

    public int Dim { get; }
    public VectorMetric Metric { get; }
    public bool ReadOnly => _lock is null;
    /// <summary>Live rows (added and not deleted).</summary>
    public long Count => Interlocked.Read(ref _nextRow) - Interlocked.Read(ref _deletedCount);
    public int Segments => _parts.Length;

    private VectorStore(string directory, int dim, VectorMetric metric, FileStream? writeLock)
    {
        _directory = directory;
        Dim = dim;
        Metric = metric;
        _lock = writeLock;
    }

    /// <summary>
    /// Opens the store in <paramref name="directory"/>, creating it if <paramref name="create"/> and it has
    /// no manifest (then <paramref name="dim"/> and <paramref name="metric"/> are required). A given dim or
    /// metric must match an existing store's.
    /// </summary>
    public static VectorStore Open(string directory, int dim, VectorMetric? metric, bool create, bool readOnly)
    {
        string manifest = Path.Combine(directory, ManifestName);
        if (!File.Exists(manifest))
        {
            if (!create || readOnly) throw new FileNotFoundException($"{directory}: not a vector store (no {ManifestName})", manifest);
            if (dim <= 0) throw new ArgumentException("dim is needed to create a vector store");
            Directory.CreateDirectory(directory);
        }
        FileStream? writeLock = null;
        if (!readOnly)
        {
            try
            {
                // FileShare.None is an exclusive flock on Unix: a second writer (this process or another) fails.
                writeLock = new FileStream(Path.Combine(directory, "LOCK"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (File.Exists(Path.Combine(directory, "LOCK")))
            {
                throw new IOException($"{directory}: the vector store is already open for writing (by this or another process); open it read-only to query");
            }
        }
        try
        {
            if (!File.Exists(manifest))
            {
                var created = new VectorStore(directory, dim, metric ?? VectorMetric.Cosine, writeLock);
                created.WriteManifest([], created._nextSegment);
                return created;
            }
            return Load(directory, dim, metric, writeLock);
        }
        catch
        {
            writeLock?.Dispose();
            throw;
        }
    }

    private static VectorStore Load(string directory, int dim, VectorMetric? metric, FileStream? writeLock)
    {
        string text = File.ReadAllText(Path.Combine(directory, ManifestName), Encoding.UTF8);
        int mark = text.LastIndexOf("\nxxh3:", StringComparison.Ordinal);
        if (mark < 0) throw new InvalidDataException($"{directory}/{ManifestName}: truncated or not a manifest (no checksum line)");
        string body = text[..(mark + 1)];
        string expected = text[(mark + 6)..].Trim();
        if (HashHex(body) != expected) throw new InvalidDataException($"{directory}/{ManifestName}: corrupted (checksum mismatch)");
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        int format = root.GetProperty("format").GetInt32();
        if (format != ManifestFormat)
            throw new InvalidDataException($"{directory}: written by a newer vegafs (store format {format}; this version reads {ManifestFormat}); upgrade vegafs");
        int storeDim = root.GetProperty("dim").GetInt32();
        var storeMetric = ParseMetric(root.GetProperty("metric").GetString());
        if (dim > 0 && dim != storeDim) throw new ArgumentException($"the store has dim {storeDim}, not {dim}");
        if (metric is not null && metric != storeMetric) throw new ArgumentException($"the store's metric is {MetricName(storeMetric)}, not {MetricName(metric.Value)}");
        var store = new VectorStore(directory, storeDim, storeMetric, writeLock);
        store._nextSegment = root.GetProperty("next_segment").GetInt32();
        var deleted = root.GetProperty("deleted");
        var parts = new List<Part>();
        try
        {
            foreach (var name in root.GetProperty("segments").EnumerateArray())
            {
                string file = name.GetString()!;
                var segment = Segment.Open(Path.Combine(directory, file), storeDim, storeMetric);
                var marks = new byte[segment.Count];
                if (deleted.TryGetProperty(file, out var rows))
                    foreach (var row in rows.EnumerateArray()) marks[row.GetInt64()] = 1;
                parts.Add(new Part(segment, store._nextRow, marks));
                store._nextRow += segment.Count;
            }
        }
        catch
        {
            foreach (var part in parts) part.Segment.Dispose();
            throw;
        }
        store._parts = parts.ToArray();
        foreach (var part in parts)
        {
            for (long row = 0; row < part.Segment.Count; row++)
            {
                if (part.Deleted[row] != 0) { store._deletedCount++; continue; }
                store._ids[Encoding.UTF8.GetString(part.Segment.Id(row))] = part.BaseRow + row;
            }
        }
        if (writeLock is not null) store.RemoveStrayFiles();
        return store;
    }

    /// <summary>Segment files no manifest names are left by an add that crashed before its manifest swap.</summary>
    private void RemoveStrayFiles()
    {
        var live = new HashSet<string>(_parts.Select(p => Path.GetFileName(p.Segment.Path)));
        foreach (string path in Directory.EnumerateFiles(_directory, "seg-*"))
            if (!live.Contains(Path.GetFileName(path))) File.Delete(path);
        foreach (string path in Directory.EnumerateFiles(_directory, "*.tmp")) File.Delete(path);
    }

    public static VectorMetric ParseMetric(string? name) => name switch
    {
        "cosine" => VectorMetric.Cosine,
        "l2" => VectorMetric.L2,
        "ip" => VectorMetric.InnerProduct,
        _ => throw new InvalidDataException($"unknown metric {name}"),
    };

    public static string MetricName(VectorMetric metric) => metric switch
    {
        VectorMetric.Cosine => "cosine",
        VectorMetric.L2 => "l2",
        _ => "ip",
    };

    /// <summary>
    /// Adds <paramref name="count"/> rows (<paramref name="vectors"/> row-major). Ids must be new unless
    /// <paramref name="upsert"/> (then an existing row with the id is replaced). Values must be finite;
    /// cosine vectors must not be zero. All or nothing: a refused batch changes nothing.
    /// </summary>
    public unsafe void Add(float* vectors, long count, IReadOnlyList<string> ids, IReadOnlyList<byte[]> metadata,
                           IReadOnlyList<byte[]> documents, bool upsert)
    {
        if (count < 1) throw new ArgumentException("no vectors to add");
        if (ids.Count != count || metadata.Count != count || documents.Count != count)
            throw new ArgumentException("ids, metadata and documents must have one entry per vector");
        var copy = new float[checked(count * Dim)];
        new ReadOnlySpan<float>(vectors, copy.Length).CopyTo(copy);
        for (long row = 0; row < count; row++)
        {
            var span = copy.AsSpan((int)(row * Dim), Dim);
            foreach (float value in span)
                if (!float.IsFinite(value)) throw new ArgumentException($"vector {row} has a NaN or infinite component");
            if (Metric == VectorMetric.Cosine && !Distances.Normalize(span))
                throw new ArgumentException($"vector {row} is zero: it has no direction for the cosine metric");
        }
        lock (_write)
        {
            CheckWritable();
            var batch = new HashSet<string>(StringComparer.Ordinal);
            var replaced = new List<long>();
            foreach (string id in ids)
            {
                if (!batch.Add(id)) throw new VectorIdException($"duplicate id in the batch: {id}");
                if (_ids.TryGetValue(id, out long existing))
                {
                    if (!upsert) throw new VectorIdException($"id already in the store: {id} (use upsert to replace it)");
                    replaced.Add(existing);
                }
            }
            string name = $"seg-{_nextSegment:D6}.vec";
            string temp = Path.Combine(_directory, name + ".tmp");
            Segment.Write(temp, Dim, Metric, copy, ids.Select(Encoding.UTF8.GetBytes).ToList(), metadata, documents);
            File.Move(temp, Path.Combine(_directory, name));
            var segment = Segment.Open(Path.Combine(_directory, name), Dim, Metric);
            var part = new Part(segment, _nextRow, new byte[count]);
            var before = _parts;
            foreach (long row in replaced) Mark(before, row);
            try { WriteManifest([.. before, part], _nextSegment + 1); }
            catch
            {
                // Back out of memory too, so the store stays what the disk says.
                foreach (long row in replaced) Unmark(before, row);
                segment.Dispose();
                File.Delete(segment.Path); // else the next add's segment name is taken
                throw;
            }
            // Published only now: a reader never sees a segment the manifest does not name.
            _nextSegment++;
            _parts = [.. before, part];
            Interlocked.Add(ref _nextRow, count);
            for (int i = 0; i < ids.Count; i++) _ids[ids[i]] = part.BaseRow + i;
        }
    }

    /// <summary>Deletes rows by id; their space is reclaimed by <see cref="Compact"/>. Unknown ids are refused
    /// (nothing is deleted) unless <paramref name="missingOk"/>. Returns how many were deleted.</summary>
    public long Delete(IReadOnlyList<string> ids, bool missingOk)
    {
        lock (_write)
        {
            CheckWritable();
            var unknown = ids.Where(id => !_ids.ContainsKey(id)).ToList();
            if (unknown.Count > 0 && !missingOk)
                throw new VectorIdException($"unknown ids: {string.Join(", ", unknown.Take(5))}{(unknown.Count > 5 ? $" and {unknown.Count - 5} more" : "")}");
            var rows = ids.Distinct(StringComparer.Ordinal).Where(_ids.ContainsKey).Select(id => _ids[id]).ToList();
            var parts = _parts;
            foreach (long row in rows) Mark(parts, row);
            try { WriteManifest(parts, _nextSegment); }
            catch
            {
                foreach (long row in rows) Unmark(parts, row);
                throw;
            }
            foreach (string id in ids) _ids.Remove(id);
            return rows.Count;
        }
    }

    private void Mark(Part[] parts, long row)
    {
        var (part, local) = Locate(parts, row);
        part.Deleted[local] = 1;
        Interlocked.Increment(ref _deletedCount);
    }

    private void Unmark(Part[] parts, long row)
    {
        var (part, local) = Locate(parts, row);
        part.Deleted[local] = 0;
        Interlocked.Decrement(ref _deletedCount);
    }

    private static (Part Part, long Local) Locate(Part[] parts, long row)
    {
        int lo = 0, hi = parts.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (parts[mid].BaseRow <= row) lo = mid; else hi = mid - 1;
        }
        var part = parts[lo];
        if (row < part.BaseRow || row >= part.BaseRow + part.Segment.Count) throw new ArgumentException($"row {row} is not in the store");
        return (part, row - part.BaseRow);
    }

    /// <summary>The global row of each id, or -1.</summary>
    public void Lookup(IReadOnlyList<string> ids, Span<long> rows)
    {
        lock (_write)
            for (int i = 0; i < ids.Count; i++) rows[i] = _ids.TryGetValue(ids[i], out long row) ? row : -1;
    }

    /// <summary>Id, metadata and document of each row (empty texts for -1 or a deleted row).</summary>
    public List<byte[]> Fetch(ReadOnlySpan<long> rows)
    {
        using var reading = Reading();
        var parts = _parts;
        var texts = new List<byte[]>(rows.Length * 3);
        foreach (long row in rows)
        {
            if (row < 0) { texts.Add([]); texts.Add([]); texts.Add([]); continue; }
            var (part, local) = Locate(parts, row);
            if (part.Deleted[local] != 0) { texts.Add([]); texts.Add([]); texts.Add([]); continue; }
            texts.Add(part.Segment.Id(local).ToArray());
            texts.Add(part.Segment.Metadata(local).ToArray());
            texts.Add(part.Segment.Document(local).ToArray());
        }
        return texts;
    }

    /// <summary>Copies each row's stored vector (normalized for cosine) into <paramref name="output"/>; zeros for -1.</summary>
    public void CopyVectors(ReadOnlySpan<long> rows, Span<float> output)
    {
        using var reading = Reading();
        var parts = _parts;
        for (int i = 0; i < rows.Length; i++)
        {
            var target = output.Slice(i * Dim, Dim);
            if (rows[i] < 0) { target.Clear(); continue; }
            var (part, local) = Locate(parts, rows[i]);
            part.Segment.Row(local).CopyTo(target);
        }
    }

    /// <summary>
    /// Exact k nearest rows for each query: distances (ascending) and global rows, -1 / +inf past the live
    /// count. Rows are scanned in parallel blocks (<paramref name="threads"/> 0: all processors); each block
    /// is compared with every query while it is in cache, so a batch reads the vectors from memory once.
    /// </summary>
    public unsafe void Search(float* queries, long count, int k, int threads, Span<float> distances, Span<long> rows,
                              MetadataFilter? filter = null)
    {
        if (k < 1) throw new ArgumentException("k must be at least 1");
        using var reading = Reading();
        var parts = _parts;
        var blocks = new List<(Part Part, byte[] Skip, long Start, long End)>();
        foreach (var part in parts)
        {
            // Rows to pass over: deleted ones, and with a filter those it refuses (evaluated once per segment).
            byte[] skip = part.Deleted;
            if (filter is not null)
            {
                var admitted = new byte[part.Segment.Count];
                for (int i = 0; i < admitted.Length; i++) admitted[i] = (byte)(skip[i] ^ 1);
                filter.Apply(part.Segment, admitted);
                skip = admitted;
                for (int i = 0; i < skip.Length; i++) skip[i] ^= 1;
            }
            for (long start = 0; start < part.Segment.Count; start += BlockRows)
                blocks.Add((part, skip, start, Math.Min(part.Segment.Count, start + BlockRows)));
        }
        var prepared = new float[checked(count * Dim)];
        new ReadOnlySpan<float>(queries, prepared.Length).CopyTo(prepared);
        for (long q = 0; q < count; q++)
        {
            var query = prepared.AsSpan((int)(q * Dim), Dim);
            foreach (float value in query)
                if (!float.IsFinite(value)) throw new ArgumentException($"query {q} has a NaN or infinite component");
            if (Metric == VectorMetric.Cosine && !Distances.Normalize(query))
                throw new ArgumentException($"query {q} is zero: it has no direction for the cosine metric");
        }
        var best = new TopK[count];
        for (long q = 0; q < count; q++) best[q] = new TopK(k);
        var merge = new object();
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        Parallel.For(0, blocks.Count, options, () => NewTops(count, k), (b, _, local) =>
        {
            var (part, skip, start, end) = blocks[b];
            ScanBlock(part, skip, start, end, prepared, local);
            return local;
        }, local =>
        {
            lock (merge)
                for (long q = 0; q < count; q++) best[q].AddAll(local[q]);
        });
        for (long q = 0; q < count; q++)
        {
            int at = (int)(q * k);
            int found = best[q].Drain(distances.Slice(at, k), rows.Slice(at, k));
            distances.Slice(at + found, k - found).Fill(float.PositiveInfinity);
            rows.Slice(at + found, k - found).Fill(-1);
        }
    }

    private static TopK[] NewTops(long count, int k)
    {
        var tops = new TopK[count];
        for (long q = 0; q < count; q++) tops[q] = new TopK(k);
        return tops;
    }

    /// <summary>Rows per tile: a tile (64 x 128 floats = 32 KiB at dim 128) stays in cache across the queries.</summary>
    private const int TileRows = 64;

    private unsafe void ScanBlock(Part part, byte[] deleted, long start, long end, float[] queries, TopK[] tops)
    {
        float* vectors = part.Segment.Vectors;
        bool l2 = Metric == VectorMetric.L2;
        float* four = stackalloc float[4];
        fixed (float* allQueries = queries)
        {
            for (long tile = start; tile < end; tile += TileRows)
            {
                long tileEnd = Math.Min(end, tile + TileRows);
                for (int q = 0; q < tops.Length; q++)
                {
                    float* query = allQueries + (long)q * Dim;
                    var top = tops[q];
                    float threshold = top.Threshold;
                    long row = tile;
                    for (; tops.Length > 1 && row + 4 <= tileEnd; row += 4)
                    {
                        Distances.Four(l2, query, vectors + row * Dim, Dim, four);
                        for (int j = 0; j < 4; j++)
                        {
                            if (four[j] > threshold || deleted[row + j] != 0) continue;
                            top.Add(four[j], part.BaseRow + row + j);
                            threshold = top.Threshold;
                        }
                    }
                    for (; row < tileEnd; row++)
                    {
                        if (deleted[row] != 0) continue;
                        float distance = Distances.Distance(Metric, new ReadOnlySpan<float>(query, Dim),
                                                            new ReadOnlySpan<float>(vectors + row * Dim, Dim));
                        if (distance <= threshold)
                        {
                            top.Add(distance, part.BaseRow + row);
                            threshold = top.Threshold;
                        }
                    }
                }
            }
        }
    }

    /// <summary>Holds the segments mapped until disposed; throws once the store is closed.</summary>
    private ReadGuard Reading()
    {
        _mapped.EnterReadLock();
        if (_disposed)
        {
            _mapped.ExitReadLock();
            throw new ObjectDisposedException(nameof(VectorStore), "the vector store is closed");
        }
        return new ReadGuard(_mapped);
    }

    private readonly struct ReadGuard(ReaderWriterLockSlim gate) : IDisposable
    {
        public void Dispose() => gate.ExitReadLock();
    }

    private void CheckWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_lock is null) throw new InvalidOperationException("the store is open read-only");
    }

    /// <summary>Writes the manifest atomically: a temp file, fsync, rename over MANIFEST, fsync of the directory.</summary>
    private void WriteManifest(Part[] parts, int nextSegment)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("format", ManifestFormat);
            json.WriteNumber("dim", Dim);
            json.WriteString("metric", MetricName(Metric));
            json.WriteNumber("next_segment", nextSegment);
            json.WriteStartArray("segments");
            foreach (var part in parts) json.WriteStringValue(Path.GetFileName(part.Segment.Path));
            json.WriteEndArray();
            json.WriteStartObject("deleted");
            foreach (var part in parts)
            {
                if (Array.IndexOf(part.Deleted, (byte)1) < 0) continue;
                json.WriteStartArray(Path.GetFileName(part.Segment.Path));
                for (int row = 0; row < part.Deleted.Length; row++)
                    if (part.Deleted[row] != 0) json.WriteNumberValue(row);
                json.WriteEndArray();
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        string body = Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
        string temp = Path.Combine(_directory, ManifestName + ".tmp");
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(Encoding.UTF8.GetBytes(body + "xxh3:" + HashHex(body) + "\n"));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, Path.Combine(_directory, ManifestName), overwrite: true);
        FsyncDirectory(_directory);
    }

    private static string HashHex(string text) => XxHash3.Hash64(Encoding.UTF8.GetBytes(text)).ToString("x16");

    /// <summary>Makes a rename in <paramref name="directory"/> durable (.NET cannot open a directory, so libc does).</summary>
    private static unsafe void FsyncDirectory(string directory)
    {
        byte[] path = Encoding.UTF8.GetBytes(directory + "\0");
        int fd;
        fixed (byte* p = path) fd = Interop.Libc.OpenAt(Interop.Libc.AT_FDCWD, p, Interop.Libc.O_RDONLY | Interop.Libc.O_DIRECTORY | Interop.Libc.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"{directory}: cannot open the directory to fsync it");
        try
        {
            if (Interop.Libc.Fsync(fd) != 0) throw new IOException($"{directory}: fsync of the directory failed");
        }
        finally { Interop.Libc.Close(fd); }
    }

    /// <summary>Closes the store, after queries in progress on other threads have finished.</summary>
    public void Dispose()
    {
        lock (_write)
        {
            _mapped.EnterWriteLock();
            try
            {
                if (_disposed) return;
                _disposed = true;
                foreach (var part in _parts) part.Segment.Dispose();
                _parts = [];
                _lock?.Dispose();
            }
            finally { _mapped.ExitWriteLock(); }
        }
    }
}
