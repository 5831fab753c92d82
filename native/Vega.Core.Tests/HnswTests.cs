using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Vega.Core.Hashing;
using Vega.Core.Vectors;

namespace Vega.Core.Tests;

/// <summary>
/// The HNSW graph (<see cref="HnswGraph"/>) against a double-precision brute force: recall on clustered
/// data for every metric, exactness of what it reports, admission (skip marks and row limits), parallel
/// and batched builds, save/load and a corrupted file, a cancelled insert, queries racing an insert; and
/// a store with an HNSW index searched through its graph plus its pending rows.
/// </summary>
public sealed unsafe class HnswTests : IDisposable
{
    private readonly TempTree _tree = new();
    private readonly List<NativeRows> _owned = [];

    public void Dispose()
    {
        _tree.Dispose();
        foreach (var rows in _owned) rows.Dispose();
    }

    public static TheoryData<VectorMetric> Metrics => new(Enum.GetValues<VectorMetric>());

    // ================================================================ helpers

    /// <summary>See VectorTests: lets Parallel.For really use several threads under the test host.</summary>
    private static void EnsurePoolThreads()
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        if (workers < 8) ThreadPool.SetMinThreads(8, io);
    }

    /// <summary>Rows in native memory (a graph keeps pointers to them), freed when the test ends.</summary>
    private sealed class NativeRows : IDisposable
    {
        public int Count { get; }
        public int Dim { get; }
        public float[] Values { get; }
        public float* Data { get; }

        public NativeRows(float[] values, int dim)
        {
            Dim = dim;
            Count = values.Length / dim;
            Values = values;
            Data = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, values.Length) * sizeof(float), 64);
            values.CopyTo(new Span<float>(Data, values.Length));
        }

        public float* Row(int i) => Data + (long)i * Dim;

        public nint[] Pointers(int from, int count)
        {
            var pointers = new nint[count];
            for (int i = 0; i < count; i++) pointers[i] = (nint)Row(from + i);
            return pointers;
        }

        public void Dispose() => NativeMemory.AlignedFree(Data);
    }

    private NativeRows Own(float[] values, int dim)
    {
        var rows = new NativeRows(values, dim);
        _owned.Add(rows);
        return rows;
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>Gaussian clusters around centers drawn once from <paramref name="centerSeed"/>, so data and queries share them.</summary>
    private static float[] Clustered(int centerSeed, Random rng, int count, int dim, int clusters, double spread = 0.3,
                                     bool normalize = false)
    {
        var centerRng = new Random(centerSeed);
        var centers = new double[clusters * dim];
        for (int i = 0; i < centers.Length; i++) centers[i] = Gaussian(centerRng);
        var values = new float[count * dim];
        for (int row = 0; row < count; row++)
        {
            int c = rng.Next(clusters);
            for (int j = 0; j < dim; j++) values[row * dim + j] = (float)(centers[c * dim + j] + spread * Gaussian(rng));
            if (normalize) Distances.Normalize(values.AsSpan(row * dim, dim));
        }
        return values;
    }

    private static float[] RandomVectors(Random rng, int count, int dim)
    {
        var values = new float[count * dim];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return values;
    }

    /// <summary>The metric's distance in double (cosine rows are normalized by the caller, as the store does).</summary>
    private static double TrueDistance(VectorMetric metric, float* a, float* b, int dim)
    {
        double dot = 0, l2 = 0;
        for (int i = 0; i < dim; i++)
        {
            dot += (double)a[i] * b[i];
            double d = (double)a[i] - b[i];
            l2 += d * d;
        }
        return metric == VectorMetric.L2 ? l2 : 1 - dot;
    }

    /// <summary>The k nearest admitted rows by brute force in double, closest first.</summary>
    private static List<(double Distance, int Row)> Exact(NativeRows rows, float* query, int k, VectorMetric metric,
                                                         int limit = int.MaxValue, byte[]? skip = null)
    {
        var all = new List<(double Distance, int Row)>();
        for (int row = 0; row < Math.Min(rows.Count, limit); row++)
        {
            if (skip is not null && skip[row] != 0) continue;
            all.Add((TrueDistance(metric, query, rows.Row(row), rows.Dim), row));
        }
        all.Sort((a, b) => a.Distance != b.Distance ? a.Distance.CompareTo(b.Distance) : a.Row.CompareTo(b.Row));
        return all.Take(k).ToList();
    }

    private static (float[] Distances, long[] Rows) GraphSearch(HnswGraph graph, float* query, int k, int ef,
                                                                 int limit = int.MaxValue, byte[]? skip = null)
    {
        var top = new TopK(k);
        graph.Search(query, ef, new HnswGraph.Admission(limit, skip ?? []), top);
        var distances = new float[top.Count];
        var rows = new long[top.Count];
        top.Drain(distances, rows);
        return (distances, rows);
    }

    /// <summary>The brute-force answers of all queries (computed once, then compared with several searches).</summary>
    private static int[][] ExactAll(NativeRows rows, NativeRows queries, int k, VectorMetric metric, int limit = int.MaxValue, byte[]? skip = null) =>
        Enumerable.Range(0, queries.Count).Select(q => Exact(rows, queries.Row(q), k, metric, limit, skip).Select(e => e.Row).ToArray()).ToArray();

    /// <summary>Mean recall@k of the graph's answers against the brute force, over all queries.</summary>
    private static double Recall(HnswGraph graph, NativeRows queries, int[][] exact, int k, int ef, int limit = int.MaxValue, byte[]? skip = null)
    {
        double found = 0, wanted = 0;
        for (int q = 0; q < queries.Count; q++)
        {
            var (_, got) = GraphSearch(graph, queries.Row(q), k, ef, limit, skip);
            var set = new HashSet<long>(got);
            found += exact[q].Count(row => set.Contains(row));
            wanted += exact[q].Length;
        }
        return found / wanted;
    }

    private static double Recall(HnswGraph graph, NativeRows rows, NativeRows queries, int k, int ef, VectorMetric metric,
                                 int limit = int.MaxValue, byte[]? skip = null) =>
        Recall(graph, queries, ExactAll(rows, queries, k, metric, limit, skip), k, ef, limit, skip);

    private static HnswGraph Build(NativeRows rows, VectorMetric metric, HnswSettings settings, int threads, int count = -1)
    {
        var graph = new HnswGraph(rows.Dim, metric, settings);
        graph.Insert(rows.Pointers(0, count < 0 ? rows.Count : count), threads);
        return graph;
    }

    private const int Dim = 32, Rows = 5000, Clusters = 50;
    private static readonly HnswSettings Standard = new(16, 100, 64);

    /// <summary>The recall tests' data: 5000 x 32 in 50 gaussian clusters, and 100 queries from the same clusters.</summary>
    private (NativeRows Rows, NativeRows Queries) ClusteredSet(VectorMetric metric, int seed = 1, int count = Rows, int queries = 100)
    {
        bool normalize = metric == VectorMetric.Cosine;
        var data = Clustered(seed, new Random(seed + 100), count, Dim, Clusters, normalize: normalize);
        var query = Clustered(seed, new Random(seed + 200), queries, Dim, Clusters, normalize: normalize);
        return (Own(data, Dim), Own(query, Dim));
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    // ================================================================ recall

    [Theory]
    [MemberData(nameof(Metrics))]
    public void Recall_at_ef_64_is_high_on_clustered_data_and_grows_with_ef(VectorMetric metric)
    {
        var (rows, queries) = ClusteredSet(metric);
        var graph = Build(rows, metric, Standard, threads: 1);
        Assert.Equal(Rows, graph.Count);
        var exact = ExactAll(rows, queries, 10, metric);
        double at64 = Recall(graph, queries, exact, 10, 64);
        Assert.True(at64 >= 0.95, $"{metric}: recall@10 at ef=64 is {at64:F3}");
        double previous = 0;
        foreach (int ef in new[] { 10, 20, 40, 64, 100, 200 })
        {
            double recall = Recall(graph, queries, exact, 10, ef);
            Assert.True(recall >= previous, $"{metric}: recall fell from {previous:F3} to {recall:F3} at ef={ef}");
            previous = recall;
        }
        Assert.True(previous >= 0.99, $"{metric}: recall@10 at ef=200 is only {previous:F3}");
    }

    [Theory]
    [MemberData(nameof(Metrics))]
    public void A_beam_as_wide_as_the_graph_finds_the_exact_answer(VectorMetric metric)
    {
        const int n = 300;
        var (rows, queries) = ClusteredSet(metric, seed: 2, count: n, queries: 30);
        var graph = Build(rows, metric, new HnswSettings(8, 40, 10), threads: 1);
        for (int q = 0; q < queries.Count; q++)
        {
            var exact = Exact(rows, queries.Row(q), 10, metric);
            foreach (int ef in new[] { n, n + 50 })
            {
                var (distances, got) = GraphSearch(graph, queries.Row(q), 10, ef);
                Assert.Equal(exact.Select(e => (long)e.Row), got);
                for (int i = 0; i < got.Length; i++) Assert.Equal(exact[i].Distance, distances[i], 1e-4);
            }
            // Asking for every row returns every row.
            var (_, everything) = GraphSearch(graph, queries.Row(q), n, n);
            Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i), everything.Order());
        }
    }

    [Theory]
    [MemberData(nameof(Metrics))]
    public void Results_carry_true_distances_sorted_without_duplicates_and_k_is_honoured(VectorMetric metric)
    {
        var (rows, queries) = ClusteredSet(metric, seed: 3, count: 2000, queries: 20);
        var graph = Build(rows, metric, new HnswSettings(12, 60, 32), threads: 1);
        foreach (int k in new[] { 1, 5, 10, 50 })
        {
            foreach (int ef in new[] { k, 64 })
            {
                for (int q = 0; q < queries.Count; q++)
                {
                    var (distances, got) = GraphSearch(graph, queries.Row(q), k, ef);
                    Assert.Equal(k, got.Length);
                    Assert.Equal(got.Length, got.Distinct().Count());
                    for (int i = 0; i < got.Length; i++)
                    {
                        Assert.InRange(got[i], 0, rows.Count - 1);
                        double truth = TrueDistance(metric, queries.Row(q), rows.Row((int)got[i]), Dim);
                        Assert.True(Math.Abs(truth - distances[i]) <= 1e-4 * Math.Max(1, Math.Abs(truth)),
                            $"k={k} ef={ef} query {q}: row {got[i]} reported at {distances[i]}, truly {truth}");
                        if (i > 0) Assert.True(distances[i - 1] <= distances[i], $"k={k} ef={ef} query {q}: not ascending at {i}");
                    }
                    // The graph's own ef bounds what it offers: a TopK wider than ef gets at most ef rows.
                    var wide = new TopK(ef + 20);
                    graph.Search(queries.Row(q), ef, new HnswGraph.Admission(int.MaxValue, []), wide);
                    Assert.Equal(ef, wide.Count);
                }
            }
        }
        // A stored vector is its own nearest neighbour, at distance (about) 0 (not so for inner product).
        for (int row = 0; row < rows.Count && metric != VectorMetric.InnerProduct; row += 97)
        {
            var (distances, got) = GraphSearch(graph, rows.Row(row), 1, 32);
            Assert.Equal(row, got[0]);
            Assert.True(Math.Abs(distances[0]) < 1e-4, $"row {row} at distance {distances[0]} from itself");
        }
    }

    [Fact]
    public void An_empty_graph_returns_nothing_and_a_one_row_graph_returns_its_row()
    {
        var rows = Own(RandomVectors(new Random(4), 3, 8), 8);
        var graph = new HnswGraph(8, VectorMetric.L2, Standard);
        Assert.Equal(0, graph.Count);
        Assert.Empty(GraphSearch(graph, rows.Row(0), 5, 10).Rows);
        graph.Insert([], 1);
        Assert.Equal(0, graph.Count);
        graph.Insert(rows.Pointers(0, 1), 1);
        Assert.Equal(1, graph.Count);
        Assert.Equal([0L], GraphSearch(graph, rows.Row(2), 5, 10).Rows);
        graph.Insert(rows.Pointers(1, 2), 1);
        Assert.Equal(3, graph.Count);
        Assert.Equal(new long[] { 0, 1, 2 }, GraphSearch(graph, rows.Row(2), 5, 10).Rows.Order());
    }

    // ================================================================ admission

    [Fact]
    public void Skipped_rows_and_rows_past_the_limit_are_never_returned_and_recall_over_the_admitted_stays_high()
    {
        const VectorMetric metric = VectorMetric.L2;
        var (rows, queries) = ClusteredSet(metric, seed: 5, count: 4000, queries: 60);
        var graph = Build(rows, metric, Standard, threads: 1);
        var rng = new Random(6);
        var half = new byte[rows.Count];
        for (int i = 0; i < half.Length; i++) half[i] = (byte)rng.Next(2);
        int limit = 3200;
        foreach (var (lim, skip) in new (int, byte[]?)[] { (int.MaxValue, half), (limit, null), (limit, half) })
        {
            for (int q = 0; q < queries.Count; q++)
            {
                var (_, got) = GraphSearch(graph, queries.Row(q), 10, 64, lim, skip);
                Assert.Equal(10, got.Length);
                foreach (long row in got)
                {
                    Assert.True(row < lim, $"row {row} returned past the limit {lim}");
                    Assert.True(skip is null || skip[row] == 0, $"skipped row {row} returned");
                }
            }
            double recall = Recall(graph, rows, queries, 10, 64, metric, lim, skip);
            Assert.True(recall >= 0.9, $"limit {lim}, skip {(skip is null ? "none" : "half")}: recall {recall:F3}");
        }
        // Queries that are skipped rows themselves: the row (at distance 0) must not come back, its neighbours do.
        for (int row = 0; row < rows.Count; row += 50)
        {
            if (half[row] == 0) continue;
            var (_, got) = GraphSearch(graph, rows.Row(row), 5, 64, int.MaxValue, half);
            Assert.DoesNotContain((long)row, got);
            Assert.Equal(5, got.Length);
        }
        // The limit is exclusive: limit 1 admits row 0 only; a skip of everything admits nothing.
        Assert.Equal([0L], GraphSearch(graph, queries.Row(0), 10, 64, 1).Rows);
        var all = Enumerable.Repeat((byte)1, rows.Count).ToArray();
        Assert.Empty(GraphSearch(graph, queries.Row(0), 10, 64, int.MaxValue, all).Rows);
        Assert.Empty(GraphSearch(graph, queries.Row(0), 10, 64, 0).Rows);
    }

    [Fact]
    public void A_filter_that_admits_few_rows_still_finds_them_all_with_a_wide_beam()
    {
        const VectorMetric metric = VectorMetric.L2;
        var (rows, queries) = ClusteredSet(metric, seed: 7, count: 2000, queries: 20);
        var graph = Build(rows, metric, new HnswSettings(12, 60, 32), threads: 1);
        // 1 in 20 rows admitted: an unfiltered search keeps going until ef admitted rows are held.
        var skip = new byte[rows.Count];
        for (int i = 0; i < skip.Length; i++) skip[i] = (byte)(i % 20 == 3 ? 0 : 1);
        double recall = Recall(graph, rows, queries, 10, 64, metric, int.MaxValue, skip);
        Assert.True(recall >= 0.9, $"recall {recall:F3} over 5% admitted");
    }

    // ================================================================ building

    [Fact]
    public void A_parallel_build_is_as_good_as_a_serial_one()
    {
        EnsurePoolThreads();
        const VectorMetric metric = VectorMetric.L2;
        var (rows, queries) = ClusteredSet(metric, seed: 8, count: 4000, queries: 60);
        var exact = ExactAll(rows, queries, 10, metric);
        double serial = Recall(Build(rows, metric, Standard, threads: 1), queries, exact, 10, 64);
        foreach (int threads in new[] { 2, 4 })
        {
            var graph = Build(rows, metric, Standard, threads);
            Assert.Equal(rows.Count, graph.Count);
            double parallel = Recall(graph, queries, exact, 10, 64);
            Assert.True(parallel >= 0.95 && parallel >= serial - 0.02, $"threads={threads}: recall {parallel:F3}, serial {serial:F3}");
        }
    }

    /// <summary>Rows of a graph that a search for the row's own vector (distance 0) does not return, even with a wide beam.</summary>
    private static List<int> Unreachable(HnswGraph graph, NativeRows rows, int ef)
    {
        var missing = new List<int>();
        for (int row = 0; row < graph.Count; row++)
            if (GraphSearch(graph, rows.Row(row), 1, ef).Rows is not [var found] || found != row) missing.Add(row);
        return missing;
    }

    [Fact]
    public void Every_row_of_a_serial_build_is_reachable()
    {
        var (rows, _) = ClusteredSet(VectorMetric.L2, seed: 8, count: 4000, queries: 1);
        Assert.Empty(Unreachable(Build(rows, VectorMetric.L2, Standard, threads: 1), rows, 200));
    }

    [Fact]
    public void Every_row_of_a_parallel_build_is_reachable()
    {
        EnsurePoolThreads();
        var (rows, queries) = ClusteredSet(VectorMetric.L2, seed: 8, count: 4000, queries: 60);
        var exact = ExactAll(rows, queries, 10, VectorMetric.L2);
        double serial = Recall(Build(rows, VectorMetric.L2, Standard, threads: 1), queries, exact, 10, 64);
        foreach (int threads in new[] { 2, 4, 4 })
        {
            var graph = Build(rows, VectorMetric.L2, Standard, threads);
            var missing = Unreachable(graph, rows, 200);
            Assert.True(missing.Count == 0, $"threads={threads}: {missing.Count} rows never found, e.g. {string.Join(", ", missing.Take(5))}");
            double parallel = Recall(graph, queries, exact, 10, 64);
            Assert.True(parallel >= serial - 0.005, $"threads={threads}: recall {parallel:F3}, serial {serial:F3}");
        }
    }

    [Fact]
    public void Inserting_in_batches_is_as_good_as_one_batch_and_Count_advances()
    {
        const VectorMetric metric = VectorMetric.Cosine;
        var (rows, queries) = ClusteredSet(metric, seed: 9, count: 4000, queries: 60);
        var exact = ExactAll(rows, queries, 10, metric);
        double whole = Recall(Build(rows, metric, Standard, threads: 1), queries, exact, 10, 64);
        var graph = new HnswGraph(Dim, metric, Standard);
        int at = 0;
        foreach (int size in new[] { 1, 1, 7, 500, 1, 1490, 2000 })
        {
            graph.Insert(rows.Pointers(at, size), threads: 1);
            at += size;
            Assert.Equal(at, graph.Count);
            // Searches over what is in so far never return later rows (they are not in the graph yet).
            var (_, got) = GraphSearch(graph, queries.Row(0), 10, 64);
            Assert.All(got, row => Assert.True(row < at));
            Assert.Equal(Math.Min(10, at), got.Length);
        }
        Assert.Equal(rows.Count, at);
        double batched = Recall(graph, queries, exact, 10, 64);
        Assert.True(batched >= 0.95 && batched >= whole - 0.02, $"batched recall {batched:F3}, one batch {whole:F3}");
    }

    [Fact]
    public void Settings_are_checked_and_SetEf_changes_only_ef()
    {
        Assert.Throws<ArgumentException>(() => new HnswGraph(8, VectorMetric.L2, new HnswSettings(1, 100, 10)));
        Assert.Throws<ArgumentException>(() => new HnswGraph(8, VectorMetric.L2, new HnswSettings(257, 100, 10)));
        Assert.Throws<ArgumentException>(() => new HnswGraph(8, VectorMetric.L2, new HnswSettings(16, 0, 10)));
        Assert.Throws<ArgumentException>(() => new HnswGraph(8, VectorMetric.L2, new HnswSettings(16, 100, 0)));
        var graph = new HnswGraph(8, VectorMetric.L2, new HnswSettings(2, 1, 1));
        graph.SetEf(500);
        Assert.Equal(new HnswSettings(2, 1, 500), graph.Settings);
        Assert.Throws<ArgumentException>(() => graph.SetEf(0));
        Assert.Equal(500, graph.Settings.Ef);
        // M=2 and ef_construction=1 are legal and give a searchable graph (not a good one: no reachability is promised).
        var rows = Own(RandomVectors(new Random(10), 300, 8), 8);
        graph.Insert(rows.Pointers(0, 300), 1);
        Assert.Equal(300, graph.Count);
        for (int row = 0; row < 300; row += 29)
        {
            var (distances, got) = GraphSearch(graph, rows.Row(row), 5, 50);
            Assert.Equal(5, got.Length);
            for (int i = 0; i < 5; i++)
                Assert.Equal(TrueDistance(VectorMetric.L2, rows.Row(row), rows.Row((int)got[i]), 8), distances[i], 1e-4);
        }
    }

    // ================================================================ save and load

    private string SavedGraph(out NativeRows rows, out HnswGraph graph, int count = 500, VectorMetric metric = VectorMetric.L2)
    {
        rows = Own(Clustered(11, new Random(12), count, 16, 10), 16);
        graph = Build(rows, metric, new HnswSettings(8, 40, 20), threads: 1);
        string path = Path.Combine(_tree.Root, "graph.idx");
        if (File.Exists(path)) File.Delete(path);
        StoreFiles.SaveGraph(graph, path);
        return path;
    }

    private static InvalidDataException LoadFails(string path, NativeRows rows, int dim = 16, VectorMetric metric = VectorMetric.L2,
                                                  int count = -1)
    {
        // Anything but InvalidDataException (an index error, an ArgumentException) fails the test.
        var e = Record.Exception(() => StoreFiles.LoadGraph(path, dim, metric, 20, rows.Pointers(0, count < 0 ? rows.Count : count)));
        Assert.NotNull(e);
        Assert.IsType<InvalidDataException>(e);
        Assert.Contains(Path.GetFileName(path), e.Message);
        return (InvalidDataException)e;
    }

    [Theory]
    [MemberData(nameof(Metrics))]
    public void A_loaded_graph_answers_exactly_as_the_saved_one(VectorMetric metric)
    {
        var rows = Own(Clustered(13, new Random(14), 3000, 16, 20, normalize: metric == VectorMetric.Cosine), 16);
        var graph = Build(rows, metric, new HnswSettings(10, 50, 24), threads: 2);
        string path = Path.Combine(_tree.Root, $"graph-{metric}.idx");
        StoreFiles.SaveGraph(graph, path);
        Assert.ThrowsAny<IOException>(() => StoreFiles.SaveGraph(graph, path)); // a new file only, never overwritten
        var loaded = StoreFiles.LoadGraph(path, 16, metric, 77, rows.Pointers(0, rows.Count));
        Assert.Equal(rows.Count, loaded.Count);
        Assert.Equal(new HnswSettings(10, 50, 77), loaded.Settings);
        var queries = Own(Clustered(13, new Random(15), 50, 16, 20, normalize: metric == VectorMetric.Cosine), 16);
        for (int q = 0; q < queries.Count; q++)
        {
            foreach (int ef in new[] { 10, 50 })
            {
                var before = GraphSearch(graph, queries.Row(q), 10, ef);
                var after = GraphSearch(loaded, queries.Row(q), 10, ef);
                Assert.Equal(before.Rows, after.Rows);
                Assert.Equal(before.Distances, after.Distances);
            }
        }
        // The loaded graph grows like the original: both take the same new rows and still agree.
        var more = Own(Clustered(13, new Random(16), 200, 16, 20, normalize: metric == VectorMetric.Cosine), 16);
        var combined = Own([.. rows.Values, .. more.Values], 16);
        var reloaded = StoreFiles.LoadGraph(path, 16, metric, 24, combined.Pointers(0, rows.Count));
        reloaded.Insert(combined.Pointers(rows.Count, more.Count), 1);
        Assert.Equal(rows.Count + more.Count, reloaded.Count);
        for (int row = 0; row < more.Count && metric != VectorMetric.InnerProduct; row += 11)
            Assert.Equal(rows.Count + row, GraphSearch(reloaded, more.Row(row), 1, 24).Rows[0]);
        var fresh = Build(combined, metric, new HnswSettings(10, 50, 24), threads: 1);
        double recall = Recall(reloaded, combined, queries, 10, 50, metric), reference = Recall(fresh, combined, queries, 10, 50, metric);
        Assert.True(recall >= reference - 0.03, $"{metric}: recall {recall:F3} after growing a loaded graph, {reference:F3} built at once");
    }

    [Fact]
    public void An_empty_graph_saves_and_loads()
    {
        var graph = new HnswGraph(4, VectorMetric.Cosine, Standard);
        string path = Path.Combine(_tree.Root, "empty.idx");
        StoreFiles.SaveGraph(graph, path);
        var loaded = StoreFiles.LoadGraph(path, 4, VectorMetric.Cosine, 64, []);
        Assert.Equal(0, loaded.Count);
        var rows = Own([1, 0, 0, 0, 0, 1, 0, 0], 4);
        Assert.Empty(GraphSearch(loaded, rows.Row(0), 3, 10).Rows);
        loaded.Insert(rows.Pointers(0, 2), 1);
        Assert.Equal([1L, 0], GraphSearch(loaded, rows.Row(1), 3, 10).Rows);
    }

    [Fact]
    public void A_truncated_or_extended_file_is_refused()
    {
        string path = SavedGraph(out var rows, out _);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..100]);
        Assert.Contains("truncated", LoadFails(path, rows).Message);
        File.WriteAllBytes(path, []);
        Assert.Contains("truncated", LoadFails(path, rows).Message);
        File.WriteAllBytes(path, bytes[..^4]);
        Assert.Contains("truncated", LoadFails(path, rows).Message);
        File.WriteAllBytes(path, bytes[..128]);
        Assert.Contains("truncated", LoadFails(path, rows).Message);
        File.WriteAllBytes(path, [.. bytes, 0, 0, 0, 0]);
        Assert.Contains("extended", LoadFails(path, rows).Message);
        File.WriteAllBytes(path, bytes);
        Assert.Equal(rows.Count, StoreFiles.LoadGraph(path, 16, VectorMetric.L2, 20, rows.Pointers(0, rows.Count)).Count);
    }

    [Fact]
    public void A_flipped_byte_anywhere_in_the_payload_is_refused()
    {
        string path = SavedGraph(out var rows, out _);
        byte[] bytes = File.ReadAllBytes(path);
        foreach (int at in new[] { 128, 129, 128 + 500, bytes.Length / 2, bytes.Length - 1 })
        {
            var flipped = (byte[])bytes.Clone();
            flipped[at] ^= 0x04;
            File.WriteAllBytes(path, flipped);
            Assert.Contains("corrupted data", LoadFails(path, rows).Message);
        }
    }

    [Fact]
    public void A_flipped_byte_in_the_header_is_refused()
    {
        string path = SavedGraph(out var rows, out _);
        byte[] bytes = File.ReadAllBytes(path);
        // Magic, version, dim, metric, M, ef_construction, count, entry, end, payload checksum, header checksum.
        foreach (int at in new[] { 0, 3, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 56, 63 })
        {
            var flipped = (byte[])bytes.Clone();
            flipped[at] ^= 0x01;
            File.WriteAllBytes(path, flipped);
            string message = LoadFails(path, rows).Message;
            Assert.True(message.Contains("corrupted header") || message.Contains("not a vegafs HNSW index"), $"byte {at}: {message}");
        }
    }

    [Fact]
    public void A_graph_of_another_dim_or_metric_or_row_count_is_refused()
    {
        string path = SavedGraph(out var rows, out _);
        Assert.Contains("dim or metric", LoadFails(path, rows, dim: 8).Message);
        Assert.Contains("dim or metric", LoadFails(path, rows, metric: VectorMetric.Cosine).Message);
        Assert.Contains("dim or metric", LoadFails(path, rows, metric: VectorMetric.InnerProduct).Message);
        var message = LoadFails(path, rows, count: rows.Count - 1).Message;
        Assert.Contains($"{rows.Count} rows", message);
        Assert.Contains($"{rows.Count - 1}", message);
        var more = Own(new float[(rows.Count + 1) * 16], 16);
        Assert.Contains($"{rows.Count} rows", LoadFails(path, more).Message);
        Assert.Contains("0", LoadFails(path, rows, count: 0).Message);
    }

    /// <summary>Rewrites the header's checksums after an edit, as a buggy writer (not a disk error) would leave the file.</summary>
    private static void Reseal(byte[] bytes)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(48), XxHash3.Hash64(bytes.AsSpan(128)));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(56), XxHash3.Hash64(bytes.AsSpan(0, 56)));
    }

    [Fact]
    public void Consistent_checksums_over_bad_lists_or_entry_are_refused()
    {
        string path = SavedGraph(out var rows, out _);
        byte[] bytes = File.ReadAllBytes(path);
        int stride0 = 2 * 8 + 1;
        int lists = 128 + rows.Count;
        // Node 0's first level-0 neighbour points past the graph.
        var bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(lists + 4), rows.Count + 5);
        Reseal(bad);
        File.WriteAllBytes(path, bad);
        Assert.Contains("bad node", LoadFails(path, rows).Message);
        // Node 3's list length is more than a list holds.
        bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(lists + 3 * stride0 * 4), stride0);
        Reseal(bad);
        File.WriteAllBytes(path, bad);
        Assert.Contains("list length", LoadFails(path, rows).Message);
        // The entry point is past the graph.
        bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt64LittleEndian(bad.AsSpan(32), rows.Count);
        Reseal(bad);
        File.WriteAllBytes(path, bad);
        Assert.Contains("entry point", LoadFails(path, rows).Message);
        // A format version from the future.
        bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(8), 2);
        Reseal(bad);
        File.WriteAllBytes(path, bad);
        Assert.Contains("version", LoadFails(path, rows).Message);
    }

    [Fact]
    public void Consistent_checksums_over_an_impossible_count_or_M_are_InvalidData()
    {
        string path = SavedGraph(out var rows, out _);
        byte[] bytes = File.ReadAllBytes(path);
        // The header claims more rows than the file has lists for (and the caller passes that many rows).
        int claimed = bytes.Length; // more levels than there are payload bytes
        var bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(28), claimed);
        Reseal(bad);
        File.WriteAllBytes(path, bad);
        var many = new nint[claimed];
        var e = Record.Exception(() => StoreFiles.LoadGraph(path, 16, VectorMetric.L2, 20, many));
        Assert.IsType<InvalidDataException>(e);
        // An M the settings refuse.
        bad = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(20), 1000);
        Reseal(bad);
        File.WriteAllBytes(path, bad);
        e = Record.Exception(() => StoreFiles.LoadGraph(path, 16, VectorMetric.L2, 20, rows.Pointers(0, rows.Count)));
        Assert.IsType<InvalidDataException>(e);
    }

    [Fact]
    public void A_graph_saved_while_an_insert_runs_loads()
    {
        EnsurePoolThreads();
        var rows = Own(Clustered(17, new Random(18), 12000, 16, 20), 16);
        var graph = Build(rows, VectorMetric.L2, new HnswSettings(8, 40, 20), threads: 1, count: 2000);
        var inserting = new Thread(() => graph.Insert(rows.Pointers(2000, 10000), 2));
        inserting.Start();
        // Save as soon as the insert has linked its first rows (a fixed sleep was too long for a Release build).
        while (inserting.IsAlive && !GraphSearch(graph, rows.Row(2000), 1, 16).Rows.Contains(2000L)) Thread.Yield();
        string path = Path.Combine(_tree.Root, "racing.idx");
        bool runningBefore = inserting.IsAlive;
        StoreFiles.SaveGraph(graph, path); // waits for the running insert: a saved graph never names rows being inserted
        inserting.Join();
        Assert.True(runningBefore, "the insert finished before the save: the race was not exercised");
        var loaded = StoreFiles.LoadGraph(path, 16, VectorMetric.L2, 20, rows.Pointers(0, 12000));
        Assert.Equal(12000, loaded.Count);
    }

    // ================================================================ cancellation

    /// <summary>
    /// Inserts rows [old, old + count) and cancels once the row <paramref name="trigger"/> is reachable (a
    /// watcher searches for its vector with every node admitted), so the cancel lands mid-insert.
    /// </summary>
    private static void CancelMidInsert(HnswGraph graph, NativeRows rows, int old, int count, int trigger)
    {
        using var cancel = new CancellationTokenSource();
        int seen = 0;
        var watcher = new Thread(() =>
        {
            var stopwatch = Stopwatch.StartNew();
            while (!cancel.IsCancellationRequested && stopwatch.Elapsed < TimeSpan.FromSeconds(20))
            {
                // The trigger row or one of the next few (should one of them be left unreachable).
                int probe = trigger + (int)(stopwatch.ElapsedTicks % 8);
                var (_, got) = GraphSearch(graph, rows.Row(probe), 1, 16);
                if (got.Length > 0 && got[0] == probe)
                {
                    Volatile.Write(ref seen, 1);
                    cancel.Cancel();
                }
            }
        });
        watcher.Start();
        try
        {
            // One insert thread leaves the other core to the watcher, so the cancel lands before the insert ends.
            Assert.ThrowsAny<OperationCanceledException>(() => graph.Insert(rows.Pointers(old, count), 1, cancel.Token));
        }
        finally
        {
            cancel.Cancel();
            watcher.Join();
        }
        Assert.Equal(1, Volatile.Read(ref seen));
    }

    [Theory]
    [InlineData(0.02)]
    [InlineData(0.6)]
    public void A_cancelled_insert_leaves_the_old_graph_searchable_and_can_be_redone(double when)
    {
        EnsurePoolThreads();
        const VectorMetric metric = VectorMetric.L2;
        const int old = 2000, added = 3000;
        var rows = Own(Clustered(19, new Random(20), old + added, Dim, Clusters), Dim);
        var queries = Own(Clustered(19, new Random(21), 50, Dim, Clusters), Dim);
        var graph = Build(rows, metric, Standard, threads: 1, count: old);
        var exactOld = ExactAll(rows, queries, 10, metric, limit: old);
        double before = Recall(graph, queries, exactOld, 10, 64, old);

        CancelMidInsert(graph, rows, old, added, old + (int)(added * when));
        Assert.Equal(old, graph.Count);
        // Nothing of the cancelled rows is reachable any more, even with every node admitted.
        for (int q = 0; q < queries.Count; q++)
            Assert.All(GraphSearch(graph, queries.Row(q), 10, 64).Rows, row => Assert.True(row < old, $"cancelled row {row} returned"));
        for (int row = old; row < old + added; row += 101)
            Assert.All(GraphSearch(graph, rows.Row(row), 10, 64).Rows, r => Assert.True(r < old, $"cancelled row {r} returned"));
        double after = Recall(graph, queries, exactOld, 10, 64, old);
        Assert.True(after >= 0.95 && after >= before - 0.03, $"recall over the old rows: {before:F3} before, {after:F3} after the cancel");
        // The old rows still find themselves.
        for (int row = 0; row < old; row += 13) Assert.Equal(row, GraphSearch(graph, rows.Row(row), 1, 64).Rows[0]);

        // Redo part of the cancelled rows: they go in from scratch.
        graph.Insert(rows.Pointers(old, 1500), 1);
        Assert.Equal(old + 1500, graph.Count);
        double redone = Recall(graph, rows, queries, 10, 64, metric, limit: old + 1500);
        Assert.True(redone >= 0.95, $"recall after redoing the insert: {redone:F3}");
        for (int row = old; row < old + 1500; row += 31)
            Assert.Equal(row, GraphSearch(graph, rows.Row(row), 1, 64).Rows[0]);
    }

    [Fact]
    public void A_cancelled_first_insert_leaves_an_empty_graph_that_works_afterwards()
    {
        var rows = Own(RandomVectors(new Random(22), 500, 8), 8);
        var graph = new HnswGraph(8, VectorMetric.L2, new HnswSettings(8, 40, 20));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => graph.Insert(rows.Pointers(0, 500), 2, cancelled.Token));
        Assert.Equal(0, graph.Count);
        Assert.Empty(GraphSearch(graph, rows.Row(0), 5, 20).Rows);
        // A cancelled insert onto a non-empty graph changes nothing either.
        graph.Insert(rows.Pointers(0, 100), 1);
        Assert.ThrowsAny<OperationCanceledException>(() => graph.Insert(rows.Pointers(100, 400), 2, cancelled.Token));
        Assert.Equal(100, graph.Count);
        Assert.All(GraphSearch(graph, rows.Row(300), 10, 100).Rows, row => Assert.True(row < 100));
        graph.Insert(rows.Pointers(100, 400), 1);
        Assert.Equal(500, graph.Count);
        for (int row = 0; row < 500; row += 7) Assert.Equal(row, GraphSearch(graph, rows.Row(row), 1, 40).Rows[0]);
    }

    // ================================================================ concurrency

    [Fact]
    public void Queries_racing_inserts_never_throw_and_stay_within_their_limit()
    {
        EnsurePoolThreads();
        const VectorMetric metric = VectorMetric.L2;
        const int dim = 16, total = 9000;
        var rows = Own(Clustered(23, new Random(24), total, dim, 30), dim);
        var queries = Own(Clustered(23, new Random(25), 64, dim, 30), dim);
        var graph = Build(rows, metric, new HnswSettings(12, 60, 32), threads: 1, count: 500);
        var skip = new byte[total];
        for (int i = 0; i < total; i++) skip[i] = (byte)(i % 3 == 0 ? 1 : 0);
        var errors = new ConcurrentQueue<string>();
        int stop = 0, searches = 0, growing = 0;
        var readers = Enumerable.Range(0, 3).Select(t => new Thread(() =>
        {
            try
            {
                int last = 0;
                for (int i = 0; Volatile.Read(ref stop) == 0; i++)
                {
                    int limit = graph.Count;
                    if (limit < last) errors.Enqueue($"Count went down from {last} to {limit}");
                    if (limit > last && last > 0) Interlocked.Increment(ref growing);
                    last = limit;
                    float* query = i % 2 == 0 ? queries.Row(i % queries.Count) : rows.Row(i * 7919 % total);
                    // Reader 0 passes a limit, reader 1 a limit and skip marks, reader 2 admits every node.
                    int admitted = t == 2 ? int.MaxValue : limit;
                    var (distances, got) = GraphSearch(graph, query, 10, 32, admitted, t == 1 ? skip : null);
                    for (int j = 0; j < got.Length; j++)
                    {
                        long row = got[j];
                        if (row < 0 || row >= Math.Min(admitted, (long)total)) errors.Enqueue($"reader {t}: row {row} outside [0, {admitted})");
                        else if (t == 1 && skip[row] != 0) errors.Enqueue($"reader {t}: skipped row {row}");
                        else if (Math.Abs(TrueDistance(metric, query, rows.Row((int)row), dim) - distances[j]) > 1e-3)
                            errors.Enqueue($"reader {t}: row {row} at a wrong distance {distances[j]}");
                    }
                    Interlocked.Increment(ref searches);
                }
            }
            catch (Exception e) { errors.Enqueue(e.ToString()); }
        })).ToList();
        readers.ForEach(r => r.Start());
        try
        {
            graph.Insert(rows.Pointers(500, 1), 1);
            foreach (var (from, count) in new[] { (501, 1499), (2000, 3000), (5000, 4000) })
                graph.Insert(rows.Pointers(from, count), 2);
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            readers.ForEach(r => r.Join());
        }
        Assert.Empty(errors.Take(10));
        Assert.True(searches > 50 && growing > 0, $"searches {searches}, saw growth {growing}");
        Assert.Equal(total, graph.Count);
        double recall = Recall(graph, rows, queries, 10, 64, metric);
        Assert.True(recall >= 0.95, $"recall after the racing build: {recall:F3}");
    }

    [Fact]
    public void Queries_racing_inserts_still_find_the_rows_already_in_the_graph()
    {
        EnsurePoolThreads();
        const int dim = 16, total = 9000;
        var rows = Own(RandomVectors(new Random(40), total, dim), dim);
        var errors = new ConcurrentQueue<string>();
        for (int round = 0; round < 3; round++)
        {
            var graph = Build(rows, VectorMetric.L2, new HnswSettings(12, 60, 32), threads: 1, count: 500);
            int stop = 0;
            var reader = new Thread(() =>
            {
                for (int i = 0; Volatile.Read(ref stop) == 0; i++)
                {
                    int limit = graph.Count;
                    int row = i * 7919 % limit;
                    var (_, got) = GraphSearch(graph, rows.Row(row), 10, 32, limit);
                    if (got.Length < 10) errors.Enqueue($"round {round}: {got.Length} results with {limit} rows in the graph");
                }
            });
            reader.Start();
            graph.Insert(rows.Pointers(500, total - 500), 2);
            Volatile.Write(ref stop, 1);
            reader.Join();
        }
        Assert.Empty(errors.Take(10));
    }

    // ================================================================ the store's HNSW path

    private string StoreDir(string name = "store") => Path.Combine(_tree.Root, name);

    private static VectorStore CreateHnsw(string directory, int dim, VectorMetric metric, HnswSettings settings) =>
        VectorStore.Open(directory, dim, metric, create: true, readOnly: false, new IndexOptions(true, settings));

    private static string[] Ids(int from, int count) => Enumerable.Range(from, count).Select(i => "id-" + i).ToArray();

    /// <summary>Adds rows with metadata {"g": i % 20, "half": i % 2} (i the id's number).</summary>
    private static void AddRows(VectorStore store, float[] vectors, int from)
    {
        int count = vectors.Length / store.Dim;
        var ids = Ids(from, count);
        var metadata = Enumerable.Range(from, count).Select(i => Utf8($"{{\"g\":{i % 20},\"half\":{i % 2}}}")).ToArray();
        var documents = ids.Select(id => Utf8("doc " + id)).ToArray();
        fixed (float* p = vectors) store.Add(p, count, ids, metadata, documents, upsert: false);
    }

    private static (float[] Distances, long[] Rows) StoreSearch(VectorStore store, float[] queries, int k, MetadataFilter? filter = null,
                                                               int ef = 0, bool exact = false, int threads = 2)
    {
        int count = queries.Length / store.Dim;
        var distances = new float[count * k];
        var rows = new long[count * k];
        fixed (float* q = queries) store.Search(q, count, k, threads, distances, rows, filter, ef, exact);
        return (distances, rows);
    }

    private static double StoreRecall(long[] got, long[] exact, int k)
    {
        double found = 0, wanted = 0;
        for (int q = 0; q < exact.Length / k; q++)
        {
            var set = new HashSet<long>(got.AsSpan(q * k, k).ToArray());
            foreach (long row in exact.AsSpan(q * k, k)) if (row >= 0) { wanted++; if (set.Contains(row)) found++; }
        }
        return found / wanted;
    }

    private static long[] LiveRows(VectorStore store, int from, int count)
    {
        var rows = new long[count];
        store.Lookup(Ids(from, count), rows);
        return rows;
    }

    [Theory]
    [InlineData(VectorMetric.L2)]
    [InlineData(VectorMetric.Cosine)]
    public void A_store_finds_rows_added_after_the_last_IndexPending(VectorMetric metric)
    {
        const int dim = 16;
        string dir = StoreDir();
        using var store = CreateHnsw(dir, dim, metric, new HnswSettings(12, 60, 32));
        var first = Clustered(26, new Random(27), 2000, dim, 20);
        var second = Clustered(26, new Random(28), 300, dim, 20);
        AddRows(store, first, 0);
        Assert.Equal(2000, store.PendingRows);
        Assert.Equal(0, store.IndexPending(long.MaxValue, 1));
        Assert.Equal(2000, store.IndexedRows);
        AddRows(store, second, 2000);
        Assert.Equal(2000, store.IndexedRows);
        Assert.Equal(300, store.PendingRows);
        // Each new row, searched for by its own vector, comes first at distance 0.
        var (distances, rows) = StoreSearch(store, second, 3);
        var expected = LiveRows(store, 2000, 300);
        for (int i = 0; i < 300; i++)
        {
            Assert.Equal(expected[i], rows[i * 3]);
            Assert.True(Math.Abs(distances[i * 3]) < 1e-4, $"row {i}: distance {distances[i * 3]}");
        }
        // And a stored row of the graph part too.
        var (d0, r0) = StoreSearch(store, first.AsSpan(0, dim * 5).ToArray(), 1);
        Assert.Equal(LiveRows(store, 0, 5), r0);
        Assert.All(d0, d => Assert.True(Math.Abs(d) < 1e-4));
        // The queries' answers through graph + pending scan match the exact search closely.
        var queries = Clustered(26, new Random(29), 40, dim, 20);
        var exact = StoreSearch(store, queries, 10, exact: true);
        var approximate = StoreSearch(store, queries, 10, ef: 64);
        double recall = StoreRecall(approximate.Rows, exact.Rows, 10);
        Assert.True(recall >= 0.95, $"recall {recall:F3}");
        // A step-by-step IndexPending reports what is left.
        Assert.Equal(200, store.IndexPending(100, 1));
        Assert.Equal(2100, store.IndexedRows);
        Assert.Equal(0, store.IndexPending(1000, 1));
        Assert.Equal(0, store.PendingRows);
        Assert.Equal(0, store.IndexPending(1000, 1));
        Assert.Throws<ArgumentException>(() => store.IndexPending(0, 1));
    }

    [Fact]
    public void A_cancelled_IndexPending_leaves_the_rows_pending_and_the_store_searchable()
    {
        const int dim = 16;
        string dir = StoreDir();
        var vectors = Clustered(42, new Random(43), 1500, dim, 20);
        using (var store = CreateHnsw(dir, dim, VectorMetric.L2, new HnswSettings(8, 30, 20)))
        {
            AddRows(store, vectors[..(1000 * dim)], 0);
            store.IndexPending(long.MaxValue, 1);
            store.Flush();
            AddRows(store, vectors[(1000 * dim)..], 1000);
            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => store.IndexPending(long.MaxValue, 2, cancelled.Token));
            Assert.Equal(1000, store.IndexedRows);
            Assert.Equal(500, store.PendingRows);
            var expected = LiveRows(store, 0, 1500);
            for (int row = 0; row < 1500; row += 50)
                Assert.Equal(expected[row], StoreSearch(store, vectors[(row * dim)..((row + 1) * dim)], 1, threads: 1).Rows[0]);
            Assert.Equal(0, store.IndexPending(long.MaxValue, 1));
            Assert.Equal(1500, store.IndexedRows);
            for (int row = 0; row < 1500; row += 50)
                Assert.Equal(expected[row], StoreSearch(store, vectors[(row * dim)..((row + 1) * dim)], 1, threads: 1).Rows[0]);
        }
    }

    [Fact]
    public void Deleted_rows_never_come_back_from_the_graph()
    {
        const int dim = 16;
        using var store = CreateHnsw(StoreDir(), dim, VectorMetric.L2, new HnswSettings(12, 60, 32));
        var vectors = Clustered(30, new Random(31), 3000, dim, 20);
        AddRows(store, vectors, 0);
        store.IndexPending(long.MaxValue, 1);
        var victims = Ids(0, 3000).Where((_, i) => i % 3 != 1).ToArray();
        var victimRows = new long[victims.Length];
        store.Lookup(victims, victimRows);
        Assert.Equal(victims.Length, store.Delete(victims, missingOk: false));
        Assert.Equal(3000, store.IndexedRows);
        var deleted = new HashSet<long>(victimRows);
        // Query with the deleted rows' own vectors (each would be at distance 0) and with fresh points.
        var queries = vectors.AsSpan(0, dim * 300).ToArray().Concat(Clustered(30, new Random(32), 50, dim, 20)).ToArray();
        foreach (int ef in new[] { 10, 64 })
        {
            var (_, rows) = StoreSearch(store, queries, 10, ef: ef);
            Assert.All(rows, row => Assert.True(row >= 0 && !deleted.Contains(row), $"ef={ef}: row {row} returned"));
        }
        var exact = StoreSearch(store, queries, 10, exact: true);
        double recall = StoreRecall(StoreSearch(store, queries, 10, ef: 64).Rows, exact.Rows, 10);
        Assert.True(recall >= 0.9, $"recall over the live third: {recall:F3}");
        // Deleting everything: the graph path returns nothing.
        store.Delete(Ids(0, 3000).Where((_, i) => i % 3 == 1).ToArray(), missingOk: false);
        var (distances, none) = StoreSearch(store, queries, 5);
        Assert.All(none, row => Assert.Equal(-1, row));
        Assert.All(distances, d => Assert.Equal(float.PositiveInfinity, d));
    }

    [Fact]
    public void Filters_admitting_few_rows_search_exactly_and_others_return_only_admitted_rows()
    {
        const int dim = 16;
        using var store = CreateHnsw(StoreDir(), dim, VectorMetric.L2, new HnswSettings(8, 20, 10));
        var vectors = Clustered(33, new Random(34), 4000, dim, 40);
        AddRows(store, vectors, 0);
        store.IndexPending(long.MaxValue, 1);
        AddRows(store, Clustered(33, new Random(35), 200, dim, 40), 4000); // pending rows too
        var queries = Clustered(33, new Random(36), 100, dim, 40);
        var metadata = new Dictionary<long, (int G, int Half)>();
        var all = LiveRows(store, 0, 4200);
        for (int i = 0; i < all.Length; i++) metadata[all[i]] = (i % 20, i % 2);

        // g == 3 admits 5%: searched exactly, so the answer is exactly the exact one, even at ef = 1.
        var rare = MetadataFilter.Parse(Utf8("{\"g\": 3}"));
        var exact = StoreSearch(store, queries, 10, rare, exact: true);
        foreach (int ef in new[] { 1, 10 })
        {
            var got = StoreSearch(store, queries, 10, rare, ef: ef);
            Assert.Equal(exact.Rows, got.Rows);
            Assert.Equal(exact.Distances, got.Distances);
        }
        Assert.All(exact.Rows, row => Assert.Equal(3, metadata[row].G));

        // half == 1 admits 50%: the graph is used, only admitted rows come back, recall stays high.
        var half = MetadataFilter.Parse(Utf8("{\"half\": 1}"));
        var approximate = StoreSearch(store, queries, 10, half, ef: 64);
        Assert.All(approximate.Rows, row => Assert.True(row >= 0 && metadata[row].Half == 1, $"row {row} is not admitted"));
        var reference = StoreSearch(store, queries, 10, half, exact: true);
        double recall = StoreRecall(approximate.Rows, reference.Rows, 10);
        Assert.True(recall >= 0.9, $"recall over half the rows: {recall:F3}");

        // A filter combined with deletions: neither deleted nor refused rows come back.
        store.Delete(Ids(0, 4200).Where((_, i) => i % 4 == 1).ToArray(), missingOk: false);
        var both = StoreSearch(store, queries, 10, half, ef: 64);
        Assert.All(both.Rows, row => Assert.True(row >= 0 && metadata[row].Half == 1 && Array.IndexOf(all, row) % 4 != 1, $"row {row}"));
    }

    [Theory]
    [MemberData(nameof(Metrics))]
    public void Exact_search_on_an_HNSW_store_equals_a_flat_store_and_a_wider_beam_never_loses_recall(VectorMetric metric)
    {
        const int dim = 24;
        var vectors = Clustered(37, new Random(38), 3000, dim, 30);
        using var flat = VectorStore.Open(StoreDir("flat"), dim, metric, create: true, readOnly: false);
        using var hnsw = CreateHnsw(StoreDir("hnsw"), dim, metric, new HnswSettings(8, 40, 10));
        foreach (var store in new[] { flat, hnsw })
        {
            AddRows(store, vectors.AsSpan(0, 2500 * dim).ToArray(), 0);
            AddRows(store, vectors.AsSpan(2500 * dim).ToArray(), 2500);
            store.Delete(Ids(0, 3000).Where((_, i) => i % 10 == 0).ToArray(), missingOk: false);
        }
        Assert.Null(flat.Hnsw);
        Assert.Equal(0, flat.IndexPending(100, 1));
        hnsw.IndexPending(2800, 1); // 200 rows stay pending
        Assert.Equal(200, hnsw.PendingRows);
        var queries = Clustered(37, new Random(39), 100, dim, 30);
        var reference = StoreSearch(flat, queries, 10);
        var exact = StoreSearch(hnsw, queries, 10, exact: true);
        Assert.Equal(reference.Rows, exact.Rows);
        Assert.Equal(reference.Distances, exact.Distances);
        // The flat store ignores ef.
        Assert.Equal(reference.Rows, StoreSearch(flat, queries, 10, ef: 3).Rows);
        double previous = 0;
        foreach (int ef in new[] { 10, 20, 50, 100, 300 })
        {
            double recall = StoreRecall(StoreSearch(hnsw, queries, 10, ef: ef).Rows, reference.Rows, 10);
            Assert.True(recall >= previous, $"{metric}: recall fell from {previous:F3} to {recall:F3} at ef={ef}");
            previous = recall;
        }
        Assert.True(previous >= (metric == VectorMetric.InnerProduct ? 0.97 : 0.99), $"{metric}: recall at ef=300 only {previous:F3}");
        // ef 0 is the saved ef (10 here): the same answers as ef=10.
        Assert.Equal(StoreSearch(hnsw, queries, 10, ef: 10).Rows, StoreSearch(hnsw, queries, 10).Rows);
        Assert.Throws<ArgumentException>(() => StoreSearch(hnsw, queries, 10, ef: -1));
    }

    [Fact]
    public void A_query_racing_IndexPending_finds_the_rows_already_indexed()
    {
        EnsurePoolThreads();
        const int dim = 16, old = 500, total = 8000;
        var vectors = RandomVectors(new Random(41), total, dim);
        var errors = new ConcurrentQueue<string>();
        int asked = 0;
        for (int round = 0; round < 3; round++)
        {
            using var store = CreateHnsw(StoreDir($"race-{round}"), dim, VectorMetric.L2, new HnswSettings(12, 60, 32));
            AddRows(store, vectors[..(old * dim)], 0);
            store.IndexPending(long.MaxValue, 1);
            AddRows(store, vectors[(old * dim)..], old);
            var expected = LiveRows(store, 0, old);
            int stop = 0, queries = 0;
            var reader = new Thread(() =>
            {
                for (int i = 0; Volatile.Read(ref stop) == 0; i++)
                {
                    int row = i * 37 % old;
                    var (distances, rows) = StoreSearch(store, vectors[(row * dim)..((row + 1) * dim)], 1, threads: 1);
                    if (rows[0] != expected[row]) errors.Enqueue($"round {round}: row {row} searched for, row {rows[0]} at {distances[0]} found");
                    queries++;
                }
            });
            reader.Start();
            store.IndexPending(long.MaxValue, 2);
            Volatile.Write(ref stop, 1);
            reader.Join();
            Assert.True(queries > 0);
            asked += queries;
        }
        // The search is approximate: a row can be passed over while neighbour lists around it are being
        // pruned, as in any HNSW. Before the lists-before-links fix, racing searches went empty for whole
        // stretches (1-4 per 2000 queries); now a miss is rare.
        Assert.True(errors.Count <= Math.Max(1, asked / 500), $"{errors.Count} misses in {asked} queries: {string.Join("; ", errors.Take(5))}");
    }
}
