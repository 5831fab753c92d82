using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Vega.Core.Hashing;
using Vega.Core.Vectors;

namespace Vega.Core.Tests;

/// <summary>
/// A store directory is untrusted input (issue 14): forged manifests and segments with valid checksums,
/// files changed under an open store, a lost MANIFEST, metadata that would break filters, and cancellation
/// of long calls, which must leave the store as it was.
/// </summary>
public sealed unsafe class StoreHardeningTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private string Dir(string name = "store") => Path.Combine(_tree.Root, name);

    private static float[] Vectors(int count, int dim, int seed = 3)
    {
        var rng = new Random(seed);
        var values = new float[count * dim];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        return values;
    }

    private static void Add(VectorStore store, int first, int count, int dim = 8, IReadOnlyList<byte[]>? metadata = null)
    {
        var ids = Enumerable.Range(first, count).Select(i => $"r{i}").ToList();
        metadata ??= ids.Select(id => Encoding.UTF8.GetBytes($"{{\"id\":\"{id}\",\"kind\":\"k{id.Length}\"}}")).ToList();
        var documents = ids.Select(id => Encoding.UTF8.GetBytes("=" + id)).ToList();
        fixed (float* p = Vectors(count, dim, first)) store.Add(p, count, ids, metadata, documents, upsert: false);
    }

    private string Store(int batches = 2, bool hnsw = false)
    {
        string dir = Dir();
        using var store = VectorStore.Open(dir, 8, VectorMetric.L2, create: true, readOnly: false,
                                           hnsw ? new IndexOptions(true, new HnswSettings(4, 16, 16)) : null);
        for (int b = 0; b < batches; b++) Add(store, b * 10, 10);
        if (hnsw)
        {
            store.IndexPending(1000, 1);
            store.Flush();
        }
        return dir;
    }

    private static JsonObject Manifest(string dir)
    {
        string text = File.ReadAllText(Path.Combine(dir, "MANIFEST"));
        return JsonNode.Parse(text[..(text.LastIndexOf("\nxxh3:", StringComparison.Ordinal) + 1)])!.AsObject();
    }

    private static void WriteManifest(string dir, JsonNode manifest)
    {
        byte[] body = Encoding.UTF8.GetBytes(manifest.ToJsonString() + "\n");
        File.WriteAllBytes(Path.Combine(dir, "MANIFEST"), [.. body, .. Encoding.ASCII.GetBytes($"xxh3:{XxHash3.Hash64(body):x16}\n")]);
    }

    private static VectorStore Open(string dir, bool readOnly = false, CancellationToken cancel = default) =>
        VectorStore.Open(dir, 0, null, create: false, readOnly, null, cancel);

    [Theory]
    [InlineData("segment", "../victim.txt")]
    [InlineData("segment", "/tmp/victim.txt")]
    [InlineData("segment", "seg-1.vec")]
    [InlineData("graph", "../victim.txt")]
    [InlineData("graph", "hnsw-000001.idx/..")]
    public void Names_in_a_forged_manifest_must_be_ones_the_store_writes(string field, string name)
    {
        string dir = Store(hnsw: true);
        string victim = _tree.File("victim.txt", "precious");
        var manifest = Manifest(dir);
        if (field == "segment") manifest["segments"]![0] = name;
        else
        {
            manifest["index"]!["graph"] = name;
            manifest["index"]!["graph_rows"] = 1_000_000;
        }
        WriteManifest(dir, manifest);
        var e = Assert.Throws<InvalidDataException>(() => Open(dir).Dispose());
        Assert.Contains("MANIFEST", e.Message);
        Assert.Equal("precious", File.ReadAllText(victim));
    }

    [Fact]
    public void A_graph_the_manifest_overstates_is_rebuilt_and_its_file_is_never_deleted_as_ours()
    {
        string dir = Store(hnsw: true);
        var manifest = Manifest(dir);
        string graph = manifest["index"]!["graph"]!.GetValue<string>();
        manifest["index"]!["graph_rows"] = 1_000_000;
        WriteManifest(dir, manifest);
        using (var store = Open(dir))
        {
            Assert.Equal(20, store.PendingRows); // the graph starts afresh
            store.IndexPending(100, 1);
            store.Flush();
        }
        // The overstated file was a stray of the old state: removed at the open, not kept as "the graph".
        Assert.False(File.Exists(Path.Combine(dir, graph)));
        using var reopened = Open(dir, readOnly: true);
        Assert.Equal(20, reopened.IndexedRows);
    }

    [Theory]
    [InlineData(24, -1L)]              // row count
    [InlineData(24, 1L << 40)]
    [InlineData(40, 7L)]               // ids section
    [InlineData(48, -8L)]              // metadata section
    [InlineData(56, 1L << 62)]         // documents section
    public void A_forged_segment_header_with_valid_checksums_is_refused(int field, long value)
    {
        string dir = Store();
        string segment = Directory.GetFiles(dir, "seg-*.vec").Order().First();
        byte[] bytes = File.ReadAllBytes(segment);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(field), value);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(80), XxHash3.Hash64(bytes.AsSpan(0, 80)));
        File.WriteAllBytes(segment, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Open(dir, readOnly: true).Dispose());
        Assert.Contains(Path.GetFileName(segment), e.Message);
    }

    [Fact]
    public void A_forged_text_offset_with_valid_checksums_is_refused()
    {
        string dir = Store();
        string segment = Directory.GetFiles(dir, "seg-*.vec").Order().First();
        byte[] bytes = File.ReadAllBytes(segment);
        long documentsAt = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(56));
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan((int)documentsAt + 8), -(1L << 20)); // row 1 starts 1 MiB before
        ulong payload = XxHash3.Hash64(bytes.AsSpan(128));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(72), payload);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(80), XxHash3.Hash64(bytes.AsSpan(0, 80)));
        File.WriteAllBytes(segment, bytes);
        Assert.Contains("documents", Assert.Throws<InvalidDataException>(() => Open(dir, readOnly: true).Dispose()).Message);
    }

    [Fact]
    public void An_open_store_keeps_its_checked_copy_when_a_segment_file_shrinks_or_changes()
    {
        string dir = Store();
        using var store = Open(dir, readOnly: true);
        foreach (string segment in Directory.GetFiles(dir, "seg-*.vec"))
        {
            using var stream = new FileStream(segment, FileMode.Open, FileAccess.Write);
            stream.SetLength(4096);
            stream.Position = 200;
            stream.Write(new byte[1000]);
        }
        var texts = new List<byte[]>();
        var rows = new long[2];
        store.Get(["r3", "r17"], rows, new float[16], texts);
        Assert.Equal("r17", Encoding.UTF8.GetString(texts[3]));
        Assert.Equal("=r17", Encoding.UTF8.GetString(texts[5]));
    }

    [Fact]
    public void Segment_files_without_a_manifest_are_never_made_a_new_store()
    {
        string dir = Store();
        File.Delete(Path.Combine(dir, "MANIFEST"));
        var before = Directory.GetFiles(dir, "seg-*.vec").Order().ToList();
        var e = Assert.Throws<InvalidDataException>(() => VectorStore.Open(dir, 8, VectorMetric.L2, create: true, readOnly: false).Dispose());
        Assert.Contains("no MANIFEST", e.Message);
        Assert.Equal(before, Directory.GetFiles(dir, "seg-*.vec").Order().ToList());
        Assert.False(File.Exists(Path.Combine(dir, "MANIFEST")));
    }

    [Fact]
    public void Metadata_is_one_bounded_json_object_per_row()
    {
        using var store = VectorStore.Open(Dir(), 8, VectorMetric.L2, create: true, readOnly: false);
        string deep = string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40);
        Assert.Contains("nested deeper", Assert.Throws<ArgumentException>(() => Add(store, 0, 1, metadata: [Encoding.UTF8.GetBytes(deep)])).Message);
        Assert.Contains("not a JSON object", Assert.Throws<ArgumentException>(() => Add(store, 0, 1, metadata: ["[1]"u8.ToArray()])).Message);
        Assert.Contains("not valid JSON", Assert.Throws<ArgumentException>(() => Add(store, 0, 1, metadata: ["{\"a\":"u8.ToArray()])).Message);
        Assert.Contains("not valid JSON", Assert.Throws<ArgumentException>(() => Add(store, 0, 1, metadata: ["{} {}"u8.ToArray()])).Message);
        Assert.Contains("bytes of JSON", Assert.Throws<ArgumentException>(() =>
            Add(store, 0, 1, metadata: [Encoding.UTF8.GetBytes($"{{\"a\":\"{new string('x', VectorStore.MaxMetadataBytes)}\"}}")])).Message);
        Assert.Equal(0, store.Count);
        string nested = string.Concat(Enumerable.Repeat("{\"a\":", 31)) + "1" + new string('}', 31);
        Add(store, 0, 1, metadata: [Encoding.UTF8.GetBytes(nested)]);
        Assert.Equal(1, store.Count);
    }

    [Fact]
    public void Get_reads_rows_and_contents_from_one_state()
    {
        string dir = Store(batches: 3);
        using var store = Open(dir);
        store.Delete(["r0", "r11"], missingOk: false);
        var rows = new long[3];
        var vectors = new float[24];
        var texts = new List<byte[]>();
        store.Get(["r12", "r0", "r29"], rows, vectors, texts);
        Assert.Equal(-1, rows[1]);
        Assert.All(texts.Skip(3).Take(3), t => Assert.Empty(t));
        Assert.Equal("r12", Encoding.UTF8.GetString(texts[0]));
        Assert.Equal(Vectors(10, 8, 10).AsSpan(2 * 8, 8).ToArray(), vectors[..8]);
        store.Compact();
        texts.Clear();
        store.Get(["r12", "r29"], rows.AsSpan(0, 2), vectors.AsSpan(0, 16), texts);
        Assert.Equal("r29", Encoding.UTF8.GetString(texts[3]));
        Assert.Equal(Vectors(10, 8, 20).AsSpan(9 * 8, 8).ToArray(), vectors[8..16]);
    }

    [Fact]
    public void A_cancelled_compaction_leaves_the_store_and_the_directory_as_they_were()
    {
        string dir = Store(batches: 4);
        using var store = Open(dir);
        store.Delete(["r1"], missingOk: false);
        var files = Directory.GetFiles(dir).Order().ToList();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => store.Compact(cancel.Token));
        Assert.Equal(files, Directory.GetFiles(dir).Order().ToList());
        Assert.Equal(4, store.Segments);
        Assert.Equal(39, store.Count);
        Assert.Equal(1, store.Compact());
        Assert.Equal(1, store.Segments);
    }

    [Fact]
    public void Search_and_open_stop_when_cancelled()
    {
        string dir = Store();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Open(dir, readOnly: true, cancel.Token));
        using var store = Open(dir, readOnly: true);
        var queries = Vectors(4, 8);
        var (distances, rows) = (new float[8], new long[8]);
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            fixed (float* q = queries) store.Search(q, 4, 2, 1, distances, rows, cancel: cancel.Token);
        });
    }

    [Fact]
    public void A_huge_k_costs_only_the_rows_there_are()
    {
        string dir = Store();
        using var store = Open(dir, readOnly: true);
        int k = 100_000_000;
        var queries = Vectors(1, 8);
        var distances = new float[k];
        var rows = new long[k];
        long before = GC.GetAllocatedBytesForCurrentThread();
        fixed (float* q = queries) store.Search(q, 1, k, 1, distances, rows);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the heaps were sized by k");
        Assert.Equal(20, rows.Count(r => r >= 0));
        Assert.Equal(-1, rows[20]);
    }
}
