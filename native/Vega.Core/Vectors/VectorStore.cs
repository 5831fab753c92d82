using System.Text;
using System.Text.Json;
using Vega.Core.Hashing;

namespace Vega.Core.Vectors;

/// <summary>A store refuses an id: unknown to a delete, or already present for an add.</summary>
public sealed class VectorIdException(string message) : ArgumentException(message);

/// <summary>
/// Which index a store keeps besides its rows: none (exact search only) or an HNSW graph. A setting of 0
/// means "as the store has it" (or the default for a new graph).
/// </summary>
public sealed record IndexOptions(bool Hnsw, HnswSettings Settings)
{
    public static readonly IndexOptions Flat = new(false, default);
}

/// <summary>
/// A persistent vector store in a directory (docs/vectors.md): immutable segment files plus a MANIFEST
/// naming the live ones, the deleted rows and the index. Every add writes a new segment, then swaps the
/// manifest atomically (temp file, fsync, rename, directory fsync), so a crash loses at most the batch
/// being added and the store always opens. One writer per store (an exclusive lock on its LOCK file);
/// queries run without locks over a snapshot of the store (<see cref="View"/>), so readers never wait
/// for a writer.
///
/// An HNSW graph, when the store has one, covers a prefix of the rows and is a checkpointed cache: rows
/// past it are searched exactly, so results never miss a row while the graph catches up
/// (<see cref="IndexPending"/>), after a crash, or while a read-only reader has an older checkpoint.
/// </summary>
public sealed class VectorStore : IDisposable
{
    public const int ManifestFormat = 1;
    private const string ManifestName = "MANIFEST";
    private const string SnapshotsName = "snapshots";
    private const int BlockRows = 4096;

    private readonly string _directory;
    private readonly FileStream? _lock;
    private readonly object _write = new();
    /// <summary>Held (shared) by every call that reads segment memory, and exclusively by whoever unmaps it.</summary>
    private readonly ReaderWriterLockSlim _mapped = new(LockRecursionPolicy.SupportsRecursion);
    private readonly Dictionary<string, long> _ids = new(StringComparer.Ordinal);
    private volatile View _view = new([], 0, null);
    private int _nextSegment = 1;
    private long _deletedCount;
    /// <summary>The graph file the manifest names and how many rows it covers.</summary>
    private string? _graphFile;
    private int _graphRows;
    private bool _disposed;

    /// <summary>A segment in the store: its first global row and its deleted-row marks (1 = deleted).</summary>
    private sealed record Part(Segment Segment, long BaseRow, byte[] Deleted);

    /// <summary>What a query reads, published whole so a query never mixes two numberings of the rows.</summary>
    private sealed record View(Part[] Parts, long Rows, HnswGraph? Graph);

