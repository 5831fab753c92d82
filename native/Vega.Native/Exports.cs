using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Vega.Core;
using Vega.Core.Analysis;
using Vega.Core.Files;
using Vega.Core.Hashing;
using Vega.Core.Patterns;
using Vega.Core.Search;
using Vega.Core.Vectors;
using Vega.Core.Walk;

namespace Vega.Native;

/// <summary>
/// The C entry points declared in native/include/vega.h. Each one validates, calls one Vega.Core API,
/// marshals the result and maps exceptions to a status: no managed exception ever leaves this file.
/// </summary>
public static unsafe partial class Exports
{
    /// <summary>Bump on any change to vega.h; the Python package refuses a library with another value.</summary>
    public const int AbiVersion = 10;

    private static readonly byte* s_version = StaticString(
        typeof(Exports).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            is [System.Reflection.AssemblyInformationalVersionAttribute v, ..] ? v.InformationalVersion : "0.0.0");

    [UnmanagedCallersOnly(EntryPoint = "vega_abi_version")]
    public static int AbiVersionExport() => AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = "vega_simd_features")]
    public static uint SimdFeatures() =>
        (Vector128.IsHardwareAccelerated ? 1u : 0)
        | (Vector256.IsHardwareAccelerated ? 2u : 0)
        | (Vector512.IsHardwareAccelerated ? 4u : 0)
        | (Avx2.IsSupported ? 8u : 0)
        | (Fma.IsSupported ? 16u : 0)
        | (AdvSimd.IsSupported ? 32u : 0);

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
            if (!TryWalkOptions(rootLength, output, flags, maxDepth, threads, include, exclude, topN, out var options, out int status)) return status;
            var walk = TreeWalk.Start(new ReadOnlySpan<byte>(root, (int)rootLength), options);
            *job = Handles.Add(walk);
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    private static bool TryWalkOptions(nuint rootLength, WalkOutput output, int flags, int maxDepth, int threads,
                                       long include, long exclude, int topN, out WalkOptions options, out int status)
    {
        options = default;
        status = Status.Ok;
        if ((flags & ~0xF) != 0) status = Status.Invalid($"unknown walk flags 0x{flags:x}");
        else if (rootLength > int.MaxValue) status = Status.Invalid("path too long");
        GlobSet? includeSet = null, excludeSet = null;
        if (status == Status.Ok && include != 0 && !Handles.TryGet<GlobSet>(include, out includeSet!)) status = Status.Invalid("include is not a live glob set");
        if (status == Status.Ok && exclude != 0 && !Handles.TryGet<GlobSet>(exclude, out excludeSet!)) status = Status.Invalid("exclude is not a live glob set");
        if (status != Status.Ok) return false;
        options = new WalkOptions
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
        return true;
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_walk_next")]
    public static int WalkNext(long job, int timeoutMs, Batch** batch, int* finished) =>
        TakeNext<TreeWalk>(job, (void**)batch, finished, "walk job", walk =>
        {
            bool done = walk.TryTakeBatch(timeoutMs, out var taken);
            return (done, taken is null ? 0 : (nint)Batch.From(taken));
        });

    /// <summary>The shape of every *_next export: validate, look the job up, wait for one result.</summary>
    private static int TakeNext<TJob>(long job, void** result, int* finished, string what, Func<TJob, (bool Done, nint Taken)> take)
        where TJob : class
    {
        try
        {
            if (result == null || finished == null) return Status.Invalid("null out-pointer");
            *result = null;
            *finished = 0;
            if (!Handles.TryGet(job, out TJob running)) return Status.Invalid($"not a live {what}");
            var (done, taken) = take(running);
            *finished = done ? 1 : 0;
            *result = (void*)taken;
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_job_progress")]
    public static int JobProgress(long job, long* counters)
    {
        try
        {
            if (counters == null) return Status.Invalid("null out-pointer");
            if (!Handles.TryGet(job, out IJob running)) return Status.Invalid("not a live job");
            running.ReadProgress(new Span<long>(counters, 4));
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

    [UnmanagedCallersOnly(EntryPoint = "vega_job_cancel")]
    public static int JobCancel(long job)
    {
        try
        {
            if (!Handles.TryGet(job, out IJob running)) return Status.Invalid("not a live job");
            running.Cancel();
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_job_free")]
    public static int JobFree(long job)
    {
        try
        {
            if (!Handles.TryRemove(job, out IJob running)) return Status.Invalid("not a live job");
            running.Dispose();
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_files_list")]
    public static int FilesList(byte* paths, nuint size, long count, long* source)
    {
        try
        {
            if (paths == null || source == null) return Status.Invalid("null pointer argument");
            if (count < 1 || count > int.MaxValue || size > int.MaxValue) return Status.Invalid("bad path count or size");
            var list = new byte[count][];
            var rest = new ReadOnlySpan<byte>(paths, (int)size);
            for (long i = 0; i < count; i++)
            {
                int end = i == count - 1 ? rest.Length : rest.IndexOf((byte)0);
                if (end < 0) return Status.Invalid($"paths do not hold {count} NUL-separated paths");
                list[i] = rest[..end].ToArray();
                rest = i == count - 1 ? default : rest[(end + 1)..];
            }
            if (list[^1].AsSpan().IndexOf((byte)0) >= 0) return Status.Invalid($"paths hold more than {count} NUL-separated paths");
            *source = Handles.Add(FileSource.FromList(list));
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_files_tree")]
    public static int FilesTree(byte* root, nuint rootLength, int flags, int maxDepth, int threads, long include, long exclude, long* source)
    {
        try
        {
            if (root == null || source == null) return Status.Invalid("null pointer argument");
            if (!TryWalkOptions(rootLength, WalkOutput.Paths, flags, maxDepth, threads, include, exclude, 0, out var options, out int status)) return status;
            *source = Handles.Add(FileSource.FromTree(new ReadOnlySpan<byte>(root, (int)rootLength), options));
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_files_free")]
    public static int FilesFree(long source)
    {
        try
        {
            if (!Handles.TryRemove(source, out FileSource files)) return Status.Invalid("not a live file source");
            files.Dispose();
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_hash_start")]
    public static int HashStart(long source, int algorithm, int threads, long* job) =>
        StartFileJob(source, algorithm, job, files => new HashJob(files, (HashAlgorithmKind)algorithm, threads));

    [UnmanagedCallersOnly(EntryPoint = "vega_dupes_start")]
    public static int DupesStart(long source, int algorithm, long minSize, int threads, long* job) =>
        StartFileJob(source, algorithm, job, files => new DuplicateFinder(files, (HashAlgorithmKind)algorithm, minSize, threads));

    /// <summary>Checks the algorithm first, so a refused start leaves the source to its owner; then the job takes it over.</summary>
    private static int StartFileJob(long source, int algorithm, long* job, Func<FileSource, FileJob> create)
    {
        try
        {
            if (job == null) return Status.Invalid("null out-pointer");
            if (!Handles.TryGet(source, out FileSource files)) return Status.Invalid("not a live file source");
            HashJob.CheckAvailable((HashAlgorithmKind)algorithm);
            Handles.TryRemove(source, out FileSource _);
            *job = Handles.Add(create(files));
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_job_next")]
    public static int JobNext(long job, int timeoutMs, Report** report, int* finished) =>
        TakeNext<FileJob>(job, (void**)report, finished, "file job", running =>
        {
            bool done = running.TryTake(timeoutMs, out var tables);
            return (done, tables is null ? 0 : (nint)Report.From(tables));
        });

    [UnmanagedCallersOnly(EntryPoint = "vega_search_compile")]
    public static int SearchCompile(byte* patterns, nuint size, int count, int flags, long* searcher, int* errorPattern, int* errorPosition)
    {
        try
        {
            if (patterns == null || searcher == null || errorPattern == null || errorPosition == null) return Status.Invalid("null pointer argument");
            *errorPattern = *errorPosition = -1;
            if ((flags & ~0x7) != 0) return Status.Invalid($"unknown search flags 0x{flags:x}");
            if (count < 1) return Status.Invalid("no patterns to search for");
            if (size > int.MaxValue) return Status.Invalid("patterns too long");
            var texts = SplitStrings(new ReadOnlySpan<byte>(patterns, (int)size), count);
            if (texts is null) return Status.Invalid($"patterns do not hold {count} NUL-terminated strings");
            var decoded = texts.Select(t => SearchPattern.Decode(t.Span)).ToList();
            try
            {
                *searcher = Handles.Add(SearchPattern.Compile(decoded, (SearchPatternFlags)flags));
            }
            catch (SearchPatternException e)
            {
                *errorPattern = e.PatternIndex;
                *errorPosition = e.Position;
                throw;
            }
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_searcher_free")]
    public static int SearcherFree(long searcher)
    {
        try
        {
            return Handles.TryRemove(searcher, out SearchPattern _) ? Status.Ok : Status.Invalid("not a live searcher");
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_search_start")]
    public static int SearchStart(long source, long searcher, SearchOptionsAbi* options, int threads, long* job)
    {
        try
        {
            if (options == null || job == null) return Status.Invalid("null pointer argument");
            if (!Handles.TryGet(searcher, out SearchPattern pattern)) return Status.Invalid("not a live searcher");
            var searchOptions = options->ToOptions();
            if (!Handles.TryGet(source, out FileSource files)) return Status.Invalid("not a live file source");
            Handles.TryRemove(source, out FileSource _);
            *job = Handles.Add(new SearchJob(files, pattern, searchOptions, threads));
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_search_buffer")]
    public static int SearchBuffer(long searcher, byte* data, nuint size, byte* path, nuint pathLength, SearchOptionsAbi* options,
                                   long cancel, Report** report)
    {
        try
        {
            if ((data == null && size > 0) || (path == null && pathLength > 0) || options == null || report == null)
                return Status.Invalid("null pointer argument");
            if (size > long.MaxValue || pathLength > int.MaxValue) return Status.Invalid("buffer too long");
            if (!Handles.TryGet(searcher, out SearchPattern pattern)) return Status.Invalid("not a live searcher");
            var searchOptions = options->ToOptions();
            byte[] name = new ReadOnlySpan<byte>(path, (int)pathLength).ToArray();
            *report = Report.From(SearchJob.SearchBuffer(pattern, searchOptions, data, (long)size, name, CancelToken(cancel)));
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_hasher_new")]
    public static int HasherNew(int algorithm, long* hasher)
    {
        try
        {
            if (hasher == null) return Status.Invalid("null out-pointer");
            HashJob.CheckAvailable((HashAlgorithmKind)algorithm);
            *hasher = Handles.Add(Hasher.Create((HashAlgorithmKind)algorithm));
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_hasher_update")]
    public static int HasherUpdate(long hasher, byte* data, nuint size)
    {
        try
        {
            if (data == null && size > 0) return Status.Invalid("null data");
            if (!Handles.TryGet(hasher, out Hasher h)) return Status.Invalid("not a live hasher");
            // A hasher is not thread-safe: calls on one id from two threads at once are serialized.
            lock (h)
            {
                for (nuint done = 0; done < size;)
                {
                    int chunk = (int)Math.Min(size - done, 1u << 30);
                    h.Append(new ReadOnlySpan<byte>(data + done, chunk));
                    done += (nuint)chunk;
                }
            }
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_hasher_digest")]
    public static int HasherDigest(long hasher, byte* digest, nuint capacity, nuint* length)
    {
        try
        {
            if (digest == null || length == null) return Status.Invalid("null pointer argument");
            if (!Handles.TryGet(hasher, out Hasher h)) return Status.Invalid("not a live hasher");
            if (capacity < (nuint)h.DigestSize) return Status.Invalid($"the digest needs {h.DigestSize} bytes");
            lock (h)
            {
                *length = (nuint)h.Finish(new Span<byte>(digest, (int)Math.Min(capacity, Hasher.MaxDigestSize)));
                h.Reset();
            }
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_hasher_free")]
    public static int HasherFree(long hasher)
    {
        if (!Handles.TryRemove(hasher, out Hasher _)) return Status.Invalid("not a live hasher");
        return Status.Ok;
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

/// <summary><c>vega_table</c>: one table of results (see <see cref="ResultTable"/>).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Table
{
    public int Kind;
    public int Columns;
    public long Rows;
    public long* Values;
    public int TextColumns;
    public int Reserved;
    public long* TextOffsets;
    public byte* Text;
}

/// <summary>
/// <c>vega_report</c>: a set of tables (an analysis, or a file job's result set). The header, the tables,
/// their values, offsets and texts are one native block, so vega_report_free is a single free.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Report
{
    public long TableCount;
    public Table* Tables;

    internal static Report* From(AnalysisReport source) => From(source.Tables);

    internal static Report* From(IReadOnlyList<ResultTable> tables)
    {
        // Layout: header, tables, then every table's values and offsets (8-byte aligned), then all text.
        nuint size = (nuint)(sizeof(Report) + tables.Count * sizeof(Table));
        foreach (var table in tables)
        {
            size += (nuint)table.Values.Length * sizeof(long);
            if (table.Texts is not null)
            {
                size += (nuint)(table.Texts.Count + 1) * sizeof(long);
                foreach (var item in table.Texts) size += (nuint)item.Length + 1;
            }
        }
        byte* block = (byte*)NativeMemory.Alloc(size == 0 ? 1 : size);
        var report = (Report*)block;
        report->TableCount = tables.Count;
        report->Tables = (Table*)(block + sizeof(Report));
        long* longs = (long*)(report->Tables + tables.Count);
        long longCount = 0;
        foreach (var table in tables) longCount += table.Values.Length + (table.Texts is null ? 0 : table.Texts.Count + 1);
        byte* text = (byte*)(longs + longCount);
        for (int i = 0; i < tables.Count; i++)
        {
            var table = tables[i];
            long* values = longs;
            table.Values.CopyTo(new Span<long>(values, table.Values.Length));
            longs += table.Values.Length;
            long* offsets = null;
            byte* start = null;
            if (table.Texts is not null)
            {
                offsets = longs;
                longs += table.Texts.Count + 1;
                start = text;
                long offset = 0;
                for (int k = 0; k < table.Texts.Count; k++)
                {
                    offsets[k] = offset;
                    var item = table.Texts[k];
                    item.CopyTo(new Span<byte>(text, item.Length));
                    text += item.Length;
                    *text++ = 0;
                    offset += item.Length + 1;
                }
                offsets[table.Texts.Count] = offset;
            }
            report->Tables[i] = new Table
            {
                Kind = table.Kind, Columns = table.Columns, Rows = table.Rows, Values = values,
                TextColumns = table.Texts is null ? 0 : table.TextColumns, TextOffsets = offsets, Text = start,
            };
        }
        return report;
    }
}

/// <summary><c>vega_search_options</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SearchOptionsAbi
{
    public int Flags;
    public int Before;
    public int After;
    public int Reserved;
    public long MaxCount;
    public long MaxFileSize;

    internal readonly SearchOptions ToOptions()
    {
        if ((Flags & ~0x3) != 0) throw new ArgumentException($"unknown search option flags 0x{Flags:x}");
        var options = new SearchOptions
        {
            CountOnly = (Flags & 1) != 0, Binary = (Flags & 2) != 0, Before = Before, After = After,
            MaxCount = MaxCount, MaxFileSize = MaxFileSize,
        };
        options.Validate();
        return options;
    }
}
