using System.Text;
using Vega.Core.Interop;
using Vega.Core.Vectors;

namespace Vega.Core.Tests;

/// <summary>
/// A vector store's maintenance: <see cref="VectorStore.Compact"/> (with and without deletions, with an
/// HNSW graph), snapshots (<see cref="VectorStore.Snapshot"/>, <see cref="VectorStore.Restore"/>,
/// <see cref="VectorStore.DeleteSnapshot"/>), changing the index on reopen, graph checkpoints, and a
/// read-only reader beside a writer with a graph. Every check is against a model of the live rows.
/// </summary>
public sealed unsafe class StoreMaintenanceTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    // ================================================================ helpers

    private string StoreDir(string name = "store") => Path.Combine(_tree.Root, name);

    private static VectorStore Create(string directory, int dim, VectorMetric metric, IndexOptions? index = null) =>
        VectorStore.Open(directory, dim, metric, create: true, readOnly: false, index);

    private static VectorStore Reopen(string directory, bool readOnly = false, IndexOptions? index = null) =>
        VectorStore.Open(directory, 0, null, create: false, readOnly: readOnly, index);

    private static IndexOptions Hnsw(int m, int efc, int ef) => new(true, new HnswSettings(m, efc, ef));

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    private static float[] RandomVectors(Random rng, int count, int dim)
    {
        var values = new float[count * dim];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return values;
    }

    private static string[] Ids(int from, int count, string prefix = "id-") =>
        Enumerable.Range(from, count).Select(i => prefix + i).ToArray();

    /// <summary>What the store should hold (an L2 store keeps vectors as given): live ids with vector and texts.</summary>
    private sealed class Model(int dim)
    {
        public int Dim { get; } = dim;
        public Dictionary<string, (float[] Vector, byte[] Metadata, byte[] Document)> Live { get; private init; } = new(StringComparer.Ordinal);
        public HashSet<string> Gone { get; private init; } = new(StringComparer.Ordinal);

        public Model Clone() => new(Dim) { Live = new(Live, StringComparer.Ordinal), Gone = new(Gone, StringComparer.Ordinal) };
    }

    private static void AddTo(VectorStore store, Model model, Random rng, IReadOnlyList<string> ids, bool upsert = false)
    {
        var vectors = RandomVectors(rng, ids.Count, model.Dim);
        var metadata = ids.Select((id, i) => i % 5 == 0 ? [] : Utf8($"{{\"id\":\"{id}\",\"n\":{rng.Next(1000)}}}")).ToArray();
        var documents = ids.Select((id, i) => i % 7 == 0 ? [] : Utf8($"document of {id} ✓")).ToArray();
        fixed (float* p = vectors) store.Add(p, ids.Count, ids, metadata, documents, upsert);
        for (int i = 0; i < ids.Count; i++)
        {
            model.Live[ids[i]] = (vectors.AsSpan(i * model.Dim, model.Dim).ToArray(), metadata[i], documents[i]);
            model.Gone.Remove(ids[i]);
        }
    }

    private static void DeleteFrom(VectorStore store, Model model, IReadOnlyList<string> ids)
    {
        Assert.Equal(ids.Count, store.Delete(ids, missingOk: false));
        foreach (string id in ids)
        {
            model.Live.Remove(id);
            model.Gone.Add(id);
        }
    }

    /// <summary>Every live id is found with its vector, metadata and document; every gone id is not; rows are distinct.</summary>
    private static void Check(VectorStore store, Model model, string where = "")
    {
        Assert.Equal(model.Live.Count, store.Count);
        var ids = model.Live.Keys.ToArray();
        var rows = new long[ids.Length];
        store.Lookup(ids, rows);
        Assert.All(rows, row => Assert.True(row >= 0, $"{where}: a live id has no row"));
        Assert.Equal(rows.Length, rows.Distinct().Count());
        var texts = store.Fetch(rows);
        var vectors = new float[ids.Length * model.Dim];
        store.CopyVectors(rows, vectors);
        for (int i = 0; i < ids.Length; i++)
        {
            var (vector, metadata, document) = model.Live[ids[i]];
            Assert.Equal(ids[i], Text(texts[3 * i]));
            Assert.Equal(metadata, texts[3 * i + 1]);
            Assert.Equal(document, texts[3 * i + 2]);
            Assert.Equal(vector, vectors.AsSpan(i * model.Dim, model.Dim).ToArray());
        }
        var gone = model.Gone.ToArray();
        var goneRows = new long[gone.Length];
        store.Lookup(gone, goneRows);
        for (int i = 0; i < gone.Length; i++) Assert.True(goneRows[i] == -1, $"{where}: deleted id {gone[i]} still has row {goneRows[i]}");
    }

    /// <summary>The k nearest as (id, distance) pairs, ids through the search's own fetch (so they survive renumbering).</summary>
    private static List<(string Id, float Distance)> SearchIds(VectorStore store, float[] queries, int k, bool exact = true, int ef = 0)
    {
        int count = queries.Length / store.Dim;
        var distances = new float[count * k];
        var rows = new long[count * k];
        var texts = new List<byte[]>();
        fixed (float* q = queries) store.Search(q, count, k, 2, distances, rows, null, ef, exact, texts);
        return Enumerable.Range(0, count * k).Select(i => (rows[i] < 0 ? "" : Text(texts[3 * i]), distances[i])).ToList();
    }

    /// <summary>
    /// The same ids in the same order, distances equal to float rounding: a compaction moves rows to other
    /// offsets, where the scan may compute them with the 4-row kernel instead of the 1-row one.
    /// </summary>
    private static void SameAnswers(List<(string Id, float Distance)> expected, List<(string Id, float Distance)> actual)
    {
        Assert.Equal(expected.Select(p => p.Id), actual.Select(p => p.Id));
        for (int i = 0; i < expected.Count; i++)
            Assert.True(expected[i].Distance == actual[i].Distance || Math.Abs(expected[i].Distance - actual[i].Distance) <= 1e-5 * Math.Max(1, Math.Abs(expected[i].Distance)),
                        $"slot {i}: {expected[i]} became {actual[i]}");
    }

    /// <summary>The exact k nearest live ids of each query, in double, from the model.</summary>
    private static List<string[]> ModelNearest(Model model, float[] queries, int k)
    {
        var result = new List<string[]>();
        for (int q = 0; q < queries.Length / model.Dim; q++)
        {
            var query = queries.AsSpan(q * model.Dim, model.Dim).ToArray();
            result.Add(model.Live.Select(e => (Id: e.Key, D: Enumerable.Range(0, model.Dim).Sum(j => Math.Pow((double)query[j] - e.Value.Vector[j], 2))))
                                 .OrderBy(p => p.D).Take(k).Select(p => p.Id).ToArray());
        }
        return result;
    }

    /// <summary>Recall@k of the store's (graph) search against the model's exact answers.</summary>
    private static double Recall(VectorStore store, Model model, float[] queries, int k, int ef = 0)
    {
        var got = SearchIds(store, queries, k, exact: false, ef: ef);
        var expected = ModelNearest(model, queries, k);
        double found = 0, wanted = 0;
        for (int q = 0; q < expected.Count; q++)
        {
            var set = got.Skip(q * k).Take(k).Select(p => p.Id).ToHashSet();
            found += expected[q].Count(set.Contains);
            wanted += expected[q].Length;
        }
        return found / wanted;
    }

    private static string[] Files(string directory, string pattern) =>
        Directory.GetFiles(directory, pattern).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    private static (ulong Inode, uint Links) Stat(string path)
    {
        byte[] bytes = Utf8(path + "\0");
        StatxBuffer buffer;
        fixed (byte* p = bytes) Assert.Equal(0, Libc.Statx(Libc.AT_FDCWD, p, 0, Libc.STATX_BASIC_STATS, &buffer));
        return (buffer.Ino, buffer.NLink);
    }

    private static void Flip(string path, long at)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = at;
        int value = stream.ReadByte();
        stream.Position = at;
        stream.WriteByte((byte)(value ^ 0x20));
    }

    private static float[] Queries(Random rng, Model model, int random = 8) =>
        [.. RandomVectors(rng, random, model.Dim), .. model.Live.Values.Take(3).SelectMany(e => e.Vector)];

    /// <summary>A store of dim 8 with 4 segments (60, 1, 45, 30 rows) and 40 deletions spread over them.</summary>
    private static (VectorStore Store, Model Model) Mixed(string directory, Random rng, IndexOptions? index = null)
    {
        var store = Create(directory, 8, VectorMetric.L2, index);
        var model = new Model(8);
        int next = 0;
        foreach (int size in new[] { 60, 1, 45, 30 })
        {
            AddTo(store, model, rng, Ids(next, size));
            next += size;
        }
        DeleteFrom(store, model, model.Live.Keys.OrderBy(_ => rng.Next()).Take(40).ToArray());
        Assert.Equal(4, store.Segments);
        return (store, model);
    }

    // ================================================================ compaction

    [Fact]
    public void Compact_drops_deleted_rows_and_keeps_every_live_row_with_its_texts()
    {
        var rng = new Random(1);
        string dir = StoreDir();
        var (store, model) = Mixed(dir, rng);
        var queries = Queries(rng, model);
        List<(string, float)> before;
        int reclaim;
        using (store)
        {
            before = SearchIds(store, queries, 7);
            var oldSegments = Files(dir, "seg-*.vec");
            Assert.Equal(4, oldSegments.Length);

            Assert.Equal(40, store.Compact());
            Assert.Equal(1, store.Segments);
            Check(store, model, "after compaction");
            // Rows are renumbered densely: 0..Count-1.
            var rows = new long[model.Live.Count];
            store.Lookup(model.Live.Keys.ToArray(), rows);
            Assert.Equal(Enumerable.Range(0, model.Live.Count).Select(i => (long)i), rows.Order());
            SameAnswers(before, SearchIds(store, queries, 7));
            var segments = Files(dir, "seg-*.vec");
            Assert.Single(segments);
            Assert.DoesNotContain(segments[0], oldSegments);
            Assert.Empty(Files(dir, "*.tmp"));

            // Nothing left to do: 0, and the segment stays as it is.
            Assert.Equal(0, store.Compact());
            Assert.Equal(segments, Files(dir, "seg-*.vec"));

            // The store goes on: deletes find the renumbered rows, adds and upserts work.
            DeleteFrom(store, model, model.Live.Keys.Take(5).ToArray());
            AddTo(store, model, rng, Ids(500, 10));
            string[] upserts = [.. model.Live.Keys.Skip(3).Take(2), "id-0"];
            reclaim = 5 + upserts.Count(model.Live.ContainsKey);
            AddTo(store, model, rng, upserts, upsert: true);
            Check(store, model, "after more writes");
            before = SearchIds(store, queries, 7);
        }
        using (var reopened = Reopen(dir))
        {
            Check(reopened, model, "reopened");
            Assert.Equal(before, SearchIds(reopened, queries, 7));
            Assert.Equal(reclaim, reopened.Compact());
            SameAnswers(before, SearchIds(reopened, queries, 7));
            Check(reopened, model, "compacted again");
        }
        using (var reopened = Reopen(dir, readOnly: true))
        {
            Check(reopened, model, "reopened read-only");
            Assert.Single(Files(dir, "seg-*.vec"));
        }
    }

    [Fact]
    public void Compact_returns_zero_when_nothing_was_deleted_but_still_merges_segments()
    {
        var rng = new Random(2);
        string dir = StoreDir();
        var model = new Model(8);
        using var store = Create(dir, 8, VectorMetric.L2);
        Assert.Equal(0, store.Compact());
        Assert.Equal(0, store.Segments);
        AddTo(store, model, rng, Ids(0, 20));
        var one = Files(dir, "seg-*.vec");
        Assert.Equal(0, store.Compact());
        Assert.Equal(one, Files(dir, "seg-*.vec"));
        AddTo(store, model, rng, Ids(20, 15));
        AddTo(store, model, rng, Ids(35, 1));
        var queries = Queries(rng, model);
        var before = SearchIds(store, queries, 5);
        Assert.Equal(0, store.Compact());
        Assert.Equal(1, store.Segments);
        Assert.Single(Files(dir, "seg-*.vec"));
        Check(store, model);
        SameAnswers(before, SearchIds(store, queries, 5));
    }

    [Fact]
    public void Compact_of_a_store_whose_rows_are_all_deleted_leaves_an_empty_store()
    {
        var rng = new Random(3);
        string dir = StoreDir();
        var model = new Model(8);
        using (var store = Create(dir, 8, VectorMetric.L2))
        {
            AddTo(store, model, rng, Ids(0, 12));
            AddTo(store, model, rng, Ids(12, 8));
            DeleteFrom(store, model, Ids(0, 20));
            Assert.Equal(20, store.Compact());
            Assert.Equal(0, store.Count);
            Assert.Equal(0, store.Segments);
            Assert.Empty(Files(dir, "seg-*"));
            var found = SearchIds(store, RandomVectors(rng, 2, 8), 3);
            Assert.All(found, p => Assert.Equal(("", float.PositiveInfinity), p));
            Assert.Equal(0, store.Compact());
        }
        using (var store = Reopen(dir))
        {
            Check(store, model, "reopened empty");
            AddTo(store, model, rng, Ids(5, 4)); // ids of deleted rows are free again
            Check(store, model, "refilled");
            Assert.Equal("id-6", SearchIds(store, model.Live["id-6"].Vector, 1)[0].Id);
        }
    }

    [Fact]
    public void Compact_with_deletions_restarts_the_HNSW_graph_and_search_stays_correct()
    {
        var rng = new Random(4);
        string dir = StoreDir();
        var model = new Model(16);
        using (var store = Create(dir, 16, VectorMetric.L2, Hnsw(12, 60, 40)))
        {
            AddTo(store, model, rng, Ids(0, 1500));
            AddTo(store, model, rng, Ids(1500, 500));
            store.IndexPending(long.MaxValue, 1);
            store.Flush();
            Assert.Single(Files(dir, "hnsw-*.idx"));
            DeleteFrom(store, model, model.Live.Keys.OrderBy(_ => rng.Next()).Take(300).ToArray());
            var queries = Queries(rng, model, 30);
            var before = SearchIds(store, queries, 10);

            Assert.Equal(300, store.Compact());
            Assert.Equal(0, store.IndexedRows);
            Assert.Equal(1700, store.PendingRows);
            Assert.Equal(new HnswSettings(12, 60, 40), store.Hnsw);
            Assert.Empty(Files(dir, "hnsw-*"));
            Check(store, model, "compacted");
            // With an empty graph every row is scanned: the graph path gives the exact answer.
            Assert.Equal(before, SearchIds(store, queries, 10, exact: false));

            Assert.Equal(0, store.IndexPending(long.MaxValue, 1));
            Assert.Equal(1700, store.IndexedRows);
            double recall = Recall(store, model, queries, 10, ef: 64);
            Assert.True(recall >= 0.9, $"recall after rebuilding: {recall:F3}");
            store.Flush();
        }
        using (var store = Reopen(dir))
        {
            Assert.Equal(1700, store.IndexedRows);
            Check(store, model, "reopened");
        }
    }

    [Fact]
    public void Compact_without_deletions_keeps_the_HNSW_graph()
    {
        var rng = new Random(5);
        string dir = StoreDir();
        var model = new Model(16);
        using (var store = Create(dir, 16, VectorMetric.L2, Hnsw(12, 60, 40)))
        {
            AddTo(store, model, rng, Ids(0, 700));
            AddTo(store, model, rng, Ids(700, 300));
            store.IndexPending(long.MaxValue, 1);
            store.Flush();
            AddTo(store, model, rng, Ids(1000, 100)); // pending
            var graphFile = Files(dir, "hnsw-*.idx");
            Assert.Single(graphFile);

            Assert.Equal(0, store.Compact());
            Assert.Equal(1, store.Segments);
            Assert.Equal(1000, store.IndexedRows);
            Assert.Equal(100, store.PendingRows);
            Assert.Equal(graphFile, Files(dir, "hnsw-*.idx"));
            Check(store, model, "compacted");
        }
        using (var store = Reopen(dir))
        {
            Assert.Equal(1000, store.IndexedRows);
            Assert.Equal(100, store.PendingRows);
            Check(store, model, "reopened");
            var queries = Queries(rng, model, 30);
            double recall = Recall(store, model, queries, 10, ef: 64);
            Assert.True(recall >= 0.9, $"recall after reopening: {recall:F3}");
            Assert.Equal("id-1050", SearchIds(store, model.Live["id-1050"].Vector, 1, exact: false)[0].Id);
            Assert.Equal("id-10", SearchIds(store, model.Live["id-10"].Vector, 1, exact: false)[0].Id);
        }
    }

    [Fact]
    public void A_graph_kept_by_Compact_still_searches_the_live_rows()
    {
        var rng = new Random(6);
        var model = new Model(16);
        using var store = Create(StoreDir(), 16, VectorMetric.L2, Hnsw(12, 60, 40));
        AddTo(store, model, rng, Ids(0, 700));
        AddTo(store, model, rng, Ids(700, 300));
        store.IndexPending(long.MaxValue, 1);
        Assert.Equal(0, store.Compact());
        Assert.Equal(1000, store.IndexedRows);
        // Map other files over the freed addresses, as a busy process would.
        AddTo(store, model, rng, Ids(1000, 700));
        AddTo(store, model, rng, Ids(1700, 300));
        foreach (string id in new[] { "id-0", "id-10", "id-333", "id-699", "id-700", "id-999" })
        {
            var found = SearchIds(store, model.Live[id].Vector, 1, exact: false);
            Assert.Equal((id, 0f), found[0]);
        }
        double recall = Recall(store, model, Queries(rng, model, 30), 10, ef: 64);
        Assert.True(recall >= 0.9, $"recall after the compaction: {recall:F3}");
    }

    // ================================================================ snapshots

    [Fact]
    public void Restore_brings_back_exactly_what_the_snapshot_recorded()
    {
        var rng = new Random(7);
        string dir = StoreDir();
        var (store, model) = Mixed(dir, rng);
        var queries = Queries(rng, model);
        Model atSnapshot;
        List<(string, float)> searchAtSnapshot;
        using (store)
        {
            searchAtSnapshot = SearchIds(store, queries, 7);
            atSnapshot = model.Clone();
            var storeFiles = Files(dir, "seg-*.vec");
            store.Snapshot("a");
            string snapshot = Path.Combine(dir, "snapshots", "a");
            Assert.True(File.Exists(Path.Combine(snapshot, "MANIFEST")));
            // The snapshot's segments are hard links to the store's: same inode, two links.
            Assert.Equal(storeFiles, Files(snapshot, "seg-*.vec"));
            foreach (string file in storeFiles)
            {
                var (inode, links) = Stat(Path.Combine(dir, file));
                Assert.Equal(inode, Stat(Path.Combine(snapshot, file)).Inode);
                Assert.Equal(2u, links);
            }
            Assert.Equal(["a"], Directory.GetDirectories(Path.Combine(dir, "snapshots")).Select(Path.GetFileName)); // no temp directory left

            // Change everything: new rows, deletes of old and new, upserts, a compaction.
            AddTo(store, model, rng, Ids(200, 30));
            DeleteFrom(store, model, model.Live.Keys.OrderBy(_ => rng.Next()).Take(25).ToArray());
            AddTo(store, model, rng, [.. model.Live.Keys.Take(4), "id-999"], upsert: true);
            Assert.True(store.Compact() > 0);
            Assert.Empty(storeFiles.Intersect(Files(dir, "seg-*.vec")));
            // The store dropped its links; the snapshot's files live on.
            foreach (string file in storeFiles) Assert.Equal(1u, Stat(Path.Combine(snapshot, file)).Links);
            Check(store, model, "changed");

            store.Restore("a");
            Check(store, atSnapshot, "restored");
            var added = model.Live.Keys.Except(atSnapshot.Live.Keys).ToArray();
            var addedRows = new long[added.Length];
            store.Lookup(added, addedRows);
            Assert.All(addedRows, row => Assert.Equal(-1, row));
            Assert.Equal(4, store.Segments);
            Assert.Equal(searchAtSnapshot, SearchIds(store, queries, 7));
            // Restored files come back into the store as links, and nothing else is left in it.
            Assert.Equal(storeFiles, Files(dir, "seg-*.vec"));
        }
        using (store = Reopen(dir))
        {
            Check(store, atSnapshot, "restored, reopened");
            Assert.Equal(searchAtSnapshot, SearchIds(store, queries, 7));
            // The snapshot stays: change the store and restore it again.
            DeleteFrom(store, atSnapshot.Clone(), atSnapshot.Live.Keys.Take(10).ToArray());
            store.Restore("a");
            Check(store, atSnapshot, "restored twice");
            Assert.Equal(["a"], Directory.GetDirectories(Path.Combine(dir, "snapshots")).Select(Path.GetFileName));
        }
    }

    [Fact]
    public void Snapshot_names_are_checked_and_unique_and_DeleteSnapshot_removes_one()
    {
        var rng = new Random(8);
        string dir = StoreDir();
        var model = new Model(8);
        using var store = Create(dir, 8, VectorMetric.L2);
        AddTo(store, model, rng, Ids(0, 10));
        foreach (string bad in new[] { "", "../x", ".hidden", "a/b", "/abs", "a b", "..", ".", "é", "x\0y", new string('n', 201) })
        {
            Assert.Throws<ArgumentException>(() => store.Snapshot(bad));
            Assert.Throws<ArgumentException>(() => store.Restore(bad));
            Assert.Throws<ArgumentException>(() => store.DeleteSnapshot(bad));
        }
        Assert.False(Directory.Exists(Path.Combine(_tree.Root, "x")));
        Assert.False(File.Exists(Path.Combine(_tree.Root, "MANIFEST")));
        string longest = new('n', 200);
        foreach (string good in new[] { "v1.0_x-y", longest, "A9" }) store.Snapshot(good);
        Assert.Equal(new[] { "A9", longest, "v1.0_x-y" }.Order(StringComparer.Ordinal),
                     Directory.GetDirectories(Path.Combine(dir, "snapshots")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var duplicate = Assert.Throws<ArgumentException>(() => store.Snapshot("A9"));
        Assert.Contains("A9", duplicate.Message);
        Assert.Contains("unknown", Assert.Throws<ArgumentException>(() => store.Restore("unknown")).Message);
        Assert.Throws<ArgumentException>(() => store.DeleteSnapshot("unknown"));

        store.DeleteSnapshot("A9");
        Assert.False(Directory.Exists(Path.Combine(dir, "snapshots", "A9")));
        Assert.Throws<ArgumentException>(() => store.Restore("A9"));
        // The store's own files are untouched by deleting a snapshot.
        Check(store, model, "after deleting a snapshot");
        store.Snapshot("A9"); // the name is free again
        store.Restore("A9");
        Check(store, model, "restored the new A9");
    }

    [Fact]
    public void A_read_only_store_refuses_maintenance()
    {
        var rng = new Random(9);
        string dir = StoreDir();
        var model = new Model(8);
        using (var store = Create(dir, 8, VectorMetric.L2, Hnsw(8, 20, 10)))
        {
            AddTo(store, model, rng, Ids(0, 10));
            DeleteFrom(store, model, ["id-3"]);
            store.Snapshot("s");
        }
        using var reader = Reopen(dir, readOnly: true);
        Assert.True(reader.ReadOnly);
        Assert.Throws<InvalidOperationException>(() => reader.Snapshot("t"));
        Assert.Throws<InvalidOperationException>(() => reader.Restore("s"));
        Assert.Throws<InvalidOperationException>(() => reader.DeleteSnapshot("s"));
        Assert.Throws<InvalidOperationException>(() => reader.Compact());
        Assert.Throws<InvalidOperationException>(() => reader.Flush());
        Assert.False(Directory.Exists(Path.Combine(dir, "snapshots", "t")));
        Assert.True(Directory.Exists(Path.Combine(dir, "snapshots", "s")));
        Check(reader, model, "read-only");
        // The reader may fill its own graph in memory, but writes no checkpoint.
        var files = Directory.GetFiles(dir).Order().ToArray();
        Assert.Equal(0, reader.IndexPending(100, 1));
        Assert.Equal(10, reader.IndexedRows);
        Assert.Equal(files, Directory.GetFiles(dir).Order().ToArray());
    }

    [Fact]
    public void Restore_keeps_file_numbering_monotone_so_names_never_clash()
    {
        var rng = new Random(10);
        string dir = StoreDir();
        var model = new Model(8);
        var seen = new HashSet<string>();
        void Record() { foreach (string file in Files(dir, "seg-*")) seen.Add(file + ":" + Stat(Path.Combine(dir, file)).Inode); }
        using (var store = Create(dir, 8, VectorMetric.L2))
        {
            AddTo(store, model, rng, Ids(0, 10, "base-"));
            store.Snapshot("a");
            var atA = model.Clone();
            AddTo(store, model, rng, Ids(0, 10, "x-"));
            Record();
            store.Snapshot("b");
            var atB = model.Clone();

            store.Restore("a");
            Check(store, atA, "restored a");
            // An add after the restore must not take the name of x's segment (which snapshot b holds).
            AddTo(store, atA, rng, Ids(0, 10, "y-"));
            Record();
            var names = seen.Select(s => s.Split(':')[0]).ToList();
            Assert.Equal(names.Count, names.Distinct().Count());
            Check(store, atA, "a plus y");

            store.Restore("b");
            Check(store, atB, "restored b");
            foreach (string id in Ids(0, 10, "x-"))
                Assert.Equal(atB.Live[id].Vector, CopyVector(store, id));
            AddTo(store, atB, rng, Ids(0, 3, "z-"));
            Check(store, atB, "b plus z");
            model = atB;
        }
        using (var store = Reopen(dir))
        {
            Check(store, model, "reopened");
            AddTo(store, model, rng, Ids(0, 3, "w-"));
            Check(store, model, "reopened plus w");
        }
    }

    private static float[] CopyVector(VectorStore store, string id)
    {
        var row = new long[1];
        store.Lookup([id], row);
        var vector = new float[store.Dim];
        store.CopyVectors(row, vector);
        return vector;
    }

    [Fact]
    public void A_snapshot_of_an_HNSW_store_restores_its_graph()
    {
        var rng = new Random(11);
        string dir = StoreDir();
        var model = new Model(16);
        Model atSnapshot;
        using (var store = Create(dir, 16, VectorMetric.L2, Hnsw(12, 60, 40)))
        {
            AddTo(store, model, rng, Ids(0, 1000));
            store.IndexPending(long.MaxValue, 1); // under the auto-checkpoint size: not saved yet
            Assert.Empty(Files(dir, "hnsw-*"));
            AddTo(store, model, rng, Ids(1000, 50)); // pending at snapshot time
            store.Snapshot("g");
            atSnapshot = model.Clone();
            // The snapshot saved the graph first and links its checkpoint.
            var graph = Files(dir, "hnsw-*.idx");
            Assert.Single(graph);
            string linked = Path.Combine(dir, "snapshots", "g", graph[0]);
            Assert.Equal(Stat(Path.Combine(dir, graph[0])).Inode, Stat(linked).Inode);

            DeleteFrom(store, model, Ids(0, 100));
            store.Compact();
            Assert.Equal(0, store.IndexedRows);
            Assert.Empty(Files(dir, "hnsw-*"));

            store.Restore("g");
            Assert.Equal(1000, store.IndexedRows);
            Assert.Equal(50, store.PendingRows);
            Check(store, atSnapshot, "restored");
            Assert.Equal(graph, Files(dir, "hnsw-*.idx"));
            double recall = Recall(store, atSnapshot, Queries(rng, atSnapshot, 30), 10, ef: 64);
            Assert.True(recall >= 0.9, $"recall after the restore: {recall:F3}");
            Assert.Equal(("id-5", 0f), SearchIds(store, atSnapshot.Live["id-5"].Vector, 1, exact: false)[0]);
            Assert.Equal(("id-1040", 0f), SearchIds(store, atSnapshot.Live["id-1040"].Vector, 1, exact: false)[0]);
        }
        using (var store = Reopen(dir))
        {
            Assert.Equal(1000, store.IndexedRows);
            Check(store, atSnapshot, "restored, reopened");
        }
    }

    // ================================================================ changing the index

    [Fact]
    public void A_flat_store_reopened_with_HNSW_fills_its_graph_through_IndexPending()
    {
        var rng = new Random(12);
        string dir = StoreDir();
        var model = new Model(16);
        using (var store = Create(dir, 16, VectorMetric.L2))
        {
            AddTo(store, model, rng, Ids(0, 800));
            Assert.Null(store.Hnsw);
            Assert.Equal(0, store.IndexedRows);
            Assert.Equal(0, store.PendingRows);
        }
        var queries = Queries(rng, model, 20);
        using (var store = Reopen(dir, index: Hnsw(10, 50, 30)))
        {
            Assert.Equal(new HnswSettings(10, 50, 30), store.Hnsw);
            Assert.Equal(0, store.IndexedRows);
            Assert.Equal(800, store.PendingRows);
            Assert.Equal(SearchIds(store, queries, 10), SearchIds(store, queries, 10, exact: false));
            Assert.Equal(0, store.IndexPending(long.MaxValue, 1));
            Assert.Equal(800, store.IndexedRows);
            Assert.True(Recall(store, model, queries, 10) >= 0.9);
            store.Flush();
            Assert.Single(Files(dir, "hnsw-*.idx"));
        }
        using (var store = Reopen(dir))
        {
            Assert.Equal(new HnswSettings(10, 50, 30), store.Hnsw);
            Assert.Equal(800, store.IndexedRows);
            Check(store, model);
        }
    }

    [Fact]
    public void An_HNSW_store_reopened_flat_drops_its_graph_and_the_checkpoint_file()
    {
        var rng = new Random(13);
        string dir = StoreDir();
        var model = new Model(8);
        using (var store = Create(dir, 8, VectorMetric.L2, Hnsw(8, 20, 10)))
        {
            AddTo(store, model, rng, Ids(0, 300));
            store.IndexPending(long.MaxValue, 1);
            store.Flush();
            Assert.Single(Files(dir, "hnsw-*.idx"));
        }
        using (var store = Reopen(dir, index: IndexOptions.Flat))
        {
            Assert.Null(store.Hnsw);
            Assert.Equal(0, store.IndexedRows);
            Assert.Equal(0, store.PendingRows);
            Assert.Empty(Files(dir, "hnsw-*"));
            Assert.DoesNotContain("hnsw", File.ReadAllText(Path.Combine(dir, "MANIFEST")));
            Check(store, model);
        }
        using (var store = Reopen(dir))
        {
            Assert.Null(store.Hnsw);
            Check(store, model);
        }
    }

    [Fact]
    public void Changing_only_ef_keeps_the_graph_and_is_saved_and_zero_settings_keep_the_store_s()
    {
        var rng = new Random(14);
        string dir = StoreDir();
        var model = new Model(8);
        using (var store = Create(dir, 8, VectorMetric.L2, Hnsw(8, 20, 10)))
        {
            AddTo(store, model, rng, Ids(0, 400));
            store.IndexPending(long.MaxValue, 1);
            store.Flush();
        }
        var graph = Files(dir, "hnsw-*.idx");
        // All zero: keep everything.
        using (var store = Reopen(dir, index: Hnsw(0, 0, 0)))
        {
            Assert.Equal(new HnswSettings(8, 20, 10), store.Hnsw);
            Assert.Equal(400, store.IndexedRows);
        }
        // Only ef: no rebuild, the checkpoint stays, the new ef is saved.
        using (var store = Reopen(dir, index: Hnsw(0, 0, 99)))
        {
            Assert.Equal(new HnswSettings(8, 20, 99), store.Hnsw);
            Assert.Equal(400, store.IndexedRows);
            Assert.Equal(graph, Files(dir, "hnsw-*.idx"));
        }
        using (var store = Reopen(dir))
        {
            Assert.Equal(new HnswSettings(8, 20, 99), store.Hnsw);
            Assert.Equal(400, store.IndexedRows);
        }
        // The same settings spelled out change nothing.
        using (var store = Reopen(dir, index: Hnsw(8, 20, 99)))
            Assert.Equal(400, store.IndexedRows);
        // A reader may not change the index, but may ask for what it has.
        Assert.Throws<ArgumentException>(() => Reopen(dir, readOnly: true, index: Hnsw(0, 0, 50)));
        Assert.Throws<ArgumentException>(() => Reopen(dir, readOnly: true, index: IndexOptions.Flat));
        using (var reader = Reopen(dir, readOnly: true, index: Hnsw(0, 0, 0)))
            Assert.Equal(400, reader.IndexedRows);
        // A new M: a new empty graph with the other settings kept, the old checkpoint gone.
        using (var store = Reopen(dir, index: Hnsw(12, 0, 0)))
        {
            Assert.Equal(new HnswSettings(12, 20, 99), store.Hnsw);
            Assert.Equal(0, store.IndexedRows);
            Assert.Equal(400, store.PendingRows);
            Assert.Empty(Files(dir, "hnsw-*"));
            Check(store, model);
        }
        // A new ef_construction likewise.
        using (var store = Reopen(dir, index: Hnsw(0, 30, 0)))
        {
            Assert.Equal(new HnswSettings(12, 30, 99), store.Hnsw);
            Assert.Equal(0, store.IndexedRows);
        }
        // Invalid settings are refused and change nothing.
        Assert.Throws<ArgumentException>(() => Reopen(dir, index: Hnsw(1, 0, 0)));
        using (var store = Reopen(dir))
            Assert.Equal(new HnswSettings(12, 30, 99), store.Hnsw);
    }

    [Fact]
    public void A_new_HNSW_store_takes_defaults_for_zero_settings()
    {
        using var store = Create(StoreDir(), 4, VectorMetric.Cosine, Hnsw(0, 0, 0));
        Assert.Equal(new HnswSettings(HnswSettings.DefaultM, HnswSettings.DefaultEfConstruction, HnswSettings.DefaultEf), store.Hnsw);
    }

    // ================================================================ checkpoints

    [Fact]
    public void A_flushed_graph_is_loaded_on_reopen_and_answers_as_before()
    {
        var rng = new Random(15);
        string dir = StoreDir();
        var model = new Model(16);
        var queries = RandomVectors(rng, 30, 16);
        List<(string, float)> before;
        using (var store = Create(dir, 16, VectorMetric.L2, Hnsw(8, 30, 16)))
        {
            AddTo(store, model, rng, Ids(0, 1000));
            store.IndexPending(long.MaxValue, 1);
            Assert.Empty(Files(dir, "hnsw-*")); // below the auto-checkpoint size
            store.Flush();
            Assert.Single(Files(dir, "hnsw-*.idx"));
            before = SearchIds(store, queries, 10, exact: false);
            store.Flush(); // nothing new: no new file
            Assert.Single(Files(dir, "hnsw-*.idx"));
        }
        using (var store = Reopen(dir))
        {
            Assert.Equal(1000, store.IndexedRows);
            Assert.Equal(0, store.PendingRows);
            // The very same graph: the very same approximate answers.
            Assert.Equal(before, SearchIds(store, queries, 10, exact: false));
        }
        using (var reader = Reopen(dir, readOnly: true))
            Assert.Equal(before, SearchIds(reader, queries, 10, exact: false));
    }

    [Fact]
    public void Rows_indexed_after_the_last_checkpoint_are_pending_after_reopen()
    {
        var rng = new Random(16);
        string dir = StoreDir();
        var model = new Model(16);
        using (var store = Create(dir, 16, VectorMetric.L2, Hnsw(8, 30, 16)))
        {
            AddTo(store, model, rng, Ids(0, 800));
            store.IndexPending(long.MaxValue, 1);
            store.Flush();
            AddTo(store, model, rng, Ids(800, 300));
            Assert.Equal(0, store.IndexPending(long.MaxValue, 1));
            Assert.Equal(1100, store.IndexedRows);
            // Closed without Flush, as after a crash.
        }
        using (var store = Reopen(dir))
        {
            Assert.Equal(800, store.IndexedRows);
            Assert.Equal(300, store.PendingRows);
            Check(store, model, "reopened");
            foreach (string id in new[] { "id-0", "id-799", "id-800", "id-950", "id-1099" })
                Assert.Equal((id, 0f), SearchIds(store, model.Live[id].Vector, 1, exact: false)[0]);
            double recall = Recall(store, model, Queries(rng, model, 30), 10, ef: 64);
            Assert.True(recall >= 0.9, $"recall: {recall:F3}");
            Assert.Equal(0, store.IndexPending(long.MaxValue, 1));
            Assert.Equal(1100, store.IndexedRows);
            store.Flush();
            Assert.Single(Files(dir, "hnsw-*.idx")); // the previous checkpoint was removed
        }
        using (var store = Reopen(dir))
            Assert.Equal(1100, store.IndexedRows);
    }

    [Fact]
    public void A_graph_that_grew_by_half_is_checkpointed_without_Flush()
    {
        var rng = new Random(17);
        string dir = StoreDir();
        var model = new Model(4);
        using (var store = Create(dir, 4, VectorMetric.L2, Hnsw(6, 12, 10)))
        {
            AddTo(store, model, rng, Ids(0, 5000));
            store.IndexPending(1000, 1);
            Assert.Empty(Files(dir, "hnsw-*"));
            store.IndexPending(long.MaxValue, 1);
            Assert.Single(Files(dir, "hnsw-*.idx"));
        }
        using (var store = Reopen(dir))
        {
            Assert.Equal(5000, store.IndexedRows);
            Assert.Equal(0, store.PendingRows);
        }
    }

    [Fact]
    public void A_corrupted_graph_checkpoint_fails_Open_naming_the_file()
    {
        var rng = new Random(18);
        string dir = StoreDir();
        var model = new Model(8);
        using (var store = Create(dir, 8, VectorMetric.L2, Hnsw(8, 20, 10)))
        {
            AddTo(store, model, rng, Ids(0, 300));
            store.IndexPending(long.MaxValue, 1);
            store.Flush();
        }
        string graph = Path.Combine(dir, Files(dir, "hnsw-*.idx").Single());
        byte[] bytes = File.ReadAllBytes(graph);
        foreach (long at in new long[] { 200, 20, bytes.Length - 1 })
        {
            Flip(graph, at);
            foreach (bool readOnly in new[] { false, true })
            {
                var e = Assert.Throws<InvalidDataException>(() => Reopen(dir, readOnly));
                Assert.Contains(Path.GetFileName(graph), e.Message);
            }
            File.WriteAllBytes(graph, bytes);
        }
        File.WriteAllBytes(graph, bytes[..1000]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => Reopen(dir)).Message);
        File.Delete(graph);
        Assert.ThrowsAny<IOException>(() => Reopen(dir));
        // Repaired, the store opens for writing (the failed opens released the lock).
        File.WriteAllBytes(graph, bytes);
        using var reopened = Reopen(dir);
        Assert.Equal(300, reopened.IndexedRows);
        Check(reopened, model);
    }

    // ================================================================ a reader beside a writer

    [Fact]
    public void A_reader_beside_a_writer_with_a_graph_searches_correctly()
    {
        var rng = new Random(19);
        string dir = StoreDir();
        var model = new Model(16);
        using var writer = Create(dir, 16, VectorMetric.L2, Hnsw(12, 60, 40));
        AddTo(writer, model, rng, Ids(0, 2000));
        writer.IndexPending(long.MaxValue, 1);
        writer.Flush();
        AddTo(writer, model, rng, Ids(2000, 300));
        writer.IndexPending(long.MaxValue, 1); // indexed by the writer, not checkpointed
        var queries = Queries(rng, model, 30);

        using var reader = Reopen(dir, readOnly: true);
        Assert.Equal(2000, reader.IndexedRows);
        Assert.Equal(300, reader.PendingRows);
        Check(reader, model, "reader");
        foreach (string id in new[] { "id-7", "id-1999", "id-2000", "id-2299" })
            Assert.Equal((id, 0f), SearchIds(reader, model.Live[id].Vector, 1, exact: false)[0]);
        Assert.True(Recall(reader, model, queries, 10, ef: 64) >= 0.9);
        var readerAnswers = SearchIds(reader, queries, 10, exact: false, ef: 64);

        // The writer moves on: a new checkpoint (the reader's file is removed), deletions, a compaction.
        writer.Flush();
        var readerModel = model.Clone();
        DeleteFrom(writer, model, Ids(0, 500));
        writer.Compact();
        writer.IndexPending(long.MaxValue, 1);
        writer.Flush();
        // The reader still answers from what it opened.
        Assert.Equal(readerAnswers, SearchIds(reader, queries, 10, exact: false, ef: 64));
        Check(reader, readerModel, "reader after the writer's compaction");
        // A new reader sees the writer's state.
        using var fresh = Reopen(dir, readOnly: true);
        Assert.Equal(1800, fresh.IndexedRows);
        Check(fresh, model, "fresh reader");
        Assert.Equal(SearchIds(writer, queries, 10, exact: false, ef: 64), SearchIds(fresh, queries, 10, exact: false, ef: 64));
    }
}
