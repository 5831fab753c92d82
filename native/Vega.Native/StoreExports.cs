using System.Runtime.InteropServices;
using Vega.Core;
using Vega.Core.Vectors;

namespace Vega.Native;

/// <summary>The vector store entry points (vega.h "Vector stores").</summary>
public static unsafe partial class Exports
{
    [StructLayout(LayoutKind.Sequential)]
    public struct IndexOptionsC
    {
        public int Kind, M, EfConstruction, Ef;
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_open")]
    public static int StoreOpen(byte* path, nuint length, int dim, int metric, int flags, IndexOptionsC* index, long cancel, long* store)
    {
        try
        {
            if (path == null || store == null) return Status.Invalid("null pointer argument");
            if ((flags & ~0x3) != 0) return Status.Invalid($"unknown store flags 0x{flags:x}");
            if (metric < -1 || metric > 2) return Status.Invalid($"unknown metric {metric}");
            if (dim < 0) return Status.Invalid("dim must be positive");
            if (length > int.MaxValue) return Status.Invalid("the store path is too long");
            if (index != null && index->Kind is not (0 or 1)) return Status.Invalid($"unknown index kind {index->Kind}");
            string directory = StrictUtf8(new ReadOnlySpan<byte>(path, (int)length), "the store path");
            IndexOptions? options = index == null ? null
                : index->Kind == 0 ? IndexOptions.Flat
                : new IndexOptions(true, new HnswSettings(index->M, index->EfConstruction, index->Ef));
            *store = Handles.Add(VectorStore.Open(directory, dim, metric < 0 ? null : (VectorMetric)metric,
                                                  create: (flags & 1) != 0, readOnly: (flags & 2) != 0, options, CancelToken(cancel)));
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_info")]
    public static int StoreInfo(long store, long* info)
    {
        try
        {
            if (info == null) return Status.Invalid("null pointer argument");
            if (!Handles.TryGet(store, out VectorStore vectors)) return Status.Invalid("not a live vector store");
            var hnsw = vectors.Hnsw;
            info[0] = vectors.Dim;
            info[1] = (int)vectors.Metric;
            info[2] = vectors.Count;
            info[3] = vectors.Segments;
            info[4] = vectors.ReadOnly ? 1 : 0;
            info[5] = hnsw is null ? 0 : 1;
            info[6] = hnsw?.M ?? 0;
            info[7] = hnsw?.EfConstruction ?? 0;
            info[8] = hnsw?.Ef ?? 0;
            info[9] = vectors.IndexedRows;
            info[10] = vectors.PendingRows;
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_add")]
    public static int StoreAdd(long store, float* vectors, long count, byte* ids, nuint idsSize, byte* metadata, nuint metadataSize,
                               byte* documents, nuint documentsSize, int flags, long cancel)
    {
        try
        {
            if (vectors == null || ids == null) return Status.Invalid("null pointer argument");
            if ((flags & ~0x1) != 0) return Status.Invalid($"unknown add flags 0x{flags:x}");
            if (count < 1 || count > int.MaxValue) return Status.Invalid("count must be between 1 and 2^31-1");
            if (!Handles.TryGet(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            var names = Ids(ids, idsSize, count);
            var metadataTexts = Strings(metadata, metadataSize, count, "metadata");
            var documentTexts = Strings(documents, documentsSize, count, "documents");
            target.Add(vectors, count, names, metadataTexts?.Select(t => t.ToArray()).ToList() ?? Empties(count),
                       documentTexts?.Select(t => t.ToArray()).ToList() ?? Empties(count), upsert: (flags & 1) != 0, CancelToken(cancel));
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_search")]
    public static int StoreSearch(long store, float* queries, long count, int k, byte* filter, nuint filterLength, int threads,
                                  int ef, int flags, long cancel, float* distances, long* rows, Report** report)
    {
        try
        {
            if (queries == null || distances == null || rows == null) return Status.Invalid("null pointer argument");
            if (count < 1 || k < 1 || (long)count * k > int.MaxValue) return Status.Invalid("count and k must be >= 1 (and count * k < 2^31)");
            if ((flags & ~0x1) != 0) return Status.Invalid($"unknown search flags 0x{flags:x}");
            if (filterLength > int.MaxValue) return Status.Invalid("the filter is too long");
            if (!Handles.TryGet(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            var predicate = filter == null ? null : MetadataFilter.Parse(new ReadOnlySpan<byte>(filter, (int)filterLength));
            var found = new Span<long>(rows, (int)(count * k));
            var texts = report == null ? null : new List<byte[]>(found.Length * 3);
            target.Search(queries, count, k, threads, new Span<float>(distances, found.Length), found, predicate, ef,
                          exact: (flags & 1) != 0, texts, CancelToken(cancel));
            if (report != null) *report = Report.From([new ResultTable(StoreRowsTable, 1, found.ToArray(), texts!, 3)]);
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_get")]
    public static int StoreGet(long store, byte* ids, nuint size, long count, long* rows, float* vectors, Report** report)
    {
        try
        {
            if (ids == null || rows == null || vectors == null || report == null) return Status.Invalid("null pointer argument");
            if (!Handles.TryGet(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            if (count < 1 || count * target.Dim > int.MaxValue || count > int.MaxValue / 3) return Status.Invalid("bad id count");
            var names = Ids(ids, size, count);
            var found = new Span<long>(rows, (int)count);
            var texts = new List<byte[]>((int)count * 3);
            target.Get(names, found, new Span<float>(vectors, (int)(count * target.Dim)), texts);
            *report = Report.From([new ResultTable(StoreRowsTable, 1, found.ToArray(), texts, 3)]);
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_delete")]
    public static int StoreDelete(long store, byte* ids, nuint size, long count, int flags, long* deleted)
    {
        try
        {
            if (ids == null || deleted == null) return Status.Invalid("null pointer argument");
            if ((flags & ~0x1) != 0) return Status.Invalid($"unknown delete flags 0x{flags:x}");
            if (count < 1 || count > int.MaxValue) return Status.Invalid("bad id count");
            if (!Handles.TryGet(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            *deleted = target.Delete(Ids(ids, size, count), missingOk: (flags & 1) != 0);
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_index")]
    public static int StoreIndex(long store, long maxRows, int threads, long cancel, long* pending)
    {
        try
        {
            if (pending == null) return Status.Invalid("null pointer argument");
            if (!Handles.TryGet(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            *pending = target.IndexPending(maxRows, threads, CancelToken(cancel));
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_flush")]
    public static int StoreFlush(long store)
    {
        try
        {
            if (!Handles.TryGet(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            target.Flush();
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_compact")]
    public static int StoreCompact(long store, long cancel, long* reclaimed)
    {
        try
        {
            if (reclaimed == null) return Status.Invalid("null pointer argument");
            if (!Handles.TryGet(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            *reclaimed = target.Compact(CancelToken(cancel));
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_snapshot")]
    public static int StoreSnapshot(long store, int op, byte* name, nuint length, long cancel)
    {
        try
        {
            if (name == null) return Status.Invalid("null pointer argument");
            if (op is < 0 or > 2) return Status.Invalid($"unknown snapshot operation {op}");
            if (length > 1024) return Status.Invalid("the snapshot name is too long");
            if (!Handles.TryGet(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            string text = StrictUtf8(new ReadOnlySpan<byte>(name, (int)length), "the snapshot name");
            switch (op)
            {
                case 0: target.Snapshot(text); break;
                case 1: target.Restore(text, CancelToken(cancel)); break;
                default: target.DeleteSnapshot(text); break;
            }
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_store_close")]
    public static int StoreClose(long store)
    {
        try
        {
            if (!Handles.TryRemove(store, out VectorStore target)) return Status.Invalid("not a live vector store");
            target.Dispose();
            return Status.Ok;
        }
        catch (Exception e) { return StoreStatus(e); }
    }

    private const int StoreRowsTable = 30;
    private const int UnknownIdErrno = 3; // vega.h VEGA_STORE_UNKNOWN_ID, reported as INVALID_ARGUMENT's errno
    private const int CorruptErrno = 5, BusyErrno = 16;

    /// <summary>Store errors: a bad file is INVALID_ARGUMENT with its message (EIO), a refused id carries errno 3.</summary>
    private static int StoreStatus(Exception e) => e switch
    {
        VectorIdException ids => Status.InvalidWithErrno(ids.Message, ids.Message.StartsWith("unknown") ? UnknownIdErrno : 0),
        InvalidDataException data => Status.InvalidWithErrno(data.Message, CorruptErrno),
        PosixException => Status.From(e),
        FileNotFoundException missing => Status.From(new PosixException(2, missing.FileName is null ? null : System.Text.Encoding.UTF8.GetBytes(missing.FileName), missing.Message)),
        IOException io => Status.InvalidWithErrno(io.Message, BusyErrno),
        ObjectDisposedException closed => Status.Invalid(closed.Message),
        InvalidOperationException readOnly => Status.Invalid(readOnly.Message),
        _ => Status.From(e),
    };

    private static List<string> Ids(byte* ids, nuint size, long count) =>
        Strings(ids, size, count, "ids")!.Select(t => StrictUtf8(t.Span, "an id")).ToList();

    private static List<byte[]> Empties(long count) => Enumerable.Range(0, (int)count).Select(_ => Array.Empty<byte>()).ToList();

    /// <summary>count NUL-terminated strings, or null when <paramref name="data"/> is null (none given).</summary>
    private static List<ReadOnlyMemory<byte>>? Strings(byte* data, nuint size, long count, string what)
    {
        if (data == null) return null;
        if (size > int.MaxValue) throw new ArgumentException($"{what} too long");
        return SplitStrings(new ReadOnlySpan<byte>(data, (int)size), (int)count)
               ?? throw new ArgumentException($"{what} do not hold {count} NUL-terminated strings");
    }

    private static string StrictUtf8(ReadOnlySpan<byte> bytes, string what)
    {
        try { return new System.Text.UTF8Encoding(false, true).GetString(bytes); }
        catch (System.Text.DecoderFallbackException) { throw new ArgumentException($"{what} is not valid UTF-8"); }
    }
}
