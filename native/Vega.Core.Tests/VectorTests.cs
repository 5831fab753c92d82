using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using Vega.Core.Hashing;
using Vega.Core.Vectors;

namespace Vega.Core.Tests;

/// <summary>
/// The vector-store engine: the distance kernels and <see cref="TopK"/> (against double-precision and
/// sorting references), exact <see cref="VectorStore.Search"/> against a brute-force model, persistence,
/// refused input, corruption of segments and the manifest, the write lock, and queries racing writers
/// and <see cref="VectorStore.Dispose"/>.
/// </summary>
public sealed unsafe class VectorTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    public static TheoryData<VectorMetric> Metrics => new(Enum.GetValues<VectorMetric>());

    // ================================================================ helpers

    /// <summary>
    /// Lets Parallel.For really run on several threads: under the test host the pool starts with as many
    /// threads as cores, all busy, so Search(threads: 2) would otherwise run every block on the caller.
    /// </summary>
    private static void EnsurePoolThreads()
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        if (workers < 8) ThreadPool.SetMinThreads(8, io);
    }

    private string StoreDir(string name = "store") => Path.Combine(_tree.Root, name);

    private static VectorStore Create(string directory, int dim, VectorMetric metric) =>
        VectorStore.Open(directory, dim, metric, create: true, readOnly: false);

    private static float[] RandomVectors(Random rng, int count, int dim)
    {
        var values = new float[count * dim];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return values;
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    private static void Add(VectorStore store, float[] vectors, IReadOnlyList<string> ids, bool upsert = false,
                            IReadOnlyList<byte[]>? metadata = null, IReadOnlyList<byte[]>? documents = null)
    {
        metadata ??= ids.Select(id => Utf8($"{{\"id\":\"{id}\"}}")).ToArray();
        documents ??= ids.Select(id => Utf8("document of " + id)).ToArray();
        fixed (float* p = vectors) store.Add(p, ids.Count, ids, metadata, documents, upsert);
    }

    private static (float[] Distances, long[] Rows) Search(VectorStore store, float[] queries, int k, int threads = 1)
    {
        int count = queries.Length / store.Dim;
        var distances = new float[count * k];
        var rows = new long[count * k];
        fixed (float* q = queries) store.Search(q, count, k, threads, distances, rows);
        return (distances, rows);
    }

    private static long Lookup(VectorStore store, string id)
    {
        Span<long> row = stackalloc long[1];
        store.Lookup([id], row);
        return row[0];
    }

    private static string[] Ids(int from, int count, string prefix = "id-") =>
        Enumerable.Range(from, count).Select(i => prefix + i).ToArray();

    private static void AssertClose(double expected, double actual, double relative, string what) =>
        Assert.True(Math.Abs(expected - actual) <= relative * Math.Max(1.0, Math.Abs(expected)),
            $"{what}: expected {expected:R}, got {actual:R}");

    /// <summary>What the store should hold: live ids with their raw vectors and texts, distances in double.</summary>
    private sealed class Model(int dim, VectorMetric metric)
    {
        public int Dim { get; } = dim;
        public VectorMetric Metric { get; } = metric;
        public Dictionary<string, (float[] Vector, byte[] Metadata, byte[] Document)> Live { get; } = new(StringComparer.Ordinal);

        public double Distance(ReadOnlySpan<float> q, float[] x)
        {
            double dot = 0, qq = 0, xx = 0, l2 = 0;
            for (int i = 0; i < x.Length; i++)
            {
                dot += (double)q[i] * x[i];
                qq += (double)q[i] * q[i];
                xx += (double)x[i] * x[i];
                double d = (double)q[i] - x[i];
                l2 += d * d;
            }
            return Metric switch
            {
                VectorMetric.Cosine => 1 - dot / Math.Sqrt(qq * xx),
                VectorMetric.L2 => l2,
                _ => 1 - dot,
            };
        }
    }

    /// <summary>Adds rows with random vectors and varied texts to both the store and the model.</summary>
    private static void AddTo(VectorStore store, Model model, Random rng, IReadOnlyList<string> ids, bool upsert = false)
    {
        var vectors = RandomVectors(rng, ids.Count, model.Dim);
        var metadata = new byte[ids.Count][];
        var documents = new byte[ids.Count][];
        for (int i = 0; i < ids.Count; i++)
        {
            int r = rng.Next(4);
            metadata[i] = r == 0 ? [] : r == 1 ? Utf8($"{{\"raw\":\"\\u0000\\uffff{i}\\n\"}}") : Utf8($"{{\"n\":{rng.Next()},\"tag\":\"é日本\"}}");
            documents[i] = r == 0 ? Utf8(new string('x', 5000) + ids[i]) : r == 1 ? [] : Utf8($"doc {ids[i]} ✓");
        }
        Add(store, vectors, ids, upsert, metadata, documents);
        for (int i = 0; i < ids.Count; i++)
            model.Live[ids[i]] = (vectors.AsSpan(i * model.Dim, model.Dim).ToArray(), metadata[i], documents[i]);
    }

    /// <summary>Several segments, then deletes spread over them, then an upsert of old and new ids.</summary>
    private static void BuildMixed(VectorStore store, Model model, Random rng)
    {
        int next = 0;
        foreach (int size in new[] { 50, 1, 73, 40, 36 })
        {
            AddTo(store, model, rng, Ids(next, size, "ïd-"));
            next += size;
        }
        var victims = model.Live.Keys.OrderBy(_ => rng.Next()).Take(30).ToArray();
        Assert.Equal(30, store.Delete(victims, missingOk: false));
        foreach (string id in victims) model.Live.Remove(id);
        var upserts = model.Live.Keys.OrderBy(_ => rng.Next()).Take(25).Concat(Ids(next, 5, "ïd-")).ToArray();
        AddTo(store, model, rng, upserts, upsert: true);
        Assert.Equal(model.Live.Count, store.Count);
        Assert.Equal(6, store.Segments);
    }

    /// <summary>Runs the queries through the store and checks every slot against the brute-force model.</summary>
    private static void CheckSearch(VectorStore store, Model model, float[] queries, int k, int threads)
    {
        int dim = model.Dim, count = queries.Length / dim;
        var (distances, rows) = Search(store, queries, k, threads);
        var texts = store.Fetch(rows);
        var live = model.Live.ToList();
        for (int q = 0; q < count; q++)
        {
            var query = queries.AsSpan(q * dim, dim);
            var expected = new List<(double Distance, string Id)>();
            foreach (var (id, entry) in live) expected.Add((model.Distance(query, entry.Vector), id));
            expected.Sort((a, b) => a.Distance.CompareTo(b.Distance));
            var seen = new HashSet<long>();
            for (int i = 0; i < k; i++)
            {
                int at = q * k + i;
                string where = $"{model.Metric} k={k} threads={threads} query {q} slot {i}";
                if (i >= expected.Count)
                {
                    Assert.Equal(-1, rows[at]);
                    Assert.Equal(float.PositiveInfinity, distances[at]);
                    continue;
                }
                Assert.True(rows[at] >= 0, $"{where}: row {rows[at]}");
                Assert.True(seen.Add(rows[at]), $"{where}: row {rows[at]} twice");
                string id = Text(texts[3 * at]);
                Assert.True(model.Live.TryGetValue(id, out var entry), $"{where}: row {rows[at]} (id '{id}') is not live");
                Assert.Equal(rows[at], Lookup(store, id));
                double exact = model.Distance(query, entry.Vector);
                AssertClose(exact, distances[at], 1e-4, $"{where}: reported distance of {id}");
                AssertClose(expected[i].Distance, exact, 1e-4, $"{where}: rank of {id}");
                // Where the brute-force order is not a near tie, the id itself must agree.
                bool clear = (i == 0 || expected[i].Distance - expected[i - 1].Distance > 1e-5)
                             && (i + 1 >= expected.Count || expected[i + 1].Distance - expected[i].Distance > 1e-5);
                if (clear) Assert.Equal(expected[i].Id, id);
                if (i > 0) Assert.True(distances[at - 1] <= distances[at], $"{where}: not ascending");
            }
        }
    }

    /// <summary>Random queries plus copies of two stored vectors (distance ~0 to themselves).</summary>
    private static float[] Queries(Random rng, Model model, int random = 5)
    {
        var stored = model.Live.Values.Take(2).Select(e => e.Vector);
        return [.. RandomVectors(rng, random, model.Dim), .. stored.SelectMany(v => v)];
    }

    private static string SegmentFile(string directory) => Directory.GetFiles(directory, "seg-*.vec").Order().First();

    private static string ManifestPath(string directory) => Path.Combine(directory, "MANIFEST");

    /// <summary>Writes <paramref name="body"/> as the manifest with a correct checksum line.</summary>
    private static void WriteManifest(string directory, string body) =>
        File.WriteAllText(ManifestPath(directory), body + "xxh3:" + XxHash3.Hash64(Utf8(body)).ToString("x16") + "\n");

    private static string ManifestBody(string directory)
    {
        string text = File.ReadAllText(ManifestPath(directory));
        return text[..(text.LastIndexOf("\nxxh3:", StringComparison.Ordinal) + 1)];
    }

    /// <summary>A closed store of dim 8 with one segment of 20 rows (ids id-0..id-19).</summary>
    private string SmallStore(VectorMetric metric = VectorMetric.L2, string name = "store")
    {
        string dir = StoreDir(name);
        using var store = Create(dir, 8, metric);
        Add(store, RandomVectors(new Random(5), 20, 8), Ids(0, 20));
        return dir;
    }

    // ================================================================ kernels

    private static readonly int[] KernelLengths = [.. Enumerable.Range(0, 71), 128, 768, 1000, 1536];
    private static readonly (int A, int B)[] Offsets = [(0, 0), (1, 3), (3, 1), (2, 2), (5, 7)];

    [Fact]
    public void Dot_matches_a_double_reference_for_every_length_and_alignment()
    {
        var rng = new Random(1);
        foreach (int n in KernelLengths)
        {
            float[] a = RandomVectors(rng, 1, n + 8), b = RandomVectors(rng, 1, n + 8);
            foreach (var (oa, ob) in Offsets)
            {
                ReadOnlySpan<float> x = a.AsSpan(oa, n), y = b.AsSpan(ob, n);
                double reference = 0, scale = 0;
                for (int i = 0; i < n; i++)
                {
                    double p = (double)x[i] * y[i];
                    reference += p;
                    scale += Math.Abs(p);
                }
                float got = Distances.Dot(x, y);
                // Relative to the sum of |terms|: a sum with cancellation has no meaningful plain relative error.
                Assert.True(Math.Abs(got - reference) <= 1e-5 * scale, $"n={n} offsets {oa}/{ob}: {got} vs {reference}");
            }
        }
    }

    [Fact]
    public void SquaredL2_matches_a_double_reference_for_every_length_and_alignment()
    {
        var rng = new Random(2);
        foreach (int n in KernelLengths)
        {
            float[] a = RandomVectors(rng, 1, n + 8), b = RandomVectors(rng, 1, n + 8);
            foreach (var (oa, ob) in Offsets)
            {
                ReadOnlySpan<float> x = a.AsSpan(oa, n), y = b.AsSpan(ob, n);
                double reference = 0;
                for (int i = 0; i < n; i++)
                {
                    double d = (double)x[i] - y[i];
                    reference += d * d;
                }
                float got = Distances.SquaredL2(x, y);
                Assert.True(Math.Abs(got - reference) <= 1e-5 * reference + 1e-12, $"n={n} offsets {oa}/{ob}: {got} vs {reference}");
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Four_matches_a_double_reference_for_every_dim_and_alignment(bool l2)
    {
        var rng = new Random(l2 ? 5 : 6);
        var output = new float[4];
        foreach (int dim in KernelLengths)
        {
            float[] query = RandomVectors(rng, 1, dim + 8), rows = RandomVectors(rng, 4, dim + 8);
            foreach (var (oq, or) in Offsets)
            {
                fixed (float* q = query, r = rows, o = output) Distances.Four(l2, q + oq, r + or, dim, o);
                for (int j = 0; j < 4; j++)
                {
                    double reference = 0, scale = 0;
                    for (int i = 0; i < dim; i++)
                    {
                        double a = query[oq + i], b = rows[or + j * dim + i];
                        double term = l2 ? (a - b) * (a - b) : a * b;
                        reference += term;
                        scale += Math.Abs(term);
                    }
                    // Dot rows come back as 1 - dot.
                    double got = l2 ? output[j] : 1.0 - output[j];
                    Assert.True(Math.Abs(got - reference) <= 1e-5 * scale + (l2 ? 1e-12 : 2e-7),
                        $"l2={l2} dim={dim} offsets {oq}/{or} row {j}: {got} vs {reference}");
                }
            }
        }
    }

    [Fact]
    public void SquaredL2_of_near_vectors_is_accurate_and_of_equal_vectors_zero()
    {
        var rng = new Random(3);
        foreach (int n in new[] { 3, 16, 37, 768 })
        {
            var a = RandomVectors(rng, 1, n);
            var b = a.Select((v, i) => i % 3 == 0 ? v + 1e-3f : v).ToArray();
            double reference = 0;
            for (int i = 0; i < n; i++) reference += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            AssertClose(reference, Distances.SquaredL2(a, b), 1e-5, $"n={n}");
            Assert.Equal(0f, Distances.SquaredL2(a, a));
        }
    }

    [Theory]
    [MemberData(nameof(Metrics))]
    public void Distance_dispatches_on_the_metric(VectorMetric metric)
    {
        float[] q = [0.6f, 0.8f, 0, 0, 0], x = [1, 0, 0, 2, 0];
        float expected = metric == VectorMetric.L2 ? 0.16f + 0.64f + 4f : 1f - 0.6f;
        Assert.Equal(expected, Distances.Distance(metric, q, x), 5);
    }

    [Fact]
    public void Normalize_gives_unit_length_and_keeps_the_direction()
    {
        var rng = new Random(4);
        foreach (int n in Enumerable.Range(1, 70).Concat([768, 1536]))
        {
            var original = RandomVectors(rng, 1, n);
            for (int i = 0; i < n; i++) original[i] *= 1 + i % 7;
            var v = (float[])original.Clone();
            Assert.True(Distances.Normalize(v));
            double norm2 = v.Sum(x => (double)x * x);
            Assert.True(Math.Abs(norm2 - 1) < 1e-5, $"n={n}: |v|^2 = {norm2}");
            double scale = Math.Sqrt(original.Sum(x => (double)x * x));
            for (int i = 0; i < n; i++) AssertClose(original[i] / scale, v[i], 1e-5, $"n={n} [{i}]");
        }
    }

    [Fact]
    public void Normalize_refuses_the_zero_vector_and_leaves_it_unchanged()
    {
        foreach (int n in new[] { 0, 1, 5, 16, 33 })
        {
            var v = new float[n];
            Assert.False(Distances.Normalize(v));
            Assert.All(v, x => Assert.Equal(0f, x));
        }
    }

    [Fact]
    public void Normalize_accepts_finite_vectors_whose_squared_norm_leaves_float_range()
    {
        float[] large = [3e19f, 4e19f], tiny = [3e-24f, 4e-24f];
        Assert.True(Distances.Normalize(large));
        Assert.Equal(0.6f, large[0], 5);
        Assert.True(Distances.Normalize(tiny));
        Assert.Equal(0.8f, tiny[1], 5);
    }

    // ================================================================ TopK

    private static List<(float Distance, long Row)> Drain(TopK top)
    {
        var distances = new float[top.Count];
        var rows = new long[top.Count];
        int n = top.Drain(distances, rows);
        return Enumerable.Range(0, n).Select(i => (distances[i], rows[i])).ToList();
    }

    private static List<(float Distance, long Row)> Smallest(IEnumerable<(float Distance, long Row)> pairs, int k) =>
        pairs.OrderBy(p => p.Distance).ThenBy(p => p.Row).Take(k).ToList();

    private static readonly int[] TopKSizes = [0, 1, 2, 5, 17, 100, 1000];
    private static readonly int[] TopKs = [1, 2, 3, 7, 16, 50, 999, 2000];

    [Fact]
    public void TopK_keeps_the_k_smallest_like_a_sort()
    {
        var rng = new Random(10);
        foreach (int size in TopKSizes)
        foreach (int k in TopKs)
        {
            // Distinct distances (a shuffled permutation), rows distinct and unordered.
            var pairs = Enumerable.Range(0, size).Select(i => (Distance: i * 0.37f - 50, Row: (long)(i * 7919 % 100003)))
                                  .OrderBy(_ => rng.Next()).ToList();
            var top = new TopK(k);
            foreach (var (d, r) in pairs) top.Add(d, r);
            Assert.Equal(Math.Min(k, size), top.Count);
            Assert.Equal(Smallest(pairs, k), Drain(top));
            Assert.Equal(0, top.Count);
        }
    }

    [Fact]
    public void TopK_breaks_ties_by_row_when_rows_arrive_in_order()
    {
        // The scan order within a block: rows ascending, many equal distances.
        var rng = new Random(11);
        foreach (int size in TopKSizes)
        foreach (int k in TopKs)
        {
            var pairs = Enumerable.Range(0, size).Select(i => (Distance: (float)rng.Next(4), Row: (long)i * 3)).ToList();
            var top = new TopK(k);
            foreach (var (d, r) in pairs) top.Add(d, r);
            Assert.Equal(Smallest(pairs, k), Drain(top));
        }
    }

    [Fact]
    public void TopK_breaks_ties_by_row_in_any_arrival_order()
    {
        var rng = new Random(12);
        foreach (int size in TopKSizes)
        foreach (int k in TopKs)
        {
            var pairs = Enumerable.Range(0, size).Select(i => (Distance: (float)rng.Next(4), Row: (long)i))
                                  .OrderBy(_ => rng.Next()).ToList();
            var top = new TopK(k);
            foreach (var (d, r) in pairs) top.Add(d, r);
            Assert.Equal(Smallest(pairs, k), Drain(top));
        }
    }

    [Fact]
    public void TopK_threshold_is_infinite_until_full_then_the_worst_held()
    {
        var top = new TopK(3);
        Assert.Equal(float.PositiveInfinity, top.Threshold);
        top.Add(5, 0);
        top.Add(1, 1);
        Assert.Equal(float.PositiveInfinity, top.Threshold);
        top.Add(3, 2);
        Assert.Equal(5f, top.Threshold);
        top.Add(2, 3);
        Assert.Equal(3f, top.Threshold);
        top.Add(9, 4);
        Assert.Equal([(1f, 1L), (2f, 3L), (3f, 2L)], Drain(top));
        Assert.Equal(float.PositiveInfinity, top.Threshold);
    }

    [Fact]
    public void TopK_AddAll_merges_partial_results()
    {
        var rng = new Random(13);
        foreach (int k in new[] { 1, 4, 10, 300 })
        {
            var pairs = Enumerable.Range(0, 200).Select(i => (Distance: i * 1.5f, Row: (long)i)).OrderBy(_ => rng.Next()).ToList();
            var parts = new[] { new TopK(k), new TopK(k), new TopK(k) };
            for (int i = 0; i < pairs.Count; i++) parts[i % 3].Add(pairs[i].Distance, pairs[i].Row);
            var all = new TopK(k);
            foreach (var part in parts) all.AddAll(part);
            Assert.Equal(Smallest(pairs, k), Drain(all));
        }
    }

    // ================================================================ exact search

    public static TheoryData<VectorMetric, int> MetricsAndThreads()
    {
        var data = new TheoryData<VectorMetric, int>();
        foreach (var metric in Enum.GetValues<VectorMetric>())
            foreach (int threads in new[] { 1, 2 }) data.Add(metric, threads);
        return data;
    }

    [Theory]
    [MemberData(nameof(MetricsAndThreads))]
    public void Search_equals_brute_force_over_several_segments(VectorMetric metric, int threads)
    {
        EnsurePoolThreads();
        var rng = new Random(20 + (int)metric);
        var model = new Model(24, metric);
        using var store = Create(StoreDir(), 24, metric);
        int next = 0;
        foreach (int size in new[] { 60, 1, 45, 90 })
        {
            AddTo(store, model, rng, Ids(next, size));
            next += size;
        }
        Assert.Equal(4, store.Segments);
        Assert.Equal(196, store.Count);
        var queries = Queries(rng, model);
        foreach (int k in new[] { 1, 10, 196, 203 })
        {
            CheckSearch(store, model, queries, k, threads);
            CheckSearch(store, model, queries[..model.Dim], k, threads);
        }
    }

    [Theory]
    [MemberData(nameof(MetricsAndThreads))]
    public void Search_equals_brute_force_after_deletes_and_upserts(VectorMetric metric, int threads)
    {
        EnsurePoolThreads();
        var rng = new Random(30 + (int)metric);
        var model = new Model(19, metric);
        using var store = Create(StoreDir(), 19, metric);
        BuildMixed(store, model, rng);
        var queries = Queries(rng, model);
        foreach (int k in new[] { 1, 10, (int)store.Count + 9 })
        {
            CheckSearch(store, model, queries, k, threads);
            CheckSearch(store, model, queries[^model.Dim..], k, threads);
        }
    }

    [Fact]
    public void Search_over_many_blocks_equals_brute_force_with_all_processors()
    {
        EnsurePoolThreads();
        var rng = new Random(40);
        var model = new Model(8, VectorMetric.L2);
        using var store = Create(StoreDir(), 8, VectorMetric.L2);
        AddTo(store, model, rng, Ids(0, 9000));
        AddTo(store, model, rng, Ids(9000, 50));
        var victims = Ids(4090, 12).Concat(Ids(8190, 5)).ToArray();
        store.Delete(victims, missingOk: false);
        foreach (string id in victims) model.Live.Remove(id);
        var queries = Queries(rng, model, random: 3);
        foreach (int threads in new[] { 0, 2 })
        {
            CheckSearch(store, model, queries, 25, threads);
            CheckSearch(store, model, queries[..model.Dim], 25, threads);
        }
    }

    [Fact]
    public void Search_of_several_queries_at_once_equals_one_at_a_time()
    {
        EnsurePoolThreads();
        var rng = new Random(41);
        using var store = Create(StoreDir(), 12, VectorMetric.Cosine);
        Add(store, RandomVectors(rng, 80, 12), Ids(0, 80));
        Add(store, RandomVectors(rng, 30, 12), Ids(80, 30));
        var queries = RandomVectors(rng, 7, 12);
        var (distances, rows) = Search(store, queries, 6, threads: 2);
        for (int q = 0; q < 7; q++)
        {
            var (d, r) = Search(store, queries[(q * 12)..((q + 1) * 12)], 6);
            Assert.Equal(r, rows[(q * 6)..((q + 1) * 6)]);
            // Not bit-equal: under the JIT, tier-0 and tier-1 code of the kernels round their horizontal sums differently.
            for (int i = 0; i < 6; i++) AssertClose(d[i], distances[q * 6 + i], 1e-6, $"query {q} slot {i}");
        }
    }

    [Fact]
    public void Search_fills_slots_past_the_live_count_with_infinity_and_minus_one()
    {
        using var store = Create(StoreDir(), 4, VectorMetric.L2);
        var (d0, r0) = Search(store, [1, 2, 3, 4], 3);
        Assert.All(r0, r => Assert.Equal(-1, r));
        Assert.All(d0, d => Assert.Equal(float.PositiveInfinity, d));

        Add(store, [1, 0, 0, 0, 0, 1, 0, 0], ["a", "b"]);
        store.Delete(["a"], missingOk: false);
        var (d, r) = Search(store, [0, 1, 0, 0], 4);
        Assert.Equal([1L, -1, -1, -1], r);
        Assert.Equal([0f, float.PositiveInfinity, float.PositiveInfinity, float.PositiveInfinity], d);
        Assert.Throws<ArgumentException>(() => Search(store, [0, 1, 0, 0], 0));
    }

    [Fact]
    public void Cosine_is_scale_invariant_and_stores_normalized_vectors()
    {
        using var store = Create(StoreDir(), 3, VectorMetric.Cosine);
        Add(store, [3, 4, 0, 0, 0, 2, -1, 0, 0], ["a", "b", "c"]);
        var (d, r) = Search(store, [30, 40, 0], 3);
        Assert.Equal(0L, r[0]);
        Assert.Equal(0f, d[0], 5);
        Assert.Equal([1L, 2], r[1..]);
        Assert.Equal(1f, d[1], 5);
        Assert.Equal(1.6f, d[2], 5);
        var copy = new float[9];
        store.CopyVectors([0, -1, 1], copy);
        Assert.Equal([0.6f, 0.8f, 0, 0, 0, 0, 0, 0, 1], copy.Select(x => MathF.Round(x, 5)).ToArray());
    }

    [Theory]
    [InlineData(VectorMetric.L2)]
    [InlineData(VectorMetric.InnerProduct)]
    public void L2_and_inner_product_store_raw_vectors(VectorMetric metric)
    {
        using var store = Create(StoreDir(), 2, metric);
        Add(store, [3, 4, 1, -2], ["a", "b"]);
        var copy = new float[4];
        store.CopyVectors([1, 0], copy);
        Assert.Equal([1f, -2, 3, 4], copy);
        var (d, r) = Search(store, [1, 1], 2);
        if (metric == VectorMetric.L2)
        {
            Assert.Equal([1L, 0], r);
            Assert.Equal([9f, 13], d);
        }
        else
        {
            Assert.Equal([0L, 1], r);
            Assert.Equal([-6f, 2], d);
        }
    }

    [Fact]
    public void Search_breaks_ties_by_row_with_several_threads()
    {
        EnsurePoolThreads();
        // Identical vectors in eight segments: every row is at distance 0, so the answer is rows 0..k-1.
        using var store = Create(StoreDir(), 4, VectorMetric.L2);
        for (int s = 0; s < 8; s++) Add(store, Enumerable.Repeat(1f, 4 * 50).ToArray(), Ids(s * 50, 50));
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var (_, rows) = Search(store, [1, 1, 1, 1], 3, threads: 4);
            Assert.Equal([0L, 1, 2], rows);
        }
    }

    // ================================================================ persistence

    [Theory]
    [MemberData(nameof(Metrics))]
    public void Reopen_gives_the_same_count_results_and_texts(VectorMetric metric)
    {
        EnsurePoolThreads();
        var rng = new Random(50 + (int)metric);
        var model = new Model(10, metric);
        string dir = StoreDir();
        float[] queries;
        (float[] Distances, long[] Rows) before;
        string[] deleted;
        using (var store = Create(dir, 10, metric))
        {
            BuildMixed(store, model, rng);
            deleted = Ids(0, 200, "ïd-").Where(id => !model.Live.ContainsKey(id)).ToArray();
            Assert.NotEmpty(deleted);
            queries = Queries(rng, model);
            before = Search(store, queries, 15);
        }
        for (int round = 0; round < 2; round++)
        {
            using var store = VectorStore.Open(dir, 0, null, create: false, readOnly: round == 1);
            Assert.Equal(10, store.Dim);
            Assert.Equal(metric, store.Metric);
            Assert.Equal(round == 1, store.ReadOnly);
            Assert.Equal(model.Live.Count, store.Count);
            Assert.Equal(6, store.Segments);
            var after = Search(store, queries, 15);
            Assert.Equal(before.Rows, after.Rows);
            for (int i = 0; i < after.Distances.Length; i++) AssertClose(before.Distances[i], after.Distances[i], 1e-6, $"slot {i}");
            foreach (string id in deleted) Assert.Equal(-1, Lookup(store, id));
            foreach (var (id, entry) in model.Live)
            {
                long row = Lookup(store, id);
                var texts = store.Fetch([row]);
                Assert.Equal(id, Text(texts[0]));
                Assert.Equal(entry.Metadata, texts[1]);
                Assert.Equal(entry.Document, texts[2]);
                var vector = new float[10];
                store.CopyVectors([row], vector);
                var expected = (float[])entry.Vector.Clone();
                if (metric == VectorMetric.Cosine) Distances.Normalize(expected);
                Assert.Equal(expected, vector);
            }
            CheckSearch(store, model, queries, 12, threads: 2);
        }
    }

    [Fact]
    public void A_reopened_store_keeps_adding_deleting_and_upserting()
    {
        var rng = new Random(60);
        var model = new Model(6, VectorMetric.InnerProduct);
        string dir = StoreDir();
        using (var store = Create(dir, 6, VectorMetric.InnerProduct)) BuildMixed(store, model, rng);
        using (var store = VectorStore.Open(dir, 6, VectorMetric.InnerProduct, create: true, readOnly: false))
        {
            AddTo(store, model, rng, Ids(1000, 20));
            AddTo(store, model, rng, model.Live.Keys.Take(3).ToArray(), upsert: true);
            var gone = model.Live.Keys.Skip(10).Take(4).ToArray();
            Assert.Equal(4, store.Delete(gone, missingOk: false));
            foreach (string id in gone) model.Live.Remove(id);
            Assert.Equal(8, store.Segments);
        }
        using (var store = VectorStore.Open(dir, 6, null, create: false, readOnly: false))
        {
            Assert.Equal(model.Live.Count, store.Count);
            Assert.Equal(8, store.Segments);
            Assert.Equal(8, Directory.GetFiles(dir, "seg-*").Length);
            CheckSearch(store, model, Queries(rng, model), 9, threads: 1);
        }
    }

    [Fact]
    public void Delete_returns_how_many_and_counts_a_repeated_id_once()
    {
        using var store = Create(StoreDir(), 3, VectorMetric.L2);
        Add(store, RandomVectors(new Random(61), 5, 3), Ids(0, 5));
        Assert.Equal(2, store.Delete(["id-1", "id-3", "id-1"], missingOk: false));
        Assert.Equal(3, store.Count);
        Assert.Equal(0, store.Delete([], missingOk: false));
        Assert.Equal(1, store.Delete(["id-1", "id-4", "nope"], missingOk: true));
        Assert.Equal(2, store.Count);
        Assert.Equal(-1, Lookup(store, "id-4"));
        // A deleted id can be added again without upsert.
        Add(store, [1, 2, 3], ["id-1"]);
        Assert.Equal(3, store.Count);
        Assert.Equal(5, Lookup(store, "id-1"));
    }

    [Fact]
    public void Fetch_of_a_deleted_row_gives_empty_texts()
    {
        using var store = Create(StoreDir(), 2, VectorMetric.L2);
        Add(store, [1, 2, 3, 4], ["a", "b"]);
        store.Delete(["a"], missingOk: false);
        Assert.All(store.Fetch([0]), t => Assert.Empty(t));
    }

    [Fact]
    public void Fetch_and_CopyVectors_of_minus_one_give_empty_texts_and_zeros()
    {
        using var store = Create(StoreDir(), 2, VectorMetric.L2);
        Add(store, [1, 2], ["a"]);
        var texts = store.Fetch([-1, 0]);
        Assert.Equal(6, texts.Count);
        Assert.All(texts.Take(3), t => Assert.Empty(t));
        Assert.Equal("a", Text(texts[3]));
        var vectors = new float[] { 9, 9, 9, 9 };
        store.CopyVectors([-1, 0], vectors);
        Assert.Equal([0f, 0, 1, 2], vectors);
    }

    // ================================================================ refused input

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Add_refuses_non_finite_components_and_changes_nothing(float bad)
    {
        string dir = StoreDir();
        using var store = Create(dir, 3, VectorMetric.L2);
        Add(store, [1, 2, 3], ["kept"]);
        Assert.Throws<ArgumentException>(() => Add(store, [1, 1, 1, 0, bad, 0], ["x", "y"]));
        Assert.Equal(1, store.Count);
        Assert.Equal(1, store.Segments);
        Assert.Equal(-1, Lookup(store, "x"));
        Assert.Single(Directory.GetFiles(dir, "seg-*"));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Search_refuses_non_finite_queries(float bad)
    {
        using var store = Create(StoreDir(), 3, VectorMetric.InnerProduct);
        Add(store, [1, 2, 3], ["a"]);
        Assert.Throws<ArgumentException>(() => Search(store, [0, bad, 1], 1));
        // A bad second query refuses the whole call before any result is written.
        float[] queries = [1, 1, 1, bad, 0, 0], distances = [42, 42];
        long[] rows = [42, 42];
        Assert.Throws<ArgumentException>(() =>
        {
            fixed (float* q = queries) store.Search(q, 2, 1, 1, distances, rows);
        });
        Assert.Equal([42f, 42], distances);
        Assert.Equal([42L, 42], rows);
    }

    [Theory]
    [MemberData(nameof(Metrics))]
    public void Zero_vectors_are_refused_only_under_cosine(VectorMetric metric)
    {
        using var store = Create(StoreDir(), 3, metric);
        void AddZero() => Add(store, [1, 0, 0, 0, 0, 0], ["a", "zero"]);
        void SearchZero() => Search(store, [0, 0, 0], 2);
        if (metric == VectorMetric.Cosine)
        {
            Assert.Throws<ArgumentException>(AddZero);
            Assert.Equal(0, store.Count);
            Add(store, [1, 0, 0], ["a"]);
            Assert.Throws<ArgumentException>(SearchZero);
        }
        else
        {
            AddZero();
            Assert.Equal(2, store.Count);
            var (d, r) = Search(store, [0, 0, 0], 2);
            if (metric == VectorMetric.L2) Assert.Equal([1L, 0], r);
            Assert.All(d, x => Assert.True(float.IsFinite(x)));
        }
    }

    [Fact]
    public void Duplicate_ids_in_one_batch_are_refused()
    {
        using var store = Create(StoreDir(), 2, VectorMetric.L2);
        var e = Assert.Throws<VectorIdException>(() => Add(store, [1, 2, 3, 4, 5, 6], ["a", "b", "a"]));
        Assert.Contains("a", e.Message);
        Assert.Equal(0, store.Count);
        Assert.Equal(0, store.Segments);
        // Not even with upsert.
        Assert.Throws<VectorIdException>(() => Add(store, [1, 2, 3, 4], ["b", "b"], upsert: true));
        Assert.Equal(-1, Lookup(store, "b"));
    }

    [Fact]
    public void An_existing_id_needs_upsert_and_a_refused_batch_adds_nothing()
    {
        using var store = Create(StoreDir(), 2, VectorMetric.L2);
        Add(store, [1, 1, 2, 2], ["a", "b"]);
        Assert.Throws<VectorIdException>(() => Add(store, [5, 5, 6, 6], ["new", "b"]));
        Assert.Equal(2, store.Count);
        Assert.Equal(1, store.Segments);
        Assert.Equal(-1, Lookup(store, "new"));
        Assert.Equal(1, Lookup(store, "b"));

        Add(store, [5, 5, 6, 6], ["new", "b"], upsert: true);
        Assert.Equal(3, store.Count);
        Assert.Equal(3, Lookup(store, "b"));
        var (d, r) = Search(store, [2, 2], 3);
        Assert.Equal([0L, 2, 3], r);
        Assert.Equal([2f, 18, 32], d);
    }

    [Fact]
    public void Delete_of_an_unknown_id_deletes_nothing_unless_missing_ok()
    {
        using var store = Create(StoreDir(), 2, VectorMetric.L2);
        Add(store, [1, 1, 2, 2, 3, 3], ["a", "b", "c"]);
        var e = Assert.Throws<VectorIdException>(() => store.Delete(["a", "ghost", "c"], missingOk: false));
        Assert.Contains("ghost", e.Message);
        Assert.Equal(3, store.Count);
        Assert.Equal(0, Lookup(store, "a"));
        Assert.Equal(3, Search(store, [1, 1], 5).Rows.Count(r => r >= 0));
        Assert.Equal(2, store.Delete(["a", "ghost", "c"], missingOk: true));
        Assert.Equal(1, store.Count);
        Assert.Equal([1L, -1], Search(store, [1, 1], 2).Rows);
    }

    [Fact]
    public void Add_refuses_an_empty_batch_and_mismatched_lists()
    {
        using var store = Create(StoreDir(), 2, VectorMetric.L2);
        Assert.Throws<ArgumentException>(() => Add(store, [], []));
        float[] two = [1, 2, 3, 4];
        Assert.Throws<ArgumentException>(() => Add(store, two, ["a", "b"], metadata: [[]]));
        Assert.Throws<ArgumentException>(() => Add(store, two, ["a", "b"], documents: [[], [], []]));
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public void Open_refuses_a_wrong_dim_or_metric_for_an_existing_store()
    {
        string dir = SmallStore(VectorMetric.Cosine);
        var e = Assert.Throws<ArgumentException>(() => VectorStore.Open(dir, 9, null, create: false, readOnly: false));
        Assert.Contains("dim", e.Message);
        e = Assert.Throws<ArgumentException>(() => VectorStore.Open(dir, 8, VectorMetric.L2, create: true, readOnly: false));
        Assert.Contains("metric", e.Message);
        Assert.Throws<ArgumentException>(() => VectorStore.Open(dir, 0, VectorMetric.InnerProduct, create: false, readOnly: true));
        // The refused opens released the write lock.
        using var store = VectorStore.Open(dir, 8, VectorMetric.Cosine, create: false, readOnly: false);
        Assert.Equal(20, store.Count);
    }

    [Fact]
    public void Open_without_a_manifest_needs_create_and_a_dim()
    {
        string dir = _tree.Dir("empty");
        Assert.Throws<FileNotFoundException>(() => VectorStore.Open(dir, 4, VectorMetric.L2, create: false, readOnly: false));
        Assert.Throws<FileNotFoundException>(() => VectorStore.Open(dir, 4, VectorMetric.L2, create: true, readOnly: true));
        Assert.Throws<FileNotFoundException>(() => VectorStore.Open(StoreDir("missing"), 4, null, create: false, readOnly: true));
        Assert.Throws<ArgumentException>(() => VectorStore.Open(dir, 0, VectorMetric.L2, create: true, readOnly: false));
        Assert.False(File.Exists(ManifestPath(dir)));
        using (var store = VectorStore.Open(dir, 4, null, create: true, readOnly: false))
        {
            Assert.Equal(VectorMetric.Cosine, store.Metric);
            Assert.Equal(0, store.Count);
        }
        using var reopened = VectorStore.Open(dir, 0, null, create: false, readOnly: true);
        Assert.Equal(4, reopened.Dim);
        Assert.Equal(0, reopened.Count);
    }

    [Fact]
    public void A_read_only_store_refuses_writes()
    {
        string dir = SmallStore();
        using var store = VectorStore.Open(dir, 8, VectorMetric.L2, create: false, readOnly: true);
        Assert.True(store.ReadOnly);
        Assert.Throws<InvalidOperationException>(() => Add(store, new float[8], ["new"]));
        Assert.Throws<InvalidOperationException>(() => store.Delete(["id-1"], missingOk: false));
        Assert.Equal(20, store.Count);
        Assert.Equal(1, Lookup(store, "id-1"));
    }

    [Fact]
    public void One_writer_at_a_time_while_readers_open_freely()
    {
        string dir = SmallStore();
        var first = VectorStore.Open(dir, 8, null, create: false, readOnly: false);
        try
        {
            var e = Assert.Throws<IOException>(() => VectorStore.Open(dir, 8, null, create: false, readOnly: false));
            Assert.Contains("already open", e.Message);
            Assert.Throws<IOException>(() => VectorStore.Open(dir, 8, null, create: true, readOnly: false));
            using var reader = VectorStore.Open(dir, 8, null, create: false, readOnly: true);
            Assert.Equal(20, reader.Count);
            Assert.Equal(3, Search(reader, new float[8], 3).Rows.Count(r => r >= 0));
            // The writer still works while a reader is open; the reader keeps its snapshot.
            Add(first, new float[8], ["more"]);
            Assert.Equal(21, first.Count);
            Assert.Equal(20, reader.Count);
        }
        finally { first.Dispose(); }
        using var second = VectorStore.Open(dir, 8, null, create: false, readOnly: false);
        Assert.Equal(21, second.Count);
    }

    [Fact]
    public void A_disposed_store_refuses_calls_and_disposes_twice()
    {
        string dir = SmallStore();
        var store = VectorStore.Open(dir, 8, null, create: false, readOnly: false);
        store.Dispose();
        store.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Search(store, new float[8], 1));
        Assert.Throws<ObjectDisposedException>(() => store.Fetch([0]));
        Assert.Throws<ObjectDisposedException>(() => store.CopyVectors([0], new float[8]));
        Assert.Throws<ObjectDisposedException>(() => Add(store, new float[8], ["x"]));
        Assert.Throws<ObjectDisposedException>(() => store.Delete(["id-0"], missingOk: false));
    }

    // ================================================================ failed manifest swaps

    [Fact]
    public void A_failed_manifest_swap_rolls_back_add_upsert_and_delete()
    {
        string dir = SmallStore();
        using var store = VectorStore.Open(dir, 8, null, create: false, readOnly: false);
        var blocker = Directory.CreateDirectory(Path.Combine(dir, "MANIFEST.tmp"));
        var before = Search(store, new float[8], 25);

        Assert.ThrowsAny<Exception>(() => Add(store, new float[16], ["id-3", "fresh"], upsert: true));
        Assert.ThrowsAny<Exception>(() => store.Delete(["id-0", "id-5"], missingOk: false));
        Assert.Equal(20, store.Count);
        Assert.Equal(1, store.Segments);
        Assert.Equal(3, Lookup(store, "id-3"));
        Assert.Equal(0, Lookup(store, "id-0"));
        Assert.Equal(-1, Lookup(store, "fresh"));
        var after = Search(store, new float[8], 25);
        Assert.Equal(before.Rows, after.Rows);

        blocker.Delete();
        Assert.Equal(2, store.Delete(["id-0", "id-5"], missingOk: false));
        Assert.Equal(18, store.Count);
        store.Dispose();
        using var reopened = VectorStore.Open(dir, 8, null, create: false, readOnly: false);
        Assert.Equal(18, reopened.Count);
        Assert.Equal(-1, Lookup(reopened, "fresh"));
        Assert.Single(Directory.GetFiles(dir, "seg-*"));
    }

    [Fact]
    public void Add_works_again_after_a_failed_manifest_swap()
    {
        string dir = SmallStore();
        using var store = VectorStore.Open(dir, 8, null, create: false, readOnly: false);
        var blocker = Directory.CreateDirectory(Path.Combine(dir, "MANIFEST.tmp"));
        Assert.ThrowsAny<Exception>(() => Add(store, new float[8], ["fresh"]));
        blocker.Delete();
        Add(store, new float[8], ["fresh"]);
        Assert.Equal(21, store.Count);
    }

    // ================================================================ corruption

    private static void Patch(string path, long at, params byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = at;
        stream.Write(bytes);
    }

    private static InvalidDataException OpenFails(string dir, bool readOnly = false) =>
        Assert.Throws<InvalidDataException>(() => VectorStore.Open(dir, 8, null, create: false, readOnly: readOnly));

    [Fact]
    public void A_flipped_byte_in_vector_data_fails_the_payload_checksum()
    {
        string dir = SmallStore();
        string segment = SegmentFile(dir);
        byte[] bytes = File.ReadAllBytes(segment);
        Patch(segment, 128 + 37, (byte)(bytes[128 + 37] ^ 0x10));
        var e = OpenFails(dir);
        Assert.Contains("checksum", e.Message);
        Assert.Contains(Path.GetFileName(segment), e.Message);
        Assert.Contains("checksum", OpenFails(dir, readOnly: true).Message);
        // The failed writable open released the lock: repaired, the store opens for writing.
        File.WriteAllBytes(segment, bytes);
        using var store = VectorStore.Open(dir, 8, null, create: false, readOnly: false);
        Assert.Equal(20, store.Count);
    }

    [Fact]
    public void A_flipped_byte_in_the_text_sections_fails_the_payload_checksum()
    {
        string dir = SmallStore();
        string segment = SegmentFile(dir);
        long length = new FileInfo(segment).Length;
        byte[] bytes = File.ReadAllBytes(segment);
        Patch(segment, length - 3, (byte)(bytes[length - 3] ^ 1));
        Assert.Contains("checksum", OpenFails(dir).Message);
    }

    [Fact]
    public void A_segment_one_byte_short_or_long_is_truncated()
    {
        string dir = SmallStore();
        string segment = SegmentFile(dir);
        long length = new FileInfo(segment).Length;
        using (var stream = new FileStream(segment, FileMode.Open)) stream.SetLength(length - 1);
        Assert.Contains("truncated", OpenFails(dir).Message);
        using (var stream = new FileStream(segment, FileMode.Open)) stream.SetLength(100);
        Assert.Contains("truncated", OpenFails(dir).Message);
        using (var stream = new FileStream(segment, FileMode.Open)) stream.SetLength(0);
        Assert.Contains("truncated", OpenFails(dir).Message);
    }

    [Fact]
    public void A_changed_format_version_fails_the_header_checksum_or_asks_for_an_upgrade()
    {
        string dir = SmallStore();
        string segment = SegmentFile(dir);
        Patch(segment, 8, 2, 0, 0, 0);
        var e = OpenFails(dir);
        Assert.Contains("header", e.Message);
        Assert.Contains("checksum", e.Message);

        // With the header checksum recomputed, the version itself is refused.
        byte[] header = File.ReadAllBytes(segment)[..128];
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(80), XxHash3.Hash64(header.AsSpan(0, 80)));
        Patch(segment, 0, header);
        e = OpenFails(dir);
        Assert.Contains("version 2", e.Message);
        Assert.Contains("upgrade", e.Message);
    }

    [Fact]
    public void A_segment_with_a_bad_magic_is_refused()
    {
        string dir = SmallStore();
        Patch(SegmentFile(dir), 0, (byte)'X');
        Assert.Contains("magic", OpenFails(dir).Message);
    }

    [Fact]
    public void Segment_Open_refuses_another_dim_or_metric_and_round_trips_rows()
    {
        string path = Path.Combine(_tree.Root, "one.vec");
        float[] vectors = [1, 2, 3, 4, 5, 6];
        StoreFiles.WriteSegment(path, 3, VectorMetric.InnerProduct, vectors, [Utf8("a"), Utf8("bé")], [[1, 2], []], [[], Utf8("doc")]);
        Assert.Contains("dim", Assert.Throws<InvalidDataException>(() => StoreFiles.OpenSegment(path, 4, VectorMetric.InnerProduct)).Message);
        Assert.Contains("metric", Assert.Throws<InvalidDataException>(() => StoreFiles.OpenSegment(path, 3, VectorMetric.L2)).Message);
        using var segment = StoreFiles.OpenSegment(path, 3, VectorMetric.InnerProduct);
        Assert.Equal(2, segment.Count);
        Assert.Equal([4f, 5, 6], segment.Row(1).ToArray());
        Assert.Equal("bé", Text(segment.Id(1).ToArray()));
        Assert.Equal([1, 2], segment.Metadata(0).ToArray());
        Assert.Empty(segment.Metadata(1).ToArray());
        Assert.Empty(segment.Document(0).ToArray());
        Assert.Equal("doc", Text(segment.Document(1).ToArray()));
        // Write never overwrites.
        Assert.ThrowsAny<IOException>(() => StoreFiles.WriteSegment(path, 3, VectorMetric.InnerProduct, vectors, [[], []], [[], []], [[], []]));
    }

    [Fact]
    public void A_manifest_edited_without_its_checksum_is_refused()
    {
        string dir = SmallStore();
        string text = File.ReadAllText(ManifestPath(dir));
        File.WriteAllText(ManifestPath(dir), text.Replace("\"dim\": 8", "\"dim\": 9"));
        Assert.Contains("checksum", OpenFails(dir).Message);
        File.WriteAllText(ManifestPath(dir), text[..^25]);
        OpenFails(dir);
        File.WriteAllText(ManifestPath(dir), "");
        OpenFails(dir, readOnly: true);
        File.WriteAllText(ManifestPath(dir), text);
        using var store = VectorStore.Open(dir, 8, null, create: false, readOnly: false);
        Assert.Equal(20, store.Count);
    }

    [Fact]
    public void A_manifest_of_a_newer_format_asks_for_an_upgrade()
    {
        string dir = SmallStore();
        string body = ManifestBody(dir);
        Assert.Contains("\"format\": 1", body);
        WriteManifest(dir, body.Replace("\"format\": 1", "\"format\": 2"));
        var e = OpenFails(dir);
        Assert.Contains("newer vegafs", e.Message);
        // The checksum recipe is right: the unchanged body with a recomputed line opens.
        WriteManifest(dir, body);
        using var store = VectorStore.Open(dir, 8, null, create: false, readOnly: true);
        Assert.Equal(20, store.Count);
    }

    [Fact]
    public void Deleted_rows_live_in_the_manifest()
    {
        string dir = SmallStore();
        using (var store = VectorStore.Open(dir, 8, null, create: false, readOnly: false))
            store.Delete(["id-2", "id-7"], missingOk: false);
        string body = ManifestBody(dir);
        Assert.Contains("\"deleted\"", body);
        using (var store = VectorStore.Open(dir, 8, null, create: false, readOnly: true))
        {
            Assert.Equal(18, store.Count);
            Assert.Equal(-1, Lookup(store, "id-7"));
            Assert.DoesNotContain(7L, Search(store, new float[8], 20).Rows);
        }
        // Dropping the deleted list (checksum recomputed) brings the rows back: the marks come only from it.
        int start = body.IndexOf("\"deleted\"", StringComparison.Ordinal);
        int end = body.IndexOf('}', start);
        WriteManifest(dir, body[..start] + "\"deleted\": {" + body[end..]);
        using var restored = VectorStore.Open(dir, 8, null, create: false, readOnly: true);
        Assert.Equal(20, restored.Count);
        Assert.Equal(7, Lookup(restored, "id-7"));
    }

    [Fact]
    public void Stray_segment_and_temp_files_are_removed_on_writable_open_only()
    {
        string dir = SmallStore();
        string stray = Path.Combine(dir, "seg-999999.vec"), temp = Path.Combine(dir, "seg-000002.vec.tmp");
        File.WriteAllText(stray, "junk");
        File.WriteAllText(temp, "junk");
        using (var reader = VectorStore.Open(dir, 8, null, create: false, readOnly: true)) Assert.Equal(20, reader.Count);
        Assert.True(File.Exists(stray));
        using (var writer = VectorStore.Open(dir, 8, null, create: false, readOnly: false))
        {
            Assert.False(File.Exists(stray));
            Assert.False(File.Exists(temp));
            Assert.Single(Directory.GetFiles(dir, "seg-*"));
            Add(writer, new float[8], ["after"]);
            Assert.Equal(21, writer.Count);
        }
    }

    // ================================================================ concurrency

    [Fact]
    public void Queries_run_while_a_writer_adds()
    {
        EnsurePoolThreads();
        var rng = new Random(70);
        const int dim = 16;
        using var store = Create(StoreDir(), dim, VectorMetric.Cosine);
        Add(store, RandomVectors(rng, 50, dim), Ids(0, 50));
        var errors = new ConcurrentQueue<Exception>();
        var stopAt = DateTime.UtcNow.AddSeconds(1);
        int batches = 0, queries = 0;

        var writer = new Thread(() =>
        {
            try
            {
                var local = new Random(71);
                for (int b = 1; DateTime.UtcNow < stopAt && b < 400; b++)
                {
                    Add(store, RandomVectors(local, 20, dim), Ids(50 + (b - 1) * 20, 20));
                    Interlocked.Increment(ref batches);
                }
            }
            catch (Exception e) { errors.Enqueue(e); }
        });
        var readers = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            try
            {
                var local = new Random(72 + t);
                long last = 0;
                while (DateTime.UtcNow < stopAt)
                {
                    long count = store.Count;
                    if (count < last) throw new Exception($"Count went down: {last} -> {count}");
                    last = count;
                    var (distances, rows) = Search(store, RandomVectors(local, 2, dim), 7, threads: t + 1);
                    var texts = store.Fetch(rows);
                    for (int i = 0; i < rows.Length; i++)
                    {
                        if (rows[i] < 0 || texts[3 * i].Length == 0) throw new Exception($"invalid row {rows[i]}");
                        if (!float.IsFinite(distances[i])) throw new Exception($"distance {distances[i]}");
                    }
                    Interlocked.Increment(ref queries);
                }
            }
            catch (Exception e) { errors.Enqueue(e); }
        })).ToList();
        writer.Start();
        readers.ForEach(r => r.Start());
        writer.Join();
        readers.ForEach(r => r.Join());
        Assert.Empty(errors);
        Assert.True(batches > 0 && queries > 0, $"batches {batches}, queries {queries}");
        Assert.Equal(50 + 20 * batches, store.Count);
        Assert.Equal(1 + batches, store.Segments);
    }

    [Fact]
    public void Dispose_waits_for_queries_and_later_ones_see_a_closed_store()
    {
        EnsurePoolThreads();
        var rng = new Random(80);
        const int dim = 32;
        var store = Create(StoreDir(), dim, VectorMetric.L2);
        Add(store, RandomVectors(rng, 3000, dim), Ids(0, 3000));
        Add(store, RandomVectors(rng, 3000, dim), Ids(3000, 3000));
        var errors = new ConcurrentQueue<Exception>();
        int done = 0, closed = 0;
        using var started = new ManualResetEventSlim();
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            var local = new Random(81 + t);
            var query = RandomVectors(local, 1, dim);
            while (true)
            {
                try
                {
                    var (distances, rows) = Search(store, query, 5, threads: 2);
                    var texts = store.Fetch(rows);
                    if (rows.Any(r => r < 0) || texts.Where((_, i) => i % 3 == 0).Any(x => x.Length == 0))
                        throw new Exception("a query on an open store gave an invalid row");
                    Interlocked.Increment(ref done);
                    started.Set();
                }
                catch (ObjectDisposedException)
                {
                    Interlocked.Increment(ref closed);
                    return;
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                    return;
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
        Thread.Sleep(100);
        store.Dispose();
        threads.ForEach(t => t.Join());
        Assert.Empty(errors);
        Assert.Equal(2, closed);
        Assert.True(done > 0);
    }
}
