using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Vega.Core.Files;
using Vega.Core.Hashing;

namespace Vega.Core.Vectors;

/// <summary>The settings of an HNSW index, saved with it (ef too, unlike hnswlib, so a reopened store searches as before).</summary>
public readonly record struct HnswSettings(int M, int EfConstruction, int Ef)
{
    public const int DefaultM = 16, DefaultEfConstruction = 200, DefaultEf = 64, MaxM = 256;

    public void Check()
    {
        if (M is < 2 or > MaxM) throw new ArgumentException($"M must be from 2 to 256, not {M}");
        if (EfConstruction is < 1 or > 100_000) throw new ArgumentException($"ef_construction must be from 1 to 100000, not {EfConstruction}");
        if (Ef is < 1 or > 100_000) throw new ArgumentException($"ef must be from 1 to 100000, not {Ef}");
    }
}

/// <summary>
/// A hierarchical navigable small world graph (Malkov and Yashunin, 2016) over a prefix of a store's
/// rows: node i is global row i. Written by hand because no HNSW library is on our NuGet mirror; it
/// follows hnswlib's choices (level-0 lists of 2M, upper lists of M, the neighbour-selection heuristic,
/// per-node locks for a parallel build, deleted and filtered-out nodes kept for navigation but never
/// returned). Queries take no node locks: a list being rewritten may be read half old, half new, which
/// only ever yields valid node ids, so a query racing an insert stays safe (its recall may dip).
/// </summary>
public sealed unsafe class HnswGraph
{
    private const int FileVersion = 1;
    private const int MaxLevel = 32;
    private const int HeaderSize = 128;
    private static ReadOnlySpan<byte> Magic => "VEGAHNSW"u8;

    private readonly int _dim;
    private readonly VectorMetric _metric;
    private readonly int _maxLinks0, _maxLinks;
    private readonly double _levelScale;
    /// <summary>Held for reading by every search and insert; exclusively only while the arrays grow.</summary>
    private readonly ReaderWriterLockSlim _resize = new();
    private readonly object _entryLock = new();
    /// <summary>Held by a whole Insert and by Save, so a saved graph never names rows still being inserted.</summary>
    private readonly object _writer = new();
    private int _capacity;
    private int _count;
    private byte[] _levels = [];
    private int[] _links0 = [];
    private int[]?[] _upper = [];
    private int[] _locks = [];
    private nint[] _vectors = [];
    /// <summary>Start of the one memory run holding every row's vector, or 0 (<see cref="Vector"/>).</summary>
    private nint _run;
    /// <summary>Entry node in the low 32 bits, top level in the high 32 (one word, read and written whole); -1 when empty.</summary>
    private long _entry = -1;

    public HnswSettings Settings { get; private set; }
    /// <summary>Rows [0, Count) are in the graph; later rows are searched exactly by the store.</summary>
    public int Count => Volatile.Read(ref _count);

    public HnswGraph(int dim, VectorMetric metric, HnswSettings settings)
    {
        settings.Check();
        _dim = dim;
        _metric = metric;
        Settings = settings;
        _maxLinks = settings.M;
        _maxLinks0 = 2 * settings.M;
        _levelScale = 1 / Math.Log(settings.M);
    }

    /// <summary>Changes the default search ef (the graph does not depend on it).</summary>
    public void SetEf(int ef)
    {
        var changed = Settings with { Ef = ef };
        changed.Check();
        Settings = changed;
    }

    private int Stride0 => _maxLinks0 + 1;
    private int StrideUpper => _maxLinks + 1;

    /// <summary>
    /// Inserts rows [Count, Count + vectors.Length) whose vectors are at <paramref name="vectors"/> (each dim
    /// floats, mapped for as long as the graph is used), in parallel over <paramref name="threads"/>.
    /// </summary>
    public void Insert(ReadOnlySpan<nint> vectors, int threads, CancellationToken cancel = default)
    {
        if (vectors.Length == 0) return;
        lock (_writer) InsertLocked(vectors, threads, cancel);
    }

