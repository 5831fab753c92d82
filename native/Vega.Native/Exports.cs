using System.Runtime.InteropServices;
using Vega.Core.Analysis;
using Vega.Core.Patterns;
using Vega.Core.Walk;

namespace Vega.Native;

/// <summary>
/// The C entry points declared in native/include/vega.h. Each one validates, calls one Vega.Core API,
/// marshals the result and maps exceptions to a status: no managed exception ever leaves this file.
/// </summary>
public static unsafe class Exports
{
    /// <summary>Bump on any change to vega.h; the Python package refuses a library with another value.</summary>
    public const int AbiVersion = 3;

    private static readonly byte* s_version = StaticString(
        typeof(Exports).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            is [System.Reflection.AssemblyInformationalVersionAttribute v, ..] ? v.InformationalVersion : "0.0.0");

    [UnmanagedCallersOnly(EntryPoint = "vega_abi_version")]
    public static int AbiVersionExport() => AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = "vega_library_version")]
    public static int LibraryVersion(byte** text, nuint* length)
    {
        if (text == null || length == null) return Status.Invalid("null out-pointer");
        *text = s_version;
        *length = (nuint)MemoryMarshal.CreateReadOnlySpanFromNullTerminated(s_version).Length;
        return Status.Ok;
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_error_last")]
    public static int ErrorLast(int* errno, byte** message, nuint* messageLength, byte** path, nuint* pathLength)
    {
        if (errno == null || message == null || messageLength == null || path == null || pathLength == null) return Status.InvalidArgument;
        LastError.Get(errno, message, messageLength, path, pathLength);
        return Status.Ok;
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_walk_start")]
    public static int WalkStart(byte* root, nuint rootLength, int output, int flags, int maxDepth, int threads,
                                long include, long exclude, long* job)
    {
        if (output is < 0 or > 2) return Status.Invalid($"unknown walk output {output}");
        return StartWalk(root, rootLength, (WalkOutput)output, flags, maxDepth, threads, include, exclude, 0, job);
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_analyze_start")]
    public static int AnalyzeStart(byte* root, nuint rootLength, int flags, int maxDepth, int threads,
                                   long include, long exclude, int topN, long* job) =>
        StartWalk(root, rootLength, WalkOutput.Analyze, flags, maxDepth, threads, include, exclude, topN, job);

    private static int StartWalk(byte* root, nuint rootLength, WalkOutput output, int flags, int maxDepth, int threads,
                                 long include, long exclude, int topN, long* job)
    {
        try
        {
            if (root == null || job == null) return Status.Invalid("null pointer argument");
            if ((flags & ~0xF) != 0) return Status.Invalid($"unknown walk flags 0x{flags:x}");
            if (rootLength > int.MaxValue) return Status.Invalid("path too long");
            GlobSet? includeSet = null, excludeSet = null;
            if (include != 0 && !Handles.TryGet<GlobSet>(include, out includeSet!)) return Status.Invalid("include is not a live glob set");
            if (exclude != 0 && !Handles.TryGet<GlobSet>(exclude, out excludeSet!)) return Status.Invalid("exclude is not a live glob set");
            var options = new WalkOptions
            {
                Output = output,
                FollowLinks = (flags & 1) != 0,
                Stat = (flags & 2) != 0,
                ClassifyLinks = (flags & 4) != 0,
                Gitignore = (flags & 8) != 0,
                MaxDepth = maxDepth,
                Threads = threads,
                Include = includeSet,
                Exclude = excludeSet,
                TopN = topN,
            };
            var walk = TreeWalk.Start(new ReadOnlySpan<byte>(root, (int)rootLength), options);
            *job = Handles.Add(walk);
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_walk_next")]
    public static int WalkNext(long job, int timeoutMs, Batch** batch, int* finished)
    {
        try
        {
            if (batch == null || finished == null) return Status.Invalid("null out-pointer");
            *batch = null;
            *finished = 0;
            if (!Handles.TryGet(job, out TreeWalk walk)) return Status.Invalid("not a live walk job");
            bool done = walk.TryTakeBatch(timeoutMs, out var taken);
            *finished = done ? 1 : 0;
            if (taken is not null) *batch = Batch.From(taken);
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_walk_progress")]
    public static int WalkProgressExport(long job, long* counters)
    {
        try
        {
            if (counters == null) return Status.Invalid("null out-pointer");
            if (!Handles.TryGet(job, out TreeWalk walk)) return Status.Invalid("not a live walk job");
            var p = walk.Progress;
            counters[0] = p.Directories;
            counters[1] = p.Entries;
            counters[2] = p.Bytes;
            counters[3] = p.Errors;
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_walk_totals")]
    public static int WalkTotals(long job, long* totals)
    {
        try
        {
            if (totals == null) return Status.Invalid("null out-pointer");
            if (!Handles.TryGet(job, out TreeWalk walk)) return Status.Invalid("not a live walk job");
            var t = walk.Totals;
            totals[0] = t.Files;
            totals[1] = t.Directories;
            totals[2] = t.Symlinks;
            totals[3] = t.Others;
            totals[4] = t.ApparentBytes;
            totals[5] = t.DiskBytes;
            totals[6] = t.Errors;
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_walk_report")]
    public static int WalkReport(long job, Report** report)
    {
        try
        {
            if (report == null) return Status.Invalid("null out-pointer");
            *report = null;
            if (!Handles.TryGet(job, out TreeWalk walk)) return Status.Invalid("not a live walk job");
            *report = Report.From(walk.Report);
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_report_free")]
    public static int ReportFree(Report* report)
    {
        NativeMemory.Free(report);
        return Status.Ok;
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_walk_cancel")]
    public static int WalkCancel(long job)
    {
        try
        {
            if (!Handles.TryGet(job, out TreeWalk walk)) return Status.Invalid("not a live walk job");
            walk.Cancel();
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_walk_free")]
    public static int WalkFree(long job)
    {
        try
        {
            if (!Handles.TryRemove(job, out TreeWalk walk)) return Status.Invalid("not a live walk job");
            walk.Dispose();
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_globset_new")]
    public static int GlobSetNew(byte* patterns, nuint size, int count, int flags, long* set)
    {
        try
        {
            if (patterns == null || set == null) return Status.Invalid("null pointer argument");
            if ((flags & ~0x3) != 0) return Status.Invalid($"unknown glob flags 0x{flags:x}");
            if (count < 1) return Status.Invalid("a glob set needs at least one pattern");
            if (size > int.MaxValue) return Status.Invalid("patterns too long");
            var texts = SplitStrings(new ReadOnlySpan<byte>(patterns, (int)size), count);
            if (texts is null) return Status.Invalid($"patterns do not hold {count} NUL-terminated strings");
            var syntax = (flags & 2) != 0 ? GlobSyntax.AnchorLeadingSlash : GlobSyntax.Default;
            var globs = texts.Select(t => Glob.Parse(PathText.Decode(t.Span), syntax)).ToList();
            *set = Handles.Add(new GlobSet(globs, caseInsensitive: (flags & 1) != 0));
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_globset_match")]
    public static int GlobSetMatch(long set, byte* paths, nuint size, long count, byte* matched, long* indices, long* found)
    {
        try
        {
            if ((paths == null && size > 0) || matched == null || found == null) return Status.Invalid("null pointer argument");
            if (!Handles.TryGet(set, out GlobSet globs)) return Status.Invalid("not a live glob set");
            if (count < 1 || size > long.MaxValue) return Status.Invalid("bad path count or size");
            *found = PathListMatch.Run(globs, paths, (long)size, count, matched, indices);
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_globset_which")]
    public static int GlobSetWhich(long set, byte* path, nuint length, int* indices, int capacity, int* found)
    {
        try
        {
            if (path == null || found == null || (indices == null && capacity > 0)) return Status.Invalid("null pointer argument");
            if (!Handles.TryGet(set, out GlobSet globs)) return Status.Invalid("not a live glob set");
            if (length > int.MaxValue) return Status.Invalid("path too long");
            var which = globs.Which(new ReadOnlySpan<byte>(path, (int)length));
            *found = which.Count;
            for (int i = 0; i < Math.Min(which.Count, capacity); i++) indices[i] = which[i];
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_globset_free")]
    public static int GlobSetFree(long set)
    {
        if (!Handles.TryRemove(set, out GlobSet _)) return Status.Invalid("not a live glob set");
        return Status.Ok;
    }

    /// <summary>Exactly <paramref name="count"/> NUL-terminated strings filling the span, or null.</summary>
    private static List<ReadOnlyMemory<byte>>? SplitStrings(ReadOnlySpan<byte> data, int count)
    {
        var result = new List<ReadOnlyMemory<byte>>(count);
        byte[] copy = data.ToArray();
        int start = 0;
        for (int i = 0; i < count; i++)
        {
            int nul = copy.AsSpan(start).IndexOf((byte)0);
            if (nul < 0) return null;
            result.Add(copy.AsMemory(start, nul));
            start += nul + 1;
        }
        return start == copy.Length ? result : null;
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_batch_free")]
    public static int BatchFree(Batch* batch)
    {
        Batch.Free(batch);
        return Status.Ok;
    }

    private static byte* StaticString(string text)
    {
        int length = System.Text.Encoding.UTF8.GetByteCount(text);
        byte* memory = (byte*)NativeMemory.Alloc((nuint)length + 1);
        System.Text.Encoding.UTF8.GetBytes(text, new Span<byte>(memory, length));
        memory[length] = 0;
        return memory;
    }
}

/// <summary>
/// <c>vega_batch</c>: a header pointing at the batch's native arrays, which it owns; vega_batch_free
/// releases them and the header.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Batch
{
    public long GroupCount;
    public long* Groups;
    public long EntryCount;
    public byte* Kinds;
    public long* Stats;
    public long BlobSize;
    public byte* Blob;

    internal static Batch* From(WalkBatch source)
    {
        var batch = (Batch*)NativeMemory.Alloc((nuint)sizeof(Batch));
        var d = source.Detach();
        *batch = new Batch
        {
            GroupCount = d.GroupCount, Groups = d.Groups, EntryCount = d.EntryCount, Kinds = d.Kinds,
            Stats = d.Stats, BlobSize = d.BlobSize, Blob = d.Blob,
        };
        return batch;
    }

    internal static void Free(Batch* batch)
    {
        if (batch == null) return;
        NativeMemory.Free(batch->Groups);
        NativeMemory.Free(batch->Kinds);
        NativeMemory.Free(batch->Stats);
        NativeMemory.Free(batch->Blob);
        NativeMemory.Free(batch);
    }
}

/// <summary><c>vega_table</c>: one table of a report (see <see cref="ReportTable"/>).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Table
{
    public int Kind;
    public int Columns;
    public long Rows;
    public long* Values;
    public long TextSize;
    public byte* Text;
}

/// <summary>
/// <c>vega_report</c>: the tables of an analysis. The header, the tables, their values and texts are one
/// native block, so vega_report_free is a single free.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Report
{
    public long TableCount;
    public Table* Tables;

    internal static Report* From(AnalysisReport source)
    {
        var tables = source.Tables;
        nuint size = (nuint)(sizeof(Report) + tables.Count * sizeof(Table));
        foreach (var table in tables)
        {
            size += (nuint)table.Values.Length * sizeof(long);
            if (table.Texts is not null) foreach (var item in table.Texts) size += (nuint)item.Length + 1;
        }
        byte* block = (byte*)NativeMemory.Alloc(size);
        var report = (Report*)block;
        report->TableCount = tables.Count;
        report->Tables = (Table*)(block + sizeof(Report));
        // Values (8-byte aligned) first, then every text: the header and the tables are multiples of 8 bytes.
        long* values = (long*)(report->Tables + tables.Count);
        foreach (var table in tables) values += table.Values.Length;
        byte* text = (byte*)values;
        values = (long*)(report->Tables + tables.Count);
        for (int i = 0; i < tables.Count; i++)
        {
            var table = tables[i];
            table.Values.CopyTo(new Span<long>(values, table.Values.Length));
            byte* start = text;
            if (table.Texts is not null)
            {
                foreach (var item in table.Texts)
                {
                    item.CopyTo(new Span<byte>(text, item.Length));
                    text += item.Length;
                    *text++ = 0;
                }
            }
            report->Tables[i] = new Table
            {
                Kind = (int)table.Kind, Columns = table.Columns, Rows = table.Rows, Values = values,
                TextSize = text - start, Text = table.Texts is null ? null : start,
            };
            values += table.Values.Length;
        }
        return report;
    }
}
