using Vega.Core.Walk;

namespace Vega.Core.Analysis;

/// <summary>
/// The directory report of one walk: the workers fill their own <see cref="AnalysisShard"/>s during the
/// walk, and <see cref="Build"/> merges them, rolls folder sizes up their subtrees (du-style) and ranks.
/// </summary>
public sealed class TreeAnalysis
{
    public const int TotalsColumns = 12;

    private readonly int _topN;
    private readonly List<AnalysisShard> _shards = new();
    internal readonly HardLinks Links = new();

    public TreeAnalysis(int topN)
    {
        if (topN < 0 || topN > 1_000_000) throw new ArgumentException("top_n must be between 0 and 1000000");
        _topN = topN;
    }

    internal AnalysisShard NewShard()
    {
        var shard = new AnalysisShard(_topN, Links);
        lock (_shards) _shards.Add(shard);
        return shard;
    }

    /// <summary>
    /// Builds the report once every worker is done. <paramref name="idCount"/> bounds the directory ids
    /// (a directory's id is always greater than its parent's, which is what makes one backward pass a rollup).
    /// </summary>
    internal AnalysisReport Build(long idCount, long rootBytes, long rootDiskBytes)
    {
        var shards = _shards;
        long Sum(Func<AnalysisShard, long> field) => shards.Sum(field);

        var folders = new FolderRecord?[idCount];
        foreach (var shard in shards)
        {
            foreach (var folder in shard.Folders) folders[folder.Id] = folder;
        }
        var subtreeFiles = new long[idCount];
        var subtreeBytes = new long[idCount];
        var subtreeDisk = new long[idCount];
        for (long id = idCount - 1; id >= 0; id--)
        {
            if (folders[id] is not { } folder) continue;
            subtreeFiles[id] += folder.Files;
            subtreeBytes[id] += folder.Bytes;
            subtreeDisk[id] += folder.DiskBytes;
            if (folder.ParentId < 0) continue;
            subtreeFiles[folder.ParentId] += subtreeFiles[id];
            subtreeBytes[folder.ParentId] += subtreeBytes[id];
            subtreeDisk[folder.ParentId] += subtreeDisk[id];
        }

        var byFiles = new RankedRows(_topN);
        var bySize = new RankedRows(_topN);
        var empty = new List<FolderRecord>();
        foreach (var folder in folders)
        {
            if (folder is null) continue;
            if (folder.Readable && folder.Entries == 0) empty.Add(folder);
            var path = folder.PathZ.AsSpan(0, folder.PathZ.Length - 1);
            long id = folder.Id;
            bool topByFiles = byFiles.Accepts(folder.Files, path, default);
            bool topBySize = bySize.Accepts(subtreeBytes[id], path, default);
            if (!topByFiles && !topBySize) continue;
            long[] values = [folder.Files, subtreeFiles[id], subtreeBytes[id], subtreeDisk[id]];
            if (topByFiles) byFiles.Add(new RankedRow(folder.Files, path.ToArray(), values));
            if (topBySize) bySize.Add(new RankedRow(subtreeBytes[id], path.ToArray(), values));
        }
        empty.Sort((a, b) => a.PathZ.AsSpan().SequenceCompareTo(b.PathZ));

        var extensions = new KeyCounts();
        var names = new KeyCounts();
        RankedRows largest = new(_topN), smallest = new(_topN), newest = new(_topN), oldest = new(_topN);
        var errors = new List<(byte[] Path, int Errno)>();
        int maxDepth = 0;
        foreach (var shard in shards)
        {
            extensions.AddAll(shard.Extensions);
            names.AddAll(shard.FolderNames);
            foreach (var row in shard.Largest.Rows) largest.Offer(row);
            foreach (var row in shard.Smallest.Rows) smallest.Offer(row);
            foreach (var row in shard.Newest.Rows) newest.Offer(row);
            foreach (var row in shard.Oldest.Rows) oldest.Offer(row);
            errors.AddRange(shard.Errors);
            maxDepth = Math.Max(maxDepth, shard.MaxDepth);
        }
        errors.Sort((a, b) => a.Path.AsSpan().SequenceCompareTo(b.Path));

        var namesRanked = new RankedRows(_topN);
        foreach (var (name, named) in names.Items) namesRanked.Offer(new RankedRow(named.Count, name, [named.Count]));

        var extensionRows = extensions.Items.OrderByDescending(e => e.Value.Count)
            .ThenBy(e => e.Key, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToList();

        var depths = new long[(maxDepth + 1) * 4];
        for (int depth = 0; depth <= maxDepth; depth++)
        {
            depths[depth * 4] = depth;
            depths[depth * 4 + 1] = depth == 0 ? 1 : 0; // the root
            foreach (var shard in shards)
            {
                if (depth >= shard.FoldersAtDepth.Length) continue;
                depths[depth * 4 + 1] += shard.FoldersAtDepth[depth];
                depths[depth * 4 + 2] += shard.FilesAtDepth[depth];
                depths[depth * 4 + 3] += shard.FileBytesAtDepth[depth];
            }
        }

        long[] totals =
        [
            Sum(s => s.Files), Sum(s => s.Directories), Sum(s => s.Symlinks), Sum(s => s.Others),
            Sum(s => s.ApparentBytes) + rootBytes, Sum(s => s.DiskBytes) + rootDiskBytes, Sum(s => s.FileBytes),
            Sum(s => s.EmptyFiles), empty.Count, maxDepth, Sum(s => s.Vanished), errors.Count,
        ];

        return new AnalysisReport(
        [
            new ResultTable((int)ReportTableKind.Totals, TotalsColumns, totals, null),
            new ResultTable((int)ReportTableKind.Extensions, 3,
                extensionRows.SelectMany(e => new[] { e.Value.Count, e.Value.Bytes, e.Value.DiskBytes }).ToArray(),
                extensionRows.Select(e => e.Key).ToList()),
            Ranked(ReportTableKind.Largest, largest, 2),
            Ranked(ReportTableKind.Smallest, smallest, 2),
            Ranked(ReportTableKind.Newest, newest, 2),
            Ranked(ReportTableKind.Oldest, oldest, 2),
            new ResultTable((int)ReportTableKind.EmptyFolders, 1, empty.Select(f => (long)f.Depth).ToArray(),
                empty.Select(f => f.PathZ[..^1]).ToList()),
            new ResultTable((int)ReportTableKind.Depths, 4, depths, null),
            Ranked(ReportTableKind.FoldersByFiles, byFiles, 4),
            Ranked(ReportTableKind.FoldersBySize, bySize, 4),
            Ranked(ReportTableKind.FolderNames, namesRanked, 1),
            new ResultTable((int)ReportTableKind.Errors, 1, errors.Select(e => (long)e.Errno).ToArray(),
                errors.Select(e => e.Path).ToList()),
        ]);
    }

    private static ResultTable Ranked(ReportTableKind kind, RankedRows rows, int columns) =>
        new((int)kind, columns, rows.Rows.SelectMany(r => r.Values).ToArray(), rows.Rows.Select(r => r.Path).ToList());
}