    private void InsertLocked(ReadOnlySpan<nint> vectors, int threads, CancellationToken cancel)
    {
        int first = Count;
        if ((long)first + vectors.Length > int.MaxValue) throw new ArgumentException("an HNSW index holds at most 2^31-1 rows");
        int end = first + vectors.Length;
        _resize.EnterWriteLock();
        try
        {
            Grow(end);
            for (int i = 0; i < vectors.Length; i++)
            {
                int node = first + i;
                _vectors[node] = vectors[i];
                int level = RandomLevel(node);
                _levels[node] = (byte)level;
                _upper[node] = level > 0 ? new int[level * StrideUpper] : null;
            }
            CheckRun(first, end);
        }
        finally { _resize.ExitWriteLock(); }
        int start = first;
        if (Volatile.Read(ref _entry) < 0)
        {
            InsertOne(first); // the first node becomes the entry point before others look for it
            start++;
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = cancel };
        // Cancelling unlinks the batch's nodes again (Reset) and leaves Count where it was, so the store
        // scans those rows exactly and a later Insert of the same rows starts them from scratch.
        try
        {
            Parallel.For(start, end, options, InsertOne);
        }
        catch (OperationCanceledException)
        {
            Reset(first, end);
            throw;
        }
        Volatile.Write(ref _count, end);
    }

    /// <summary>Unlinks nodes [first, end) of a cancelled insert: their lists are cleared, and links to them from earlier nodes removed.</summary>
    private void Reset(int first, int end)
    {
        if ((int)Volatile.Read(ref _entry) >= first)
        {
            // The entry was a cancelled node: the highest remaining node takes over.
            long replacement = -1;
            if (first > 0)
            {
                int best = 0;
                for (int node = 1; node < first; node++) if (_levels[node] > _levels[best]) best = node;
                replacement = Pack(best, _levels[best]);
            }
            Volatile.Write(ref _entry, replacement);
        }
        for (int node = 0; node < end; node++)
        {
            for (int level = 0; level <= _levels[node]; level++)
            {
                var list = List(node, level);
                if (node >= first) { list[0] = 0; continue; }
                int kept = 0;
                for (int i = 1; i <= list[0]; i++)
                    if (list[i] < first) list[++kept] = list[i];
                list[0] = kept;
            }
        }
    }

    private static long Pack(int node, int level) => ((long)level << 32) | (uint)node;

    private void Grow(int needed)
    {
        if (needed <= _capacity) return;
        int capacity = (int)Math.Min(int.MaxValue - 64, Math.Max(needed, _capacity + _capacity / 2 + 1024));
        Array.Resize(ref _levels, capacity);
        var links = new int[(long)capacity * Stride0];
        _links0.AsSpan().CopyTo(links);
        _links0 = links;
        Array.Resize(ref _upper, capacity);
        Array.Resize(ref _locks, capacity);
        Array.Resize(ref _vectors, capacity);
        _capacity = capacity;
    }

    /// <summary>Levels are a deterministic function of the node (a hash, not a shared random stream), so a parallel build draws the same levels as a serial one.</summary>
    private int RandomLevel(int node)
    {
        ulong z = (ulong)node + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        double uniform = ((z >> 11) + 1) * (1.0 / (1UL << 53)); // in (0, 1]
        return (int)Math.Min(-Math.Log(uniform) * _levelScale, MaxLevel);
    }

    private Span<int> List(int node, int level) => level == 0
        ? _links0.AsSpan(node * Stride0, Stride0)
        : _upper[node].AsSpan((level - 1) * StrideUpper, StrideUpper);

    /// <summary>
    /// A node's vector. When every row lies in one run of memory (one segment: a single add, or after a
    /// compaction) it is computed from the run's start, which saves a load from the pointer table, a
    /// cache miss per visited node on a large graph.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float* Vector(int node)
    {
        nint run = _run;
        return run != 0 ? (float*)run + (long)node * _dim : (float*)_vectors[node];
    }