    public int Dim { get; }
    public VectorMetric Metric { get; }
    public bool ReadOnly => _lock is null;
    /// <summary>Live rows (added and not deleted).</summary>
    public long Count => _view.Rows - Interlocked.Read(ref _deletedCount);
    public int Segments => _view.Parts.Length;
    /// <summary>The HNSW settings, or null for a store searched exactly.</summary>
    public HnswSettings? Hnsw => _view.Graph?.Settings;
    /// <summary>Rows in the HNSW graph (0 without one); the rest are searched exactly until indexed.</summary>
    public long IndexedRows => _view.Graph?.Count ?? 0;
    public long PendingRows => _view.Graph is null ? 0 : _view.Rows - _view.Graph.Count;

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
    /// metric must match an existing store's. <paramref name="index"/> null keeps the store's index; another
    /// one replaces it (a new graph is empty and fills through <see cref="IndexPending"/>).
    /// </summary>
    public static VectorStore Open(string directory, int dim, VectorMetric? metric, bool create, bool readOnly, IndexOptions? index = null)
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
        VectorStore? store = null;
        try
        {
            if (!File.Exists(manifest))
            {
                store = new VectorStore(directory, dim, metric ?? VectorMetric.Cosine, writeLock);
                if (index is { Hnsw: true }) store._view = new View([], 0, new HnswGraph(store.Dim, store.Metric, Resolve(index.Settings, null)));
                store.WriteManifest(directory, store._view, store._nextSegment);
                return store;
            }
            var read = ReadManifest(directory);
            if (dim > 0 && dim != read.Dim) throw new ArgumentException($"the store has dim {read.Dim}, not {dim}");
            if (metric is not null && metric != read.Metric) throw new ArgumentException($"the store's metric is {MetricName(read.Metric)}, not {MetricName(metric.Value)}");
            store = new VectorStore(directory, read.Dim, read.Metric, writeLock);
            store.Apply(directory, read);
            if (index is not null) store.ChangeIndex(index);
            if (writeLock is not null) store.RemoveStrayFiles();
            return store;
        }
        catch
        {
            if (store is not null) store.Dispose();
            else writeLock?.Dispose();
            throw;
        }
    }

    /// <summary>A manifest as read and checked from disk.</summary>
    private sealed record Manifest(int Dim, VectorMetric Metric, int NextSegment, List<string> Segments,
                                   Dictionary<string, long[]> Deleted, HnswSettings? Hnsw, string? Graph, int GraphRows);

    private static Manifest ReadManifest(string directory)
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
        var deleted = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var entry in root.GetProperty("deleted").EnumerateObject())
            deleted[entry.Name] = entry.Value.EnumerateArray().Select(row => row.GetInt64()).ToArray();
        HnswSettings? hnsw = null;
        string? graph = null;
        int graphRows = 0;
        if (root.TryGetProperty("index", out var index) && index.GetProperty("kind").GetString() == "hnsw")
        {
            hnsw = new HnswSettings(index.GetProperty("M").GetInt32(), index.GetProperty("ef_construction").GetInt32(), index.GetProperty("ef").GetInt32());
            hnsw.Value.Check();
            graph = index.GetProperty("graph").GetString();
            if (graph == "") graph = null;
            graphRows = index.GetProperty("graph_rows").GetInt32();
        }
        return new Manifest(root.GetProperty("dim").GetInt32(), ParseMetric(root.GetProperty("metric").GetString()),
                            root.GetProperty("next_segment").GetInt32(),
                            root.GetProperty("segments").EnumerateArray().Select(name => name.GetString()!).ToList(),
                            deleted, hnsw, graph, graphRows);
    }

    /// <summary>Maps the manifest's segments (from <paramref name="directory"/>) and its graph, and publishes them as this store's state.</summary>
    private void Apply(string directory, Manifest manifest)
    {
        var parts = new List<Part>();
        long rows = 0;
        try
        {
            foreach (string file in manifest.Segments)
            {
                var segment = Segment.Open(Path.Combine(directory, file), Dim, Metric);
                var marks = new byte[segment.Count];
                parts.Add(new Part(segment, rows, marks));
                rows += segment.Count;
                if (!manifest.Deleted.TryGetValue(file, out var deleted)) continue;
                foreach (long row in deleted)
                {
                    if ((ulong)row >= (ulong)segment.Count) throw new InvalidDataException($"{directory}/{ManifestName}: deleted row {row} is not in {file}");
                    marks[row] = 1;
                }
            }
            HnswGraph? graph = null;
            if (manifest.Hnsw is { } settings)
            {
                if (manifest.Graph is null || manifest.GraphRows > rows) graph = new HnswGraph(Dim, Metric, settings);
                else graph = HnswGraph.Load(Path.Combine(directory, manifest.Graph), Dim, Metric, settings.Ef,
                                            VectorPointers(parts.ToArray(), 0, manifest.GraphRows));
            }
            _ids.Clear();
            long deletedCount = 0;
            foreach (var part in parts)
            {
                for (long row = 0; row < part.Segment.Count; row++)
                {
                    if (part.Deleted[row] != 0) { deletedCount++; continue; }
                    _ids[Encoding.UTF8.GetString(part.Segment.Id(row))] = part.BaseRow + row;
                }
            }
            _nextSegment = Math.Max(_nextSegment, manifest.NextSegment);
            _deletedCount = deletedCount;
            _graphFile = graph is null ? null : manifest.Graph;
            _graphRows = graph?.Count ?? 0;
            _view = new View(parts.ToArray(), rows, graph);
        }
        catch
        {
            foreach (var part in parts) part.Segment.Dispose();
            throw;
        }
    }

    private static nint[] VectorPointers(Part[] parts, long first, long count)
    {
        var pointers = new nint[count];
        for (long i = 0; i < count; i++)
        {
            var (part, local) = Locate(parts, first + i);
            unsafe { pointers[i] = (nint)(part.Segment.Vectors + local * part.Segment.Dim); }
        }
        return pointers;
    }

    /// <summary>Switches the index: a new kind or graph settings start an empty graph; a new ef alone is only saved.</summary>
    private void ChangeIndex(IndexOptions index)
    {
        var view = _view;
        if (index.Hnsw) index = index with { Settings = Resolve(index.Settings, view.Graph?.Settings) };
        bool same = index.Hnsw == (view.Graph is not null) &&
                    (!index.Hnsw || (view.Graph!.Settings.M == index.Settings.M && view.Graph.Settings.EfConstruction == index.Settings.EfConstruction));
        if (same && (!index.Hnsw || view.Graph!.Settings.Ef == index.Settings.Ef)) return;
        if (ReadOnly) throw new ArgumentException("the store's index differs from the one asked for; open it for writing to change the index");
        lock (_write)
        {
            if (same)
            {
                view.Graph!.SetEf(index.Settings.Ef);
                WriteManifest(_directory, view, _nextSegment);
                return;
            }
            var graph = index.Hnsw ? new HnswGraph(Dim, Metric, index.Settings) : null;
            string? oldFile = _graphFile;
            var changed = view with { Graph = graph };
            _graphFile = null;
            _graphRows = 0;
            WriteManifest(_directory, changed, _nextSegment);
            _view = changed;
            if (oldFile is not null) File.Delete(Path.Combine(_directory, oldFile));
        }
    }

    private static HnswSettings Resolve(HnswSettings asked, HnswSettings? current)
    {
        var resolved = new HnswSettings(asked.M > 0 ? asked.M : current?.M ?? HnswSettings.DefaultM,
                                        asked.EfConstruction > 0 ? asked.EfConstruction : current?.EfConstruction ?? HnswSettings.DefaultEfConstruction,
                                        asked.Ef > 0 ? asked.Ef : current?.Ef ?? HnswSettings.DefaultEf);
        resolved.Check();
        return resolved;
    }

    /// <summary>Files no manifest names: segments of an add that crashed before its manifest swap, old graph checkpoints, temp files.</summary>
    private void RemoveStrayFiles()
    {
        var live = new HashSet<string>(_view.Parts.Select(p => Path.GetFileName(p.Segment.Path)));
        if (_graphFile is not null) live.Add(_graphFile);
        foreach (string pattern in new[] { "seg-*", "hnsw-*" })
            foreach (string path in Directory.EnumerateFiles(_directory, pattern))
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
            var view = _view;
            if (view.Graph is not null && view.Rows + count > int.MaxValue) throw new ArgumentException("a store with an HNSW index holds at most 2^31-1 rows");
            string name = $"seg-{_nextSegment:D6}.vec";
            string temp = Path.Combine(_directory, name + ".tmp");
            Segment.Write(temp, Dim, Metric, copy, ids.Select(Encoding.UTF8.GetBytes).ToList(), metadata, documents);
            File.Move(temp, Path.Combine(_directory, name));
            var segment = Segment.Open(Path.Combine(_directory, name), Dim, Metric);
            var part = new Part(segment, view.Rows, new byte[count]);
            foreach (long row in replaced) Mark(view.Parts, row);
            var added = view with { Parts = [.. view.Parts, part], Rows = view.Rows + count };
            try { WriteManifest(_directory, added, _nextSegment + 1); }
            catch
            {
                // Back out of memory too, so the store stays what the disk says.
                foreach (long row in replaced) Unmark(view.Parts, row);
                segment.Dispose();
                File.Delete(segment.Path); // else the next add's segment name is taken
                throw;
            }
            // Published only now: a reader never sees a segment the manifest does not name.
            _nextSegment++;
            _view = added;
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
            var view = _view;
            foreach (long row in rows) Mark(view.Parts, row);
            try { WriteManifest(_directory, view, _nextSegment); }
            catch
            {
                foreach (long row in rows) Unmark(view.Parts, row);
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
        var texts = new List<byte[]>(rows.Length * 3);
        FetchInto(_view.Parts, rows, texts, ignoreDeleted: false);
        return texts;
    }

    /// <param name="ignoreDeleted">Return a deleted row's texts anyway (a search's rows were live when it read them).</param>
    private static void FetchInto(Part[] parts, ReadOnlySpan<long> rows, List<byte[]> texts, bool ignoreDeleted)
    {
        foreach (long row in rows)
        {
            if (row < 0) { texts.Add([]); texts.Add([]); texts.Add([]); continue; }
            var (part, local) = Locate(parts, row);
            if (!ignoreDeleted && part.Deleted[local] != 0) { texts.Add([]); texts.Add([]); texts.Add([]); continue; }
            texts.Add(part.Segment.Id(local).ToArray());
            texts.Add(Copy(part.Segment.Metadata(local)));
            texts.Add(Copy(part.Segment.Document(local)));
        }
    }

    private static byte[] Copy(ReadOnlySpan<byte> text) => text.IsEmpty ? [] : text.ToArray();

    /// <summary>Copies each row's stored vector (normalized for cosine) into <paramref name="output"/>; zeros for -1.</summary>
    public void CopyVectors(ReadOnlySpan<long> rows, Span<float> output)
    {
        using var reading = Reading();
        var parts = _view.Parts;
        for (int i = 0; i < rows.Length; i++)
        {
            var target = output.Slice(i * Dim, Dim);
            if (rows[i] < 0) { target.Clear(); continue; }
            var (part, local) = Locate(parts, rows[i]);
            part.Segment.Row(local).CopyTo(target);
        }
    }

    /// <summary>
    /// The k nearest rows of each query: distances (ascending) and global rows, -1 / +inf past the rows
    /// found. Without an HNSW graph (or with <paramref name="exact"/>) every live row is compared: rows are
    /// scanned in parallel blocks (<paramref name="threads"/> 0: all processors), each block against every
    /// query while it is in cache, so a batch reads the vectors from memory once. With a graph, its rows are
    /// searched with beam width max(<paramref name="ef"/> (0: the saved ef), k), queries in parallel, and
    /// rows past it exactly. A filter admitting under a tenth of the graph's rows is searched exactly, which
    /// then costs less than a graph walk through mostly refused nodes, and finds every admitted row.
    /// </summary>
    /// <param name="texts">If given, receives the id, metadata and document of each result row (as
    /// <see cref="Fetch"/>), read from the same state the search saw: a compaction or delete between a
    /// search and a separate fetch could otherwise renumber or empty the rows.</param>
    public unsafe void Search(float* queries, long count, int k, int threads, Span<float> distances, Span<long> rows,
                              MetadataFilter? filter = null, int ef = 0, bool exact = false, List<byte[]>? texts = null)
    {
        if (k < 1) throw new ArgumentException("k must be at least 1");
        if (ef < 0) throw new ArgumentException("ef must be positive");
        using var reading = Reading();
        var view = _view;
        var parts = view.Parts;
        var graph = exact ? null : view.Graph;
        int graphRows = graph is null ? 0 : (int)Math.Min(graph.Count, view.Rows);
        // Rows to pass over, per part: deleted ones, and with a filter those it refuses (evaluated once per segment).
        var skips = new byte[parts.Length][];
        long admittedInGraph = 0;
        for (int p = 0; p < parts.Length; p++)
        {
            var part = parts[p];
            skips[p] = part.Deleted;
            if (filter is null) continue;
            var admitted = new byte[part.Segment.Count];
            for (int i = 0; i < admitted.Length; i++) admitted[i] = (byte)(part.Deleted[i] ^ 1);
            filter.Apply(part.Segment, admitted);
            for (long i = 0; i < Math.Min(admitted.Length, graphRows - part.BaseRow); i++) admittedInGraph += admitted[i];
            for (int i = 0; i < admitted.Length; i++) admitted[i] ^= 1;
            skips[p] = admitted;
        }
        if (filter is not null && admittedInGraph * 10 < graphRows) graphRows = 0;
        var blocks = new List<(Part Part, byte[] Skip, long Start, long End)>();
        for (int p = 0; p < parts.Length; p++)
        {
            var part = parts[p];
            long first = Math.Max(0, graphRows - part.BaseRow);
            for (long start = first; start < part.Segment.Count; start += BlockRows)
                blocks.Add((part, skips[p], start, Math.Min(part.Segment.Count, start + BlockRows)));
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
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        if (graphRows > 0)
        {
            int beam = Math.Max(k, ef > 0 ? ef : graph!.Settings.Ef);
            byte[] skip = GraphSkip(parts, skips, graphRows);
            Parallel.For(0, count, options, q =>
            {
                fixed (float* query = &prepared[q * Dim])
                    graph!.Search(query, beam, new HnswGraph.Admission(graphRows, skip), best[q]);
            });
        }
        if (blocks.Count > 0) ScanBlocks(blocks, prepared, best, k, options);
        Drain(best, k, distances, rows);
        if (texts is not null) FetchInto(parts, rows, texts, ignoreDeleted: true);
    }

    private void ScanBlocks(List<(Part Part, byte[] Skip, long Start, long End)> blocks, float[] prepared, TopK[] best, int k, ParallelOptions options)
    {
        long count = best.Length;
        var merge = new object();
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
    }

    private static void Drain(TopK[] best, int k, Span<float> distances, Span<long> rows)
    {
        for (int q = 0; q < best.Length; q++)
        {
            int at = q * k;
            int found = best[q].Drain(distances.Slice(at, k), rows.Slice(at, k));
            distances.Slice(at + found, k - found).Fill(float.PositiveInfinity);
            rows.Slice(at + found, k - found).Fill(-1);
        }
    }

    /// <summary>The skip marks of the graph's rows as one array indexed by row (empty when nothing is skipped); copied only when the rows span several segments.</summary>
    private static byte[] GraphSkip(Part[] parts, byte[][] skips, int graphRows)
    {
        bool any = false;
        for (int p = 0; p < parts.Length && parts[p].BaseRow < graphRows && !any; p++)
            any = Array.IndexOf(skips[p], (byte)1) >= 0;
        if (!any) return [];
        if (parts.Length == 1) return skips[0]; // row = index already; the graph never reads past graphRows
        var skip = new byte[graphRows];
        for (int p = 0; p < parts.Length && parts[p].BaseRow < graphRows; p++)
        {
            int length = (int)Math.Min(skips[p].Length, graphRows - parts[p].BaseRow);
            skips[p].AsSpan(0, length).CopyTo(skip.AsSpan((int)parts[p].BaseRow));
        }
        return skip;
    }

    /// <summary>
    /// Inserts up to <paramref name="maxRows"/> rows not yet in the HNSW graph (in parallel over
    /// <paramref name="threads"/>) and returns how many are still pending. Queries keep running meanwhile.
    /// The graph is saved (a checkpoint named by the manifest) once it has grown by half since the last
    /// save; <see cref="Flush"/> saves it at once.
    /// </summary>
    public long IndexPending(long maxRows, int threads, CancellationToken cancel = default)
    {
        if (maxRows < 1) throw new ArgumentException("maxRows must be at least 1");
        lock (_write)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var view = _view;
            if (view.Graph is not { } graph) return 0;
            long pending = view.Rows - graph.Count;
            if (pending == 0) return 0;
            long take = Math.Min(pending, maxRows);
            using (Reading())
                graph.Insert(VectorPointers(view.Parts, graph.Count, take), threads, cancel);
            pending -= take;
            if (!ReadOnly && graph.Count - _graphRows >= Math.Max(4096, _graphRows / 2)) SaveGraph(view);
            return pending;
        }
    }

    /// <summary>Saves the HNSW graph if it has rows its last checkpoint lacks. Rows are always durable already.</summary>
    public void Flush()
    {
        lock (_write)
        {
            CheckWritable();
            var view = _view;
            if (view.Graph is not null && view.Graph.Count != _graphRows) SaveGraph(view);
        }
    }

    /// <summary>Writes the graph to a new checkpoint file, names it in the manifest, and removes the previous one.</summary>
    private void SaveGraph(View view)
    {
        string name = $"hnsw-{_nextSegment:D6}.idx";
        string temp = Path.Combine(_directory, name + ".tmp");
        view.Graph!.Save(temp);
        File.Move(temp, Path.Combine(_directory, name));
        string? previous = _graphFile;
        int previousRows = _graphRows;
        _graphFile = name;
        _graphRows = view.Graph.Count;
        try { WriteManifest(_directory, view, _nextSegment + 1); }
        catch
        {
            _graphFile = previous;
            _graphRows = previousRows;
            File.Delete(Path.Combine(_directory, name));
            throw;
        }
        _nextSegment++;
        if (previous is not null) File.Delete(Path.Combine(_directory, previous));
    }

    /// <summary>
    /// Rewrites the live rows into one segment, dropping deleted rows for good, and returns how many rows
    /// were reclaimed. Rows are renumbered when some were deleted, so the HNSW graph then starts again empty
    /// (and is rebuilt through <see cref="IndexPending"/>); a merge without deletions keeps it. Snapshots
    /// keep the old segments through their own links.
    /// </summary>
    public long Compact()
    {
        lock (_write)
        {
            CheckWritable();
            var view = _view;
            long reclaimed = Interlocked.Read(ref _deletedCount);
            if (view.Parts.Length <= 1 && reclaimed == 0) return 0;
            var live = new List<(Part Part, long Local)>();
            foreach (var part in view.Parts)
                for (long row = 0; row < part.Segment.Count; row++)
                    if (part.Deleted[row] == 0) live.Add((part, row));
            string name = $"seg-{_nextSegment:D6}.vec";
            string temp = Path.Combine(_directory, name + ".tmp");
            var parts = new List<Part>();
            if (live.Count > 0)
            {
                Segment.Write(temp, Dim, Metric, row => live[(int)row].Part.Segment.Row(live[(int)row].Local),
                              live.Select(r => r.Part.Segment.Id(r.Local).ToArray()).ToList(),
                              live.Select(r => r.Part.Segment.Metadata(r.Local).ToArray()).ToList(),
                              live.Select(r => r.Part.Segment.Document(r.Local).ToArray()).ToList());
                File.Move(temp, Path.Combine(_directory, name));
                parts.Add(new Part(Segment.Open(Path.Combine(_directory, name), Dim, Metric), 0, new byte[live.Count]));
            }
            bool renumbered = reclaimed > 0;
            var graph = view.Graph is null ? null : renumbered ? new HnswGraph(Dim, Metric, view.Graph.Settings) : view.Graph;
            var compacted = new View(parts.ToArray(), live.Count, graph);
            string? oldGraph = _graphFile;
            int oldGraphRows = _graphRows;
            if (renumbered)
            {
                _graphFile = null;
                _graphRows = 0;
            }
            try { WriteManifest(_directory, compacted, _nextSegment + 1); }
            catch
            {
                _graphFile = oldGraph;
                _graphRows = oldGraphRows;
                foreach (var part in parts) { part.Segment.Dispose(); File.Delete(part.Segment.Path); }
                throw;
            }
            _nextSegment++;
            // A kept graph still points into the old segments, which are unmapped below.
            if (!renumbered && graph is not null) graph.Repoint(VectorPointers(compacted.Parts, 0, graph.Count));
            _view = compacted;
            _ids.Clear();
            for (int row = 0; row < live.Count; row++) _ids[Encoding.UTF8.GetString(live[row].Part.Segment.Id(live[row].Local))] = row;
            Interlocked.Exchange(ref _deletedCount, 0);
            Retire(view.Parts);
            if (renumbered && oldGraph is not null) File.Delete(Path.Combine(_directory, oldGraph));
            return reclaimed;
        }
    }

    /// <summary>Unmaps and deletes segments no longer in the store, once queries that may read them have finished.</summary>
    private void Retire(Part[] parts)
    {
        var live = new HashSet<string>(_view.Parts.Select(p => p.Segment.Path));
        _mapped.EnterWriteLock();
        try
        {
            foreach (var part in parts) part.Segment.Dispose();
        }
        finally { _mapped.ExitWriteLock(); }
        foreach (var part in parts)
            if (!live.Contains(part.Segment.Path)) File.Delete(part.Segment.Path);
    }

    /// <summary>A snapshot name: a file name of letters, digits, '.', '_' and '-' not starting with '.'.</summary>
    private string SnapshotDirectory(string name)
    {
        if (name.Length is 0 or > 200 || name[0] == '.' || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            throw new ArgumentException($"a snapshot name must be 1-200 letters, digits, '.', '_' or '-', not starting with '.': {name}");
        return Path.Combine(_directory, SnapshotsName, name);
    }

    /// <summary>
    /// Records the store as it is now under <paramref name="name"/>: hard links to its segments and graph
    /// checkpoint (immutable files, so nothing is copied) and a copy of the manifest, in
    /// snapshots/<paramref name="name"/>, made under a temp name and renamed into place when complete.
    /// </summary>
    public void Snapshot(string name)
    {
        lock (_write)
        {
            CheckWritable();
            string target = SnapshotDirectory(name);
            if (Directory.Exists(target)) throw new ArgumentException($"a snapshot named {name} exists already");
            var view = _view;
            if (view.Graph is not null && view.Graph.Count != _graphRows) SaveGraph(view);
            string snapshots = Path.Combine(_directory, SnapshotsName);
            Directory.CreateDirectory(snapshots);
            string temp = Path.Combine(snapshots, $".{name}.tmp");
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            Directory.CreateDirectory(temp);
            try
            {
                var files = view.Parts.Select(p => Path.GetFileName(p.Segment.Path)).ToList();
                if (_graphFile is not null) files.Add(_graphFile);
                foreach (string file in files) HardLink(Path.Combine(_directory, file), Path.Combine(temp, file));
                WriteManifest(temp, view, _nextSegment);
                Directory.Move(temp, target);
                FsyncDirectory(snapshots);
            }
            catch
            {
                if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
                throw;
            }
        }
    }

    /// <summary>Makes the store what snapshot <paramref name="name"/> recorded (the snapshot stays). Queries running meanwhile finish on the old state.</summary>
    public void Restore(string name)
    {
        lock (_write)
        {
            CheckWritable();
            string source = SnapshotDirectory(name);
            if (!File.Exists(Path.Combine(source, ManifestName))) throw new ArgumentException($"no snapshot named {name}");
            var manifest = ReadManifest(source);
            if (manifest.Dim != Dim || manifest.Metric != Metric) throw new InvalidDataException($"snapshot {name} is of another dim or metric than the store");
            var files = new List<string>(manifest.Segments);
            if (manifest.Graph is not null) files.Add(manifest.Graph);
            foreach (string file in files)
            {
                string path = Path.Combine(_directory, file);
                // Names are never reused, so a file of the same name is the same immutable file.
                if (!File.Exists(path)) HardLink(Path.Combine(source, file), path);
            }
            var old = _view;
            var oldState = (_nextSegment, _deletedCount, _graphFile, _graphRows);
            var oldIds = new Dictionary<string, long>(_ids, StringComparer.Ordinal);
            Apply(_directory, manifest with { NextSegment = Math.Max(_nextSegment, manifest.NextSegment) });
            try { WriteManifest(_directory, _view, _nextSegment); }
            catch
            {
                var failed = _view;
                _view = old;
                (_nextSegment, _deletedCount, _graphFile, _graphRows) = oldState;
                _ids.Clear();
                foreach (var (id, row) in oldIds) _ids[id] = row;
                Retire(failed.Parts);
                throw;
            }
            Retire(old.Parts);
            RemoveStrayFiles();
        }
    }

    /// <summary>Removes snapshot <paramref name="name"/> (the store keeps whatever files it still uses).</summary>
    public void DeleteSnapshot(string name)
    {
        lock (_write)
        {
            CheckWritable();
            string target = SnapshotDirectory(name);
            if (!Directory.Exists(target)) throw new ArgumentException($"no snapshot named {name}");
            Directory.Delete(target, recursive: true);
        }
    }

    private static unsafe void HardLink(string existing, string link)
    {
        byte[] from = Encoding.UTF8.GetBytes(existing + "\0"), to = Encoding.UTF8.GetBytes(link + "\0");
        fixed (byte* f = from, t = to)
            if (Interop.Libc.Link(f, t) != 0)
                throw new PosixException(System.Runtime.InteropServices.Marshal.GetLastPInvokeError(), Encoding.UTF8.GetBytes(link), $"cannot link {existing} to {link}");
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

    /// <summary>Writes <paramref name="view"/> as the manifest of <paramref name="directory"/> atomically: a temp file, fsync, rename over MANIFEST, fsync of the directory.</summary>
    private void WriteManifest(string directory, View view, int nextSegment)
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
            foreach (var part in view.Parts) json.WriteStringValue(Path.GetFileName(part.Segment.Path));
            json.WriteEndArray();
            json.WriteStartObject("deleted");
            foreach (var part in view.Parts)
            {
                if (Array.IndexOf(part.Deleted, (byte)1) < 0) continue;
                json.WriteStartArray(Path.GetFileName(part.Segment.Path));
                for (int row = 0; row < part.Deleted.Length; row++)
                    if (part.Deleted[row] != 0) json.WriteNumberValue(row);
                json.WriteEndArray();
            }
            json.WriteEndObject();
            if (view.Graph is { } graph)
            {
                json.WriteStartObject("index");
                json.WriteString("kind", "hnsw");
                json.WriteNumber("M", graph.Settings.M);
                json.WriteNumber("ef_construction", graph.Settings.EfConstruction);
                json.WriteNumber("ef", graph.Settings.Ef);
                json.WriteString("graph", _graphFile ?? "");
                json.WriteNumber("graph_rows", _graphFile is null ? 0 : _graphRows);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        string body = Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
        string temp = Path.Combine(directory, ManifestName + ".tmp");
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(Encoding.UTF8.GetBytes(body + "xxh3:" + HashHex(body) + "\n"));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, Path.Combine(directory, ManifestName), overwrite: true);
        FsyncDirectory(directory);
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
                foreach (var part in _view.Parts) part.Segment.Dispose();
                _view = new View([], 0, null);
                _lock?.Dispose();
            }
            finally { _mapped.ExitWriteLock(); }
        }
    }
}
