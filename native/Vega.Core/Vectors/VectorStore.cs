using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Vega.Core.Files;
using Vega.Core.Hashing;
using Vega.Core.Interop;

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
    public const int MaxDim = 65536;
    /// <summary>Metadata is one JSON object per row of at most this many bytes and levels of nesting: a filter reads it for every row it scans.</summary>
    public const int MaxMetadataBytes = 1 << 20, MaxMetadataDepth = 32;
    private const string ManifestName = "MANIFEST";
    private const string LockName = "LOCK";
    private const string SnapshotsName = "snapshots";
    private const string TempSuffix = ".tmp";
    /// <summary>A manifest lists segments and deleted rows: far below this even for billions of rows' deletions.</summary>
    private const long MaxManifestBytes = 1L << 30;
    private const int BlockRows = 4096;

    private readonly DirectoryHandle _directory;
    private readonly DirectoryHandle.FileLock? _lock;
    private readonly object _write = new();
    /// <summary>Held (shared) by every call that reads segment memory, and exclusively by whoever frees it.</summary>
    private readonly ReaderWriterLockSlim _mapped = new(LockRecursionPolicy.SupportsRecursion);
    /// <summary>Id to global row; also the lock under which it changes together with <see cref="_view"/>, so a reader taking it sees a matching pair.</summary>
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

    private VectorStore(DirectoryHandle directory, int dim, VectorMetric metric, DirectoryHandle.FileLock? writeLock)
    {
        _directory = directory;
        Dim = dim;
        Metric = metric;
        _lock = writeLock;
    }

    private static string SegmentName(int number) => $"seg-{number:D6}.vec";
    private static string GraphName(int number) => $"hnsw-{number:D6}.idx";

    /// <summary>The number in a name of the form <paramref name="prefix"/>NNNNNN<paramref name="suffix"/> as this store writes it, or -1.</summary>
    private static int NameNumber(string name, string prefix, string suffix)
    {
        if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(suffix, StringComparison.Ordinal)) return -1;
        var digits = name.AsSpan(prefix.Length, Math.Max(0, name.Length - prefix.Length - suffix.Length));
        if (digits.Length is < 6 or > 10 || digits.ContainsAnyExceptInRange('0', '9')) return -1;
        return int.TryParse(digits, out int number) && number > 0 && $"{prefix}{number:D6}{suffix}" == name ? number : -1;
    }

    private static int SegmentNumber(string name) => NameNumber(name, "seg-", ".vec");
    private static int GraphNumber(string name) => NameNumber(name, "hnsw-", ".idx");

    /// <summary>
    /// Opens the store in <paramref name="directory"/>, creating it if <paramref name="create"/> and it has
    /// no manifest (then <paramref name="dim"/> and <paramref name="metric"/> are required). A given dim or
    /// metric must match an existing store's. <paramref name="index"/> null keeps the store's index; another
    /// one replaces it (a new graph is empty and fills through <see cref="IndexPending"/>). A directory
    /// holding segment files but no manifest is refused rather than made a new, empty store.
    /// </summary>
    public static VectorStore Open(string directory, int dim, VectorMetric? metric, bool create, bool readOnly,
                                   IndexOptions? index = null, CancellationToken cancel = default)
    {
        if (dim < 0 || dim > MaxDim) throw new ArgumentException($"dim must be from 1 to {MaxDim}, not {dim}");
        var handle = OpenDirectory(directory, create && !readOnly);
        DirectoryHandle.FileLock? writeLock = null;
        VectorStore? store = null;
        try
        {
            if (!readOnly)
            {
                // flock: a second writer, in this process or another, is refused.
                writeLock = handle.TryLock(LockName)
                    ?? throw new IOException($"{directory}: the vector store is already open for writing (by this or another process); open it read-only to query");
            }
            if (handle.Kind(ManifestName) == 0)
            {
                RefuseOrphanedFiles(handle);
                if (!create || readOnly) throw new FileNotFoundException($"{directory}: not a vector store (no {ManifestName})", Path.Join(directory, ManifestName));
                if (dim <= 0) throw new ArgumentException("dim is needed to create a vector store");
                store = new VectorStore(handle, dim, metric ?? VectorMetric.Cosine, writeLock);
                if (index is { Hnsw: true }) store._view = new View([], 0, new HnswGraph(store.Dim, store.Metric, Resolve(index.Settings, null)));
                store.WriteManifest(handle, store._view, store._nextSegment);
                return store;
            }
            var read = ReadManifest(handle);
            if (dim > 0 && dim != read.Dim) throw new ArgumentException($"the store has dim {read.Dim}, not {dim}");
            if (metric is not null && metric != read.Metric) throw new ArgumentException($"the store's metric is {MetricName(read.Metric)}, not {MetricName(metric.Value)}");
            store = new VectorStore(handle, read.Dim, read.Metric, writeLock);
            store.ApplyLatest(read, cancel);
            if (index is not null) store.ChangeIndex(index);
            if (writeLock is not null) store.RemoveStrayFiles();
            return store;
        }
        catch
        {
            if (store is not null) store.Dispose();
            else
            {
                writeLock?.Dispose();
                handle.Dispose();
            }
            throw;
        }
    }

    private static DirectoryHandle OpenDirectory(string directory, bool create)
    {
        if (directory.Length == 0) throw new ArgumentException("the store path is empty");
        try { return DirectoryHandle.Open(directory, create); }
        catch (PosixException e) when (e.Errno == Libc.ENOENT)
        {
            throw new FileNotFoundException($"{directory}: not a vector store (no such directory)", directory);
        }
        catch (PosixException e) when (e.Errno == Libc.ENOTDIR)
        {
            throw new PosixException(e.Errno, e.PathBytes, $"{directory}: not a directory, so not a vector store");
        }
        catch (IOException e) when (e is not PosixException)
        {
            // Directory.CreateDirectory over a file: .NET's own message is a resource key in a trimmed build.
            throw new PosixException(Libc.ENOTDIR, Encoding.UTF8.GetBytes(directory), $"{directory}: not a directory, and cannot be made one (a file is in the way)");
        }
    }

    /// <summary>Segments or graphs without a manifest are a store that lost its MANIFEST: never start an empty store over them (its first writable open would delete them as strays).</summary>
    private static void RefuseOrphanedFiles(DirectoryHandle directory)
    {
        var orphans = directory.Entries().Select(e => e.Name)
            .Where(name => SegmentNumber(name) > 0 || GraphNumber(name) > 0)
            .Order(StringComparer.Ordinal).ToList();
        if (orphans.Count > 0)
            throw new InvalidDataException($"{directory.Path}: holds vector store files ({string.Join(", ", orphans.Take(3))}{(orphans.Count > 3 ? ", ..." : "")}) " +
                                           $"but no {ManifestName}; refusing to create a new store over them (restore the {ManifestName} from a backup " +
                                           "or snapshots/<name>/, or move the files away)");
    }

    /// <summary>A manifest as read and checked from disk: every name in it is one this store could have written.</summary>
    private sealed record Manifest(int Dim, VectorMetric Metric, int NextSegment, List<string> Segments,
                                   Dictionary<string, long[]> Deleted, HnswSettings? Hnsw, string? Graph, int GraphRows, byte[] Bytes);

    private static Manifest ReadManifest(DirectoryHandle directory)
    {
        string where = Path.Join(directory.Path, ManifestName);
        byte[] bytes = directory.ReadAll(ManifestName, MaxManifestBytes);
        int mark = bytes.AsSpan().LastIndexOf("\nxxh3:"u8);
        if (mark < 0) throw new InvalidDataException($"{where}: truncated or not a manifest (no checksum line)");
        var body = bytes.AsSpan(0, mark + 1);
        string expected = Encoding.ASCII.GetString(bytes.AsSpan(mark + 6)).Trim();
        if (XxHash3.Hash64(body).ToString("x16") != expected) throw new InvalidDataException($"{where}: corrupted (checksum mismatch)");
        try { return ParseManifest(body) with { Bytes = bytes }; }
        catch (InvalidDataException e) { throw new InvalidDataException($"{where}: {e.Message}"); }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{where}: not a valid manifest ({e.Message})");
        }
    }

    private static Manifest ParseManifest(ReadOnlySpan<byte> body)
    {
        using var document = JsonDocument.Parse(body.ToArray());
        var root = document.RootElement;
        int format = root.GetProperty("format").GetInt32();
        if (format != ManifestFormat)
            throw new InvalidDataException($"written by a newer vegafs (store format {format}; this version reads {ManifestFormat}); upgrade vegafs");
        int dim = root.GetProperty("dim").GetInt32();
        if (dim is < 1 or > MaxDim) throw new InvalidDataException($"impossible dim {dim}");
        int nextSegment = root.GetProperty("next_segment").GetInt32();
        var segments = root.GetProperty("segments").EnumerateArray()
            .Select(name => name.ValueKind == JsonValueKind.String ? name.GetString()! : throw new InvalidDataException($"a segment name is {name.ValueKind}, not a string"))
            .ToList();
        foreach (string name in segments)
        {
            int number = SegmentNumber(name);
            if (number < 0) throw new InvalidDataException($"'{name}' is not a segment name (seg-NNNNNN.vec)");
            if (number >= nextSegment) throw new InvalidDataException($"segment {name} is not below next_segment {nextSegment}");
        }
        if (segments.Distinct(StringComparer.Ordinal).Count() != segments.Count) throw new InvalidDataException($"a segment is listed twice");
        var deleted = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var entry in root.GetProperty("deleted").EnumerateObject())
        {
            if (!segments.Contains(entry.Name, StringComparer.Ordinal)) throw new InvalidDataException($"deleted rows of '{entry.Name}', which is not a listed segment");
            deleted[entry.Name] = entry.Value.EnumerateArray().Select(row => row.GetInt64()).ToArray();
        }
        HnswSettings? hnsw = null;
        string? graph = null;
        int graphRows = 0;
        if (root.TryGetProperty("index", out var index))
        {
            string? kind = index.GetProperty("kind").GetString();
            if (kind != "hnsw") throw new InvalidDataException($"unknown index kind '{kind}'");
            hnsw = new HnswSettings(index.GetProperty("M").GetInt32(), index.GetProperty("ef_construction").GetInt32(), index.GetProperty("ef").GetInt32());
            hnsw.Value.Check();
            graph = index.GetProperty("graph").GetString();
            if (graph == "") graph = null;
            int number = graph is null ? 0 : GraphNumber(graph);
            if (number < 0) throw new InvalidDataException($"'{graph}' is not a graph file name (hnsw-NNNNNN.idx)");
            if (number >= nextSegment) throw new InvalidDataException($"graph {graph} is not below next_segment {nextSegment}");
            graphRows = index.GetProperty("graph_rows").GetInt32();
            if (graphRows < 0) throw new InvalidDataException($"negative graph_rows");
        }
        return new Manifest(dim, ParseMetric(root.GetProperty("metric").GetString()), nextSegment, segments, deleted, hnsw, graph, graphRows, []);
    }

    /// <summary>
    /// <see cref="Apply"/>s <paramref name="manifest"/>; if one of its files is gone meanwhile (a writer in
    /// another process compacted or checkpointed and deleted the files it replaced) and the manifest has
    /// changed, applies the new one instead, so a reader opens reliably during any writer activity.
    /// </summary>
    private void ApplyLatest(Manifest manifest, CancellationToken cancel)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                Apply(_directory, manifest, cancel);
                return;
            }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException && DateTime.UtcNow < deadline)
            {
                var latest = ReadManifest(_directory);
                if (latest.Bytes.AsSpan().SequenceEqual(manifest.Bytes)) throw;
                manifest = latest;
            }
        }
    }

    /// <summary>Reads the manifest's segments (from <paramref name="directory"/>) and its graph, and publishes them as this store's state.</summary>
    private void Apply(DirectoryHandle directory, Manifest manifest, CancellationToken cancel)
    {
        var parts = new List<Part>();
        long rows = 0;
        try
        {
            foreach (string file in manifest.Segments)
            {
                var segment = Segment.Open(directory, file, Dim, Metric, cancel);
                var marks = new byte[segment.Count];
                parts.Add(new Part(segment, rows, marks));
                rows += segment.Count;
                if (!manifest.Deleted.TryGetValue(file, out var deleted)) continue;
                foreach (long row in deleted)
                {
                    if ((ulong)row >= (ulong)segment.Count) throw new InvalidDataException($"{Path.Join(directory.Path, ManifestName)}: deleted row {row} is not in {file}");
                    marks[row] = 1;
                }
            }
            HnswGraph? graph = null;
            bool loaded = false;
            if (manifest.Hnsw is { } settings)
            {
                loaded = manifest.Graph is not null && manifest.GraphRows <= rows;
                graph = loaded ? HnswGraph.Load(directory, manifest.Graph!, Dim, Metric, settings.Ef, VectorPointers(parts.ToArray(), 0, manifest.GraphRows))
                               : new HnswGraph(Dim, Metric, settings);
            }
            var ids = new Dictionary<string, long>(StringComparer.Ordinal);
            var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
            long deletedCount = 0;
            foreach (var part in parts)
            {
                for (long row = 0; row < part.Segment.Count; row++)
                {
                    if (part.Deleted[row] != 0) { deletedCount++; continue; }
                    string id;
                    try { id = strict.GetString(part.Segment.Id(row)); }
                    catch (DecoderFallbackException) { throw new InvalidDataException($"{part.Segment.Name}: row {row} has an id that is not UTF-8 (damaged or forged)"); }
                    if (!ids.TryAdd(id, part.BaseRow + row)) throw new InvalidDataException($"{part.Segment.Name}: id '{id}' is live twice in the store (damaged or forged)");
                }
            }
            lock (_ids)
            {
                _ids.Clear();
                foreach (var (id, row) in ids) _ids[id] = row;
                _nextSegment = Math.Max(_nextSegment, manifest.NextSegment);
                _deletedCount = deletedCount;
                // A graph started afresh names no file: the manifest's (if any) is a stray to remove, never to delete later as "ours".
                _graphFile = loaded ? manifest.Graph : null;
                _graphRows = loaded ? graph!.Count : 0;
                _view = new View(parts.ToArray(), rows, graph);
            }
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
            if (oldFile is not null) _directory.Delete(oldFile);
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

    /// <summary>
    /// Files no manifest names: segments of an add that crashed before its manifest swap, old graph
    /// checkpoints, temp files. Only names this store writes are candidates, and only as directory entries
    /// (unlinkat removes a symlink itself, never what it points to).
    /// </summary>
    private void RemoveStrayFiles()
    {
        var live = new HashSet<string>(_view.Parts.Select(p => p.Segment.Name), StringComparer.Ordinal);
        if (_graphFile is not null) live.Add(_graphFile);
        foreach (var entry in _directory.Entries())
        {
            if (entry.IsDirectory || live.Contains(entry.Name)) continue;
            string name = entry.Name.EndsWith(TempSuffix, StringComparison.Ordinal) ? entry.Name[..^TempSuffix.Length] : entry.Name;
            if (SegmentNumber(name) > 0 || GraphNumber(name) > 0 || entry.Name == ManifestName + TempSuffix) _directory.Delete(entry.Name);
        }
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
                           IReadOnlyList<byte[]> documents, bool upsert, CancellationToken cancel = default)
    {
        if (count < 1) throw new ArgumentException("no vectors to add");
        if (ids.Count != count || metadata.Count != count || documents.Count != count)
            throw new ArgumentException("ids, metadata and documents must have one entry per vector");
        for (int row = 0; row < metadata.Count; row++) CheckMetadata(metadata[row], row);
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
            string name = SegmentName(_nextSegment);
            var segment = WriteSegment(name, copy, ids.Select(Encoding.UTF8.GetBytes).ToList(), metadata, documents, cancel);
            var part = new Part(segment, view.Rows, new byte[count]);
            foreach (long row in replaced) Mark(view.Parts, row);
            var added = view with { Parts = [.. view.Parts, part], Rows = view.Rows + count };
            try { WriteManifest(_directory, added, _nextSegment + 1); }
            catch
            {
                // Back out of memory too, so the store stays what the disk says.
                foreach (long row in replaced) Unmark(view.Parts, row);
                segment.Dispose();
                _directory.Delete(name); // else the next add's segment name is taken
                throw;
            }
            // Published only now: a reader never sees a segment the manifest does not name.
            _nextSegment++;
            lock (_ids)
            {
                _view = added;
                for (int i = 0; i < ids.Count; i++) _ids[ids[i]] = part.BaseRow + i;
            }
        }
    }

    /// <summary>Writes rows as segment <paramref name="name"/> (under a temp name, renamed when complete) and reads it back.</summary>
    private Segment WriteSegment(string name, Segment.RowSource vectors, IReadOnlyList<byte[]> ids, IReadOnlyList<byte[]> metadata,
                                 IReadOnlyList<byte[]> documents, CancellationToken cancel)
    {
        string temp = name + TempSuffix;
        _directory.Delete(temp); // left by a crash: it is ours to replace
        try
        {
            Segment.Write(_directory, temp, Dim, Metric, vectors, ids, metadata, documents, cancel);
            _directory.Rename(temp, name);
        }
        catch
        {
            _directory.Delete(temp);
            throw;
        }
        try { return Segment.Open(_directory, name, Dim, Metric); }
        catch
        {
            _directory.Delete(name);
            throw;
        }
    }

    private Segment WriteSegment(string name, float[] vectors, IReadOnlyList<byte[]> ids, IReadOnlyList<byte[]> metadata,
                                 IReadOnlyList<byte[]> documents, CancellationToken cancel) =>
        WriteSegment(name, row => vectors.AsSpan((int)(row * Dim), Dim), ids, metadata, documents, cancel);

    /// <summary>A row's metadata: empty, or one JSON object of at most <see cref="MaxMetadataBytes"/> bytes nested at most <see cref="MaxMetadataDepth"/> levels.</summary>
    private static void CheckMetadata(byte[] json, int row)
    {
        if (json.Length == 0) return;
        if (json.Length > MaxMetadataBytes)
            throw new ArgumentException($"metadata of row {row} is {json.Length} bytes of JSON; at most {MaxMetadataBytes} are stored per row");
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxMetadataDepth + 1 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw new ArgumentException($"metadata of row {row} is not a JSON object");
            while (reader.Read() && reader.CurrentDepth > 0)
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= MaxMetadataDepth)
                    throw new ArgumentException($"metadata of row {row} is nested deeper than {MaxMetadataDepth} levels");
            reader.Read(); // text after the object throws
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"metadata of row {row} is not valid JSON: {e.Message}");
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
            lock (_ids)
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
        if (parts.Length == 0) throw new ArgumentException($"row {row} is not in the store");
        var part = parts[lo];
        if (row < part.BaseRow || row >= part.BaseRow + part.Segment.Count) throw new ArgumentException($"row {row} is not in the store");
        return (part, row - part.BaseRow);
    }

    /// <summary>The global row of each id, or -1.</summary>
    public void Lookup(IReadOnlyList<string> ids, Span<long> rows)
    {
        lock (_ids)
            for (int i = 0; i < ids.Count; i++) rows[i] = _ids.TryGetValue(ids[i], out long row) ? row : -1;
    }

    /// <summary>
    /// The rows of <paramref name="ids"/> as one consistent read: each id's row (-1 if absent), its stored
    /// vector (zeros if absent) and its id, metadata and document (into <paramref name="texts"/>, empty if
    /// absent). Rows and contents come from the same state of the store, so an upsert or a compaction
    /// running meanwhile can never pair one row's id with another row's data.
    /// </summary>
    public void Get(IReadOnlyList<string> ids, Span<long> rows, Span<float> vectors, List<byte[]> texts)
    {
        using var reading = Reading();
        Part[] parts;
        lock (_ids)
        {
            parts = _view.Parts;
            for (int i = 0; i < ids.Count; i++) rows[i] = _ids.TryGetValue(ids[i], out long row) ? row : -1;
        }
        CopyVectors(parts, rows, vectors);
        FetchInto(parts, rows, texts, ignoreDeleted: true);
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
        CopyVectors(_view.Parts, rows, output);
    }

    private void CopyVectors(Part[] parts, ReadOnlySpan<long> rows, Span<float> output)
    {
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
                              MetadataFilter? filter = null, int ef = 0, bool exact = false, List<byte[]>? texts = null,
                              CancellationToken cancel = default)
    {
        if (k < 1) throw new ArgumentException("k must be at least 1");
        if (ef < 0) throw new ArgumentException("ef must be positive");
        using var reading = Reading();
        var view = _view;
        // At most every row can be found: a larger k only pads the output, and must not size the heaps.
        int held = (int)Math.Min(k, Math.Max(1, view.Rows));
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
        var best = NewTops(count, held);
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = cancel };
        if (graphRows > 0)
        {
            int beam = Math.Max(held, ef > 0 ? ef : graph!.Settings.Ef);
            byte[] skip = GraphSkip(parts, skips, graphRows);
            Parallel.For(0, count, options, q =>
            {
                fixed (float* query = &prepared[q * Dim])
                    graph!.Search(query, beam, new HnswGraph.Admission(graphRows, skip), best[q]);
            });
        }
        if (blocks.Count > 0) ScanBlocks(blocks, prepared, best, held, options);
        Drain(best, k, distances, rows);
        if (texts is not null) FetchInto(parts, rows, texts, ignoreDeleted: true);
    }

    private void ScanBlocks(List<(Part Part, byte[] Skip, long Start, long End)> blocks, float[] prepared, TopK[] best, int k, ParallelOptions options)
    {
        long count = best.Length;
        // Merged after the loop rather than under a lock: a contended lock on a new object per query would
        // leave a NativeAOT sync entry behind until a full GC (docs/architecture.md, process rule 6).
        var partial = new ConcurrentQueue<TopK[]>();
        Parallel.For(0, blocks.Count, options, () => NewTops(count, k), (b, _, local) =>
        {
            var (part, skip, start, end) = blocks[b];
            ScanBlock(part, skip, start, end, prepared, local, options.CancellationToken);
            return local;
        }, partial.Enqueue);
        foreach (var local in partial)
            for (long q = 0; q < count; q++) best[q].AddAll(local[q]);
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
        string name = GraphName(_nextSegment);
        string temp = name + TempSuffix;
        _directory.Delete(temp);
        try
        {
            view.Graph!.Save(_directory, temp);
            _directory.Rename(temp, name);
        }
        catch
        {
            _directory.Delete(temp);
            throw;
        }
        string? previous = _graphFile;
        int previousRows = _graphRows;
        _graphFile = name;
        _graphRows = view.Graph.Count;
        try { WriteManifest(_directory, view, _nextSegment + 1); }
        catch
        {
            _graphFile = previous;
            _graphRows = previousRows;
            _directory.Delete(name);
            throw;
        }
        _nextSegment++;
        if (previous is not null) _directory.Delete(previous);
    }

    /// <summary>
    /// Rewrites the live rows into one segment, dropping deleted rows for good, and returns how many rows
    /// were reclaimed. Rows are renumbered when some were deleted, so the HNSW graph then starts again empty
    /// (and is rebuilt through <see cref="IndexPending"/>); a merge without deletions keeps it. Snapshots
    /// keep the old segments through their own links. Cancelled, it leaves the store as it was.
    /// </summary>
    public long Compact(CancellationToken cancel = default)
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
            string name = SegmentName(_nextSegment);
            var parts = new List<Part>();
            if (live.Count > 0)
            {
                var segment = WriteSegment(name, row => live[(int)row].Part.Segment.Row(live[(int)row].Local),
                                           live.Select(r => r.Part.Segment.Id(r.Local).ToArray()).ToList(),
                                           live.Select(r => r.Part.Segment.Metadata(r.Local).ToArray()).ToList(),
                                           live.Select(r => r.Part.Segment.Document(r.Local).ToArray()).ToList(), cancel);
                parts.Add(new Part(segment, 0, new byte[live.Count]));
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
            try
            {
                cancel.ThrowIfCancellationRequested(); // the last point at which the store is still unchanged
                WriteManifest(_directory, compacted, _nextSegment + 1);
            }
            catch
            {
                _graphFile = oldGraph;
                _graphRows = oldGraphRows;
                foreach (var part in parts) { part.Segment.Dispose(); _directory.Delete(part.Segment.Name); }
                throw;
            }
            _nextSegment++;
            // A kept graph still points into the old segments, which are freed below.
            if (!renumbered && graph is not null) graph.Repoint(VectorPointers(compacted.Parts, 0, graph.Count));
            lock (_ids)
            {
                _view = compacted;
                _ids.Clear();
                for (int row = 0; row < live.Count; row++) _ids[Encoding.UTF8.GetString(live[row].Part.Segment.Id(live[row].Local))] = row;
                Interlocked.Exchange(ref _deletedCount, 0);
            }
            Retire(view.Parts);
            if (renumbered && oldGraph is not null) _directory.Delete(oldGraph);
            return reclaimed;
        }
    }

    /// <summary>Frees and deletes segments no longer in the store, once queries that may read them have finished.</summary>
    private void Retire(Part[] parts)
    {
        var live = new HashSet<string>(_view.Parts.Select(p => p.Segment.Name), StringComparer.Ordinal);
        _mapped.EnterWriteLock();
        try
        {
            foreach (var part in parts) part.Segment.Dispose();
        }
        finally { _mapped.ExitWriteLock(); }
        foreach (var part in parts)
            if (!live.Contains(part.Segment.Name)) _directory.Delete(part.Segment.Name);
    }

    /// <summary>A snapshot name: a file name of letters, digits, '.', '_' and '-' not starting with '.'.</summary>
    private static void CheckSnapshotName(string name)
    {
        if (name.Length is 0 or > 200 || name[0] == '.' || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            throw new ArgumentException($"a snapshot name must be 1-200 letters, digits, '.', '_' or '-', not starting with '.': {name}");
    }

    /// <summary>The snapshots directory (a real directory, never a symlink), or null if there is none and <paramref name="create"/> is false.</summary>
    private DirectoryHandle? Snapshots(bool create)
    {
        if (!create && _directory.Kind(SnapshotsName) == 0) return null;
        return _directory.OpenDirectory(SnapshotsName, create);
    }

    /// <summary>
    /// Records the store as it is now under <paramref name="name"/>: hard links to its segments and graph
    /// checkpoint (immutable files, so nothing is copied) and a copy of the manifest, in
    /// snapshots/<paramref name="name"/>, made under a temp name and renamed into place when complete.
    /// </summary>
    public void Snapshot(string name)
    {
        CheckSnapshotName(name);
        lock (_write)
        {
            CheckWritable();
            using var snapshots = Snapshots(create: true)!;
            if (snapshots.Kind(name) != 0) throw new ArgumentException($"a snapshot named {name} exists already");
            var view = _view;
            if (view.Graph is not null && view.Graph.Count != _graphRows) SaveGraph(view);
            string temp = $".{name}{TempSuffix}";
            snapshots.DeleteTree(temp);
            try
            {
                using (var target = snapshots.OpenDirectory(temp, create: true)!)
                {
                    var files = view.Parts.Select(p => p.Segment.Name).ToList();
                    if (_graphFile is not null) files.Add(_graphFile);
                    foreach (string file in files) _directory.Link(file, target, file);
                    WriteManifest(target, view, _nextSegment);
                }
                snapshots.Rename(temp, name);
                snapshots.Fsync();
            }
            catch
            {
                snapshots.DeleteTree(temp);
                throw;
            }
        }
    }

    /// <summary>
    /// Makes the store what snapshot <paramref name="name"/> recorded (the snapshot stays). Queries running
    /// meanwhile finish on the old state. The snapshot's manifest is checked like the store's own: it can
    /// only name files inside the snapshot's directory, which are linked into the store's.
    /// </summary>
    public void Restore(string name, CancellationToken cancel = default)
    {
        CheckSnapshotName(name);
        lock (_write)
        {
            CheckWritable();
            using var snapshots = Snapshots(create: false);
            using var source = snapshots?.OpenDirectory(name, create: false);
            if (source is null || source.Kind(ManifestName) == 0) throw new ArgumentException($"no snapshot named {name}");
            var manifest = ReadManifest(source);
            if (manifest.Dim != Dim || manifest.Metric != Metric) throw new InvalidDataException($"snapshot {name} is of another dim or metric than the store");
            var files = new List<string>(manifest.Segments);
            if (manifest.Graph is not null) files.Add(manifest.Graph);
            foreach (string file in files)
            {
                // Names are never reused, so a file of the same name is the same immutable file.
                if (_directory.Kind(file) == 0) source.Link(file, _directory, file);
            }
            var old = _view;
            var oldState = (_nextSegment, _deletedCount, _graphFile, _graphRows);
            Dictionary<string, long> oldIds;
            lock (_ids) oldIds = new Dictionary<string, long>(_ids, StringComparer.Ordinal);
            Apply(_directory, manifest with { NextSegment = Math.Max(_nextSegment, manifest.NextSegment) }, cancel);
            try { WriteManifest(_directory, _view, _nextSegment); }
            catch
            {
                var failed = _view;
                lock (_ids)
                {
                    _view = old;
                    (_nextSegment, _deletedCount, _graphFile, _graphRows) = oldState;
                    _ids.Clear();
                    foreach (var (id, row) in oldIds) _ids[id] = row;
                }
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
        CheckSnapshotName(name);
        lock (_write)
        {
            CheckWritable();
            using var snapshots = Snapshots(create: false);
            if (snapshots is null || snapshots.Kind(name) != DirectoryHandle.DirectoryKind) throw new ArgumentException($"no snapshot named {name}");
            snapshots.DeleteTree(name);
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

    private unsafe void ScanBlock(Part part, byte[] deleted, long start, long end, float[] queries, TopK[] tops, CancellationToken cancel)
    {
        float* vectors = part.Segment.Vectors;
        bool l2 = Metric == VectorMetric.L2;
        float* four = stackalloc float[4];
        fixed (float* allQueries = queries)
        {
            for (long tile = start; tile < end; tile += TileRows)
            {
                cancel.ThrowIfCancellationRequested(); // a tile against a large batch of queries is a few ms
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
    private void WriteManifest(DirectoryHandle directory, View view, int nextSegment)
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
            foreach (var part in view.Parts) json.WriteStringValue(part.Segment.Name);
            json.WriteEndArray();
            json.WriteStartObject("deleted");
            foreach (var part in view.Parts)
            {
                if (Array.IndexOf(part.Deleted, (byte)1) < 0) continue;
                json.WriteStartArray(part.Segment.Name);
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
        buffer.WriteByte((byte)'\n');
        byte[] body = buffer.ToArray();
        string temp = ManifestName + TempSuffix;
        directory.Delete(temp); // left by a crash (or planted: only the entry itself goes)
        using (var stream = directory.CreateNew(temp))
        {
            stream.Write(body);
            stream.Write(Encoding.ASCII.GetBytes("xxh3:" + XxHash3.Hash64(body).ToString("x16") + "\n"));
            stream.Flush(flushToDisk: true);
        }
        directory.Rename(temp, ManifestName);
        directory.Fsync();
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
                _directory.Dispose();
            }
            finally { _mapped.ExitWriteLock(); }
        }
    }
}