    /// <summary>Keeps <see cref="_run"/> the first row's address while rows [0, end) are contiguous, else 0; rows before <paramref name="from"/> were checked already.</summary>
    private void CheckRun(int from, int end)
    {
        nint first = end > 0 ? _vectors[0] : 0;
        if (from > 0 && _run == 0) first = 0;
        for (int node = Math.Max(from, 1); node < end && first != 0; node++)
            if (_vectors[node] != first + (nint)((long)node * _dim * sizeof(float))) first = 0;
        _run = first;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Distance(float* a, int node) =>
        Distances.Distance(_metric, new ReadOnlySpan<float>(a, _dim), new ReadOnlySpan<float>(Vector(node), _dim));

    private void Lock(int node)
    {
        if (Interlocked.CompareExchange(ref _locks[node], 1, 0) == 0) return;
        var spin = new SpinWait();
        while (Interlocked.CompareExchange(ref _locks[node], 1, 0) != 0) spin.SpinOnce();
    }

    private void Unlock(int node) => Volatile.Write(ref _locks[node], 0);

    private void InsertOne(int node)
    {
        _resize.EnterReadLock();
        try
        {
            int level = _levels[node];
            float* vector = Vector(node);
            long entry = Volatile.Read(ref _entry);
            if (entry < 0)
            {
                Volatile.Write(ref _entry, Pack(node, level));
                return;
            }
            // A node that will top the graph is inserted under the entry lock, as hnswlib does, so two
            // new tops do not race to be the entry point.
            bool top = level > (int)(entry >> 32);
            if (top) Monitor.Enter(_entryLock);
            try
            {
                entry = Volatile.Read(ref _entry);
                int entryLevel = (int)(entry >> 32);
                int current = (int)entry;
                float currentDistance = Distance(vector, current);
                var scratch = Scratch.For(_capacity, _maxLinks0);
                for (int l = entryLevel; l > level; l--)
                    (current, currentDistance) = Greedy(vector, current, currentDistance, l, scratch, locked: true);
                // Every level's neighbours are chosen first and the node's own lists written, and only then is
                // the node linked into other nodes' lists, from level 0 upward: a search that reaches the node
                // at any level finds its lists complete (hnswlib gets the same by holding the node's lock for
                // the whole insert).
                int top0 = Math.Min(level, entryLevel);
                var chosen = new int[(top0 + 1) * _maxLinks];
                var counts = new int[top0 + 1];
                for (int l = top0; l >= 0; l--)
                {
                    SearchLayer(vector, current, currentDistance, Settings.EfConstruction, l, scratch, locked: true, admit: new Admission(int.MaxValue, default));
                    var found = scratch.TakeResults(); // ascending by distance
                    current = found[0].Node;
                    currentDistance = found[0].Distance;
                    int kept = SelectNeighbors(found, _maxLinks, scratch);
                    for (int i = 0; i < kept; i++) chosen[l * _maxLinks + i] = found[i].Node;
                    counts[l] = kept;
                }
                Lock(node);
                for (int l = 0; l <= top0; l++)
                {
                    var own = List(node, l);
                    chosen.AsSpan(l * _maxLinks, counts[l]).CopyTo(own[1..]);
                    Volatile.Write(ref own[0], counts[l]);
                }
                Unlock(node);
                for (int l = 0; l <= top0; l++)
                    for (int i = 0; i < counts[l]; i++) Link(chosen[l * _maxLinks + i], node, l, scratch);
                if (top && level > entryLevel) Volatile.Write(ref _entry, Pack(node, level));
            }
            finally
            {
                if (top) Monitor.Exit(_entryLock);
            }
        }
        finally { _resize.ExitReadLock(); }
    }

    /// <summary>Adds <paramref name="node"/> to <paramref name="neighbor"/>'s list, pruning the list with the heuristic when it is full.</summary>
    private void Link(int neighbor, int node, int level, Scratch scratch)
    {
        int max = level == 0 ? _maxLinks0 : _maxLinks;
        Lock(neighbor);
        try
        {
            var list = List(neighbor, level);
            int count = list[0];
            for (int i = 1; i <= count; i++) if (list[i] == node) return;
            if (count < max)
            {
                list[count + 1] = node;
                Volatile.Write(ref list[0], count + 1);
                return;
            }
            float* origin = Vector(neighbor);
            var candidates = scratch.Pairs(count + 1);
            candidates[0] = new Pair(Distance(origin, node), node);
            for (int i = 0; i < count; i++) candidates[i + 1] = new Pair(Distance(origin, list[i + 1]), list[i + 1]);
            candidates.Sort();
            int kept = SelectNeighbors(candidates, max, scratch);
            for (int i = 0; i < kept; i++) list[1 + i] = candidates[i].Node;
            Volatile.Write(ref list[0], kept);
        }
        finally { Unlock(neighbor); }
    }

    /// <summary>
    /// hnswlib's heuristic: walking the candidates closest first, keep one only if it is closer to the
    /// base than to every one kept so far, so links spread across directions (what makes clustered data
    /// navigable). Reorders <paramref name="sorted"/> so the kept ones come first; returns how many.
    /// </summary>
    private int SelectNeighbors(Span<Pair> sorted, int max, Scratch scratch)
    {
        if (sorted.Length <= max) return sorted.Length;
        int kept = 0;
        for (int i = 0; i < sorted.Length && kept < max; i++)
        {
            var candidate = sorted[i];
            float* vector = Vector(candidate.Node);
            bool good = true;
            for (int j = 0; j < kept; j++)
            {
                if (Distance(vector, sorted[j].Node) < candidate.Distance) { good = false; break; }
            }
            if (good) sorted[kept++] = candidate;
        }
        return kept;
    }

    private (int Node, float Distance) Greedy(float* query, int current, float distance, int level, Scratch scratch, bool locked)
    {
        bool changed = true;
        var neighbors = scratch.Neighbors;
        while (changed)
        {
            changed = false;
            int count = ReadList(current, level, neighbors, locked);
            for (int i = 0; i < count; i++)
            {
                int candidate = neighbors[i];
                if ((uint)candidate >= (uint)_capacity) continue;
                float d = Distance(query, candidate);
                if (d < distance)
                {
                    distance = d;
                    current = candidate;
                    changed = true;
                }
            }
        }
        return (current, distance);
    }

    /// <summary>Copies a node's list out (under its lock while building; queries read it as it is).</summary>
    private int ReadList(int node, int level, int[] into, bool locked)
    {
        if (level > _levels[node]) return 0;
        if (locked) Lock(node);
        var list = List(node, level);
        int count = Math.Min(Volatile.Read(ref list[0]), into.Length);
        list.Slice(1, count).CopyTo(into);
        if (locked) Unlock(node);
        return count;
    }

    /// <summary>Which nodes a search may return: those below <see cref="Limit"/> not marked in <see cref="Skip"/> (empty: none marked).</summary>
    public readonly ref struct Admission(int limit, ReadOnlySpan<byte> skip)
    {
        public readonly int Limit = limit;
        public readonly ReadOnlySpan<byte> Skip = skip;
        public readonly bool All => Limit == int.MaxValue && Skip.IsEmpty;

        public bool Admits(int node) => node < Limit && (Skip.IsEmpty || Skip[node] == 0);
    }

    /// <summary>
    /// The beam search of one layer (the paper's SEARCH-LAYER, with hnswlib's rule for filters: nodes not
    /// admitted are walked through but never returned, and the search goes on until ef admitted nodes are
    /// held). Results are left in the scratch's result heap.
    /// </summary>
    private void SearchLayer(float* query, int entry, float entryDistance, int ef, int level, Scratch scratch, bool locked, Admission admit)
    {
        var visited = scratch.Visited;
        ushort mark = scratch.NextMark();
        var candidates = scratch.Candidates;
        var results = scratch.Results;
        candidates.Clear();
        results.Clear();
        bool filtering = !admit.All;
        visited[entry] = mark;
        candidates.Push(entryDistance, entry);
        float bound = float.PositiveInfinity;
        if (admit.Admits(entry))
        {
            results.Push(-entryDistance, entry);
            bound = entryDistance;
        }
        var neighbors = scratch.Neighbors;
        var fresh = scratch.Fresh;
        bool l2 = _metric == VectorMetric.L2;
        float* four = stackalloc float[4];
        while (candidates.Count > 0)
        {
            var (distance, node) = candidates.Peek();
            if (distance > bound && (results.Count >= ef || !filtering)) break;
            candidates.Pop();
            int count = ReadList(node, level, neighbors, locked);
            // The unvisited neighbours first, then their distances four at a time: one load of the query
            // serves four rows, and four independent sums keep the FMA units busy (hnswlib goes one by one).
            int unseen = 0;
            for (int i = 0; i < count; i++)
            {
                int next = neighbors[i];
                if ((uint)next >= (uint)visited.Length || visited[next] == mark) continue;
                visited[next] = mark;
                if (System.Runtime.Intrinsics.X86.Sse.IsSupported) System.Runtime.Intrinsics.X86.Sse.Prefetch0(Vector(next));
                fresh[unseen++] = next;
            }
            for (int i = 0; i < unseen; i += 4)
            {
                int n = Math.Min(4, unseen - i);
                float* r0 = Vector(fresh[i]);
                Distances.Four(l2, query, r0, n > 1 ? Vector(fresh[i + 1]) : r0, n > 2 ? Vector(fresh[i + 2]) : r0,
                               n > 3 ? Vector(fresh[i + 3]) : r0, _dim, four);
                for (int j = 0; j < n; j++)
                {
                    float d = four[j];
                    int next = fresh[i + j];
                    if (results.Count < ef || d < bound)
                    {
                        candidates.Push(d, next);
                        if (admit.Admits(next))
                        {
                            results.Push(-d, next);
                            if (results.Count > ef) results.Pop();
                            bound = -results.Peek().Key;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Adds the <paramref name="ef"/> (at least k) nearest admitted nodes found for <paramref name="query"/> to
    /// <paramref name="top"/>. Safe to run on many threads, also while rows are inserted.
    /// </summary>
    public void Search(float* query, int ef, Admission admit, TopK top)
    {
        _resize.EnterReadLock();
        try
        {
            long entry = Volatile.Read(ref _entry);
            if (entry < 0) return;
            var scratch = Scratch.For(_capacity, _maxLinks0);
            int current = (int)entry;
            float distance = Distance(query, current);
            for (int l = (int)(entry >> 32); l > 0; l--)
                (current, distance) = Greedy(query, current, distance, l, scratch, locked: false);
            SearchLayer(query, current, distance, ef, 0, scratch, locked: false, admit);
            foreach (var found in scratch.TakeResults()) top.Add(found.Distance, found.Node);
        }
        finally { _resize.ExitReadLock(); }
    }

    /// <summary>Moves the graph onto other copies of the same rows (a compaction that renumbered nothing), after searches running now finish.</summary>
    public void Repoint(ReadOnlySpan<nint> vectors)
    {
        lock (_writer)
        {
            if (vectors.Length != _count) throw new ArgumentException($"{vectors.Length} vectors for a graph of {_count} rows");
            _resize.EnterWriteLock();
            try
            {
                vectors.CopyTo(_vectors);
                CheckRun(0, _count);
            }
            finally { _resize.ExitWriteLock(); }
        }
    }

    /// <summary>Writes the graph (settings, levels, lists, entry point, checksums) as the new file <paramref name="name"/> of <paramref name="directory"/>, fsynced.</summary>
    public void Save(DirectoryHandle directory, string name)
    {
        lock (_writer)
            SaveLocked(directory, name);
    }

    private void SaveLocked(DirectoryHandle directory, string name)
    {
        _resize.EnterReadLock(); // the arrays do not grow while they are written out
        try
        {
            int count = _count;
            using var stream = directory.CreateNew(name);
            stream.Position = HeaderSize;
            var hasher = Hasher.Create(HashAlgorithmKind.Xxh3_64);
            void Write(ReadOnlySpan<byte> bytes)
            {
                stream.Write(bytes);
                hasher.Append(bytes);
            }
            Write(_levels.AsSpan(0, count));
            Write(MemoryMarshal.AsBytes(_links0.AsSpan(0, count * Stride0)));
            for (int node = 0; node < count; node++)
                if (_upper[node] is { } upper) Write(MemoryMarshal.AsBytes(upper.AsSpan()));
            long end = stream.Position;
            Span<byte> digest = stackalloc byte[8];
            hasher.Finish(digest);
            Span<byte> header = stackalloc byte[HeaderSize];
            header.Clear();
            Magic.CopyTo(header);
            BinaryPrimitives.WriteInt32LittleEndian(header[8..], FileVersion);
            BinaryPrimitives.WriteInt32LittleEndian(header[12..], _dim);
            BinaryPrimitives.WriteInt32LittleEndian(header[16..], (int)_metric);
            BinaryPrimitives.WriteInt32LittleEndian(header[20..], Settings.M);
            BinaryPrimitives.WriteInt32LittleEndian(header[24..], Settings.EfConstruction);
            BinaryPrimitives.WriteInt32LittleEndian(header[28..], count);
            BinaryPrimitives.WriteInt64LittleEndian(header[32..], count == 0 ? -1 : Volatile.Read(ref _entry));
            BinaryPrimitives.WriteInt64LittleEndian(header[40..], end);
            BinaryPrimitives.WriteUInt64LittleEndian(header[48..], BinaryPrimitives.ReadUInt64BigEndian(digest));
            BinaryPrimitives.WriteUInt64LittleEndian(header[56..], XxHash3.Hash64(header[..56]));
            stream.Position = 0;
            stream.Write(header);
            stream.Flush(flushToDisk: true);
        }
        finally { _resize.ExitReadLock(); }
    }

    /// <summary>
    /// Reads a graph saved by <see cref="Save"/> from the file <paramref name="name"/> of
    /// <paramref name="directory"/> (a regular file, never a symlink). <paramref name="vectors"/> gives the
    /// vector of each of its rows. Throws <see cref="InvalidDataException"/> naming the problem for a
    /// truncated, corrupted, forged or mismatched file: every length, level and node id is checked before use.
    /// </summary>
    public static HnswGraph Load(DirectoryHandle directory, string name, int dim, VectorMetric metric, int ef, ReadOnlySpan<nint> vectors)
    {
        using var file = directory.OpenRead(name);
        long length = RandomAccess.GetLength(file);
        Span<byte> header = stackalloc byte[HeaderSize];
        if (length < HeaderSize) throw new InvalidDataException($"{name}: truncated or not a vegafs HNSW index");
        DirectoryHandle.ReadExactly(file, header, 0, name);
        if (!header[..8].SequenceEqual(Magic)) throw new InvalidDataException($"{name}: truncated or not a vegafs HNSW index");
        if (BinaryPrimitives.ReadUInt64LittleEndian(header[56..]) != XxHash3.Hash64(header[..56]))
            throw new InvalidDataException($"{name}: corrupted header (checksum mismatch)");
        int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (version != FileVersion)
            throw new InvalidDataException($"{name}: index format version {version}, but this vegafs reads version {FileVersion}; upgrade vegafs");
        if (BinaryPrimitives.ReadInt32LittleEndian(header[12..]) != dim || BinaryPrimitives.ReadInt32LittleEndian(header[16..]) != (int)metric)
            throw new InvalidDataException($"{name}: built for another dim or metric than the store's");
        var settings = new HnswSettings(BinaryPrimitives.ReadInt32LittleEndian(header[20..]), BinaryPrimitives.ReadInt32LittleEndian(header[24..]), ef);
        try { settings.Check(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{name}: impossible settings ({e.Message})"); }
        int count = BinaryPrimitives.ReadInt32LittleEndian(header[28..]);
        if (count != vectors.Length) throw new InvalidDataException($"{name}: indexes {count} rows, but the manifest says {vectors.Length}");
        long end = BinaryPrimitives.ReadInt64LittleEndian(header[40..]);
        if (end != length) throw new InvalidDataException($"{name}: truncated or extended ({length} bytes, the header says {end})");
        var graph = new HnswGraph(dim, metric, settings);
        // Each node has a level byte, a level-0 list and at most MaxLevel upper lists: a longer file is not
        // a graph of this many rows, and is refused before it is read.
        long largest = HeaderSize + (long)count * (1 + graph.Stride0 * sizeof(int) + (long)MaxLevel * graph.StrideUpper * sizeof(int));
        if (length > largest) throw new InvalidDataException($"{name}: {length} bytes, more than a graph of {count} rows can have");
        if (length > Array.MaxLength) throw new InvalidDataException($"{name}: {length} bytes, too large to load");
        byte[] data = new byte[length];
        DirectoryHandle.ReadExactly(file, data, 0, name);
        if (!data.AsSpan(0, HeaderSize).SequenceEqual(header)) throw new InvalidDataException($"{name}: changed while being read");
        if (XxHash3.Hash64(data.AsSpan(HeaderSize)) != BinaryPrimitives.ReadUInt64LittleEndian(header[48..]))
            throw new InvalidDataException($"{name}: corrupted data (checksum mismatch)");
        long at = HeaderSize;
        long links = (long)count * graph.Stride0 * sizeof(int);
        if (count < 0 || at + count + links > data.Length) throw new InvalidDataException($"{name}: truncated lists");
        graph.Grow(Math.Max(count, 1));
        data.AsSpan((int)at, count).CopyTo(graph._levels);
        at += count;
        MemoryMarshal.Cast<byte, int>(data.AsSpan((int)at, (int)links)).CopyTo(graph._links0);
        at += links;
        for (int node = 0; node < count; node++)
        {
            graph._vectors[node] = vectors[node];
            int level = graph._levels[node];
            if (level == 0) continue;
            if (level > MaxLevel) throw new InvalidDataException($"{name}: node {node} has level {level}, above {MaxLevel}");
            long size = (long)level * graph.StrideUpper * sizeof(int);
            if (at + size > data.Length) throw new InvalidDataException($"{name}: truncated upper lists");
            graph._upper[node] = MemoryMarshal.Cast<byte, int>(data.AsSpan((int)at, (int)size)).ToArray();
            at += size;
        }
        if (at != data.Length) throw new InvalidDataException($"{name}: {data.Length - at} unexpected bytes after the lists");
        graph.CheckRun(0, count);
        graph.CheckLinks(name, count);
        graph._entry = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
        if (count > 0 && ((int)graph._entry < 0 || (int)graph._entry >= count || (int)(graph._entry >> 32) != graph._levels[(int)graph._entry]))
            throw new InvalidDataException($"{name}: bad entry point");
        graph._count = count;
        return graph;
    }

    /// <summary>Every stored list length and node id is in range, so a consistent-checksum file from a buggy writer cannot send a search out of bounds.</summary>
    private void CheckLinks(string name, int count)
    {
        for (int node = 0; node < count; node++)
        {
            for (int level = 0; level <= _levels[node]; level++)
            {
                var list = List(node, level);
                if ((uint)list[0] > (uint)(list.Length - 1)) throw new InvalidDataException($"{name}: node {node} has a bad list length");
                foreach (int neighbor in list.Slice(1, list[0]))
                    if ((uint)neighbor >= (uint)count || level > _levels[neighbor])
                        throw new InvalidDataException($"{name}: node {node} links to a bad node");
            }
        }
    }

    public readonly record struct Pair(float Distance, int Node) : IComparable<Pair>
    {
        public int CompareTo(Pair other) => Distance != other.Distance ? Distance.CompareTo(other.Distance) : Node.CompareTo(other.Node);
    }

    /// <summary>Per-thread search state, reused: the visited marks (a generation counter saves clearing them) and the heaps.</summary>
    private sealed class Scratch
    {
        [ThreadStatic] private static Scratch? t_current;

        public ushort[] Visited = [];
        public int[] Neighbors = [];
        public int[] Fresh = [];
        public readonly MinHeap Candidates = new();
        public readonly MinHeap Results = new();
        private Pair[] _pairs = new Pair[64];
        private int _mark;

        public static Scratch For(int capacity, int maxLinks)
        {
            var scratch = t_current ??= new Scratch();
            if (scratch.Visited.Length < capacity)
            {
                scratch.Visited = new ushort[capacity];
                scratch._mark = 0;
            }
            if (scratch.Neighbors.Length < maxLinks)
            {
                scratch.Neighbors = new int[maxLinks];
                scratch.Fresh = new int[maxLinks];
            }
            return scratch;
        }

        /// <summary>16-bit marks, as hnswlib's: half the cache footprint of ints, one clear every 65535 searches.</summary>
        public ushort NextMark()
        {
            if (++_mark == ushort.MaxValue)
            {
                Array.Clear(Visited);
                _mark = 1;
            }
            return (ushort)_mark;
        }

        public Span<Pair> Pairs(int count)
        {
            if (_pairs.Length < count) _pairs = new Pair[Math.Max(count, _pairs.Length * 2)];
            return _pairs.AsSpan(0, count);
        }

        /// <summary>The result heap's nodes, closest first (ties by node).</summary>
        public Span<Pair> TakeResults()
        {
            var pairs = Pairs(Results.Count);
            for (int i = 0; i < pairs.Length; i++)
            {
                var (key, node) = Results.Item(i);
                pairs[i] = new Pair(-key, node);
            }
            Results.Clear();
            pairs.Sort();
            return pairs;
        }
    }

    /// <summary>A binary min-heap of (key, node). The result heap stores negated distances, making it a max-heap on distance.</summary>
    private sealed class MinHeap
    {
        private float[] _keys = new float[256];
        private int[] _nodes = new int[256];

        public int Count { get; private set; }

        public void Clear() => Count = 0;

        public (float Key, int Node) Peek() => (_keys[0], _nodes[0]);

        public (float Key, int Node) Item(int i) => (_keys[i], _nodes[i]);

        public void Push(float key, int node)
        {
            if (Count == _keys.Length)
            {
                Array.Resize(ref _keys, Count * 2);
                Array.Resize(ref _nodes, Count * 2);
            }
            int at = Count++;
            while (at > 0)
            {
                int parent = (at - 1) >> 1;
                if (_keys[parent] <= key) break;
                _keys[at] = _keys[parent];
                _nodes[at] = _nodes[parent];
                at = parent;
            }
            _keys[at] = key;
            _nodes[at] = node;
        }

        public void Pop()
        {
            int last = --Count;
            if (last == 0) return;
            float key = _keys[last];
            int node = _nodes[last];
            int at = 0;
            while (true)
            {
                int child = 2 * at + 1;
                if (child >= last) break;
                if (child + 1 < last && _keys[child + 1] < _keys[child]) child++;
                if (_keys[child] >= key) break;
                _keys[at] = _keys[child];
                _nodes[at] = _nodes[child];
                at = child;
            }
            _keys[at] = key;
            _nodes[at] = node;
        }
    }
}
