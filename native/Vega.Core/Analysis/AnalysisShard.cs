using Vega.Core.Interop;
using Vega.Core.Walk;

namespace Vega.Core.Analysis;

/// <summary>One directory's own numbers, kept for the rollup of subtree totals after the walk.</summary>
internal sealed record FolderRecord(long Id, long ParentId, byte[] PathZ, int Depth, int Entries, long Files,
                                    long Bytes, long DiskBytes, bool Readable);

/// <summary>
/// What one walk worker has seen. Each worker owns a shard and updates it without locks (only the
/// hard-link set is shared); <see cref="TreeAnalysis"/> merges the shards when the walk is over.
/// </summary>
internal sealed class AnalysisShard(int topN, HardLinks links)
{
    public long Files, Directories, Symlinks, Others, ApparentBytes, DiskBytes, FileBytes, EmptyFiles, Vanished;
    public int MaxDepth;
    public readonly KeyCounts Extensions = new();
    public readonly KeyCounts FolderNames = new();
    public readonly RankedRows Largest = new(topN), Smallest = new(topN), Newest = new(topN), Oldest = new(topN);
    public readonly List<FolderRecord> Folders = new();
    public readonly List<(byte[] Path, int Errno)> Errors = new();
    public long[] FoldersAtDepth = new long[16], FilesAtDepth = new long[16], FileBytesAtDepth = new long[16];

    // The directory being read: its regular files and the bytes of its entries that are not read as folders of their own.
    private long _files, _bytes, _diskBytes;

    public void BeginDirectory() => (_files, _bytes, _diskBytes) = (0, 0, 0);

    /// <summary>
    /// Counts one entry (<paramref name="depth"/>: 1 for the root's entries). A directory that will be read
    /// gets its own size back in <paramref name="ownBytes"/>/<paramref name="ownDiskBytes"/>, to be added to
    /// its subtree rather than to the directory being read.
    /// </summary>
    public unsafe void AddEntry(EntryKind kind, in StatxBuffer stat, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> name,
                                int depth, bool willBeRead, out long ownBytes, out long ownDiskBytes)
    {
        ownBytes = ownDiskBytes = 0;
        if (depth > MaxDepth) MaxDepth = depth;
        bool counted = kind == EntryKind.Directory || links.FirstSight(stat);
        long bytes = counted ? (long)stat.Size : 0;
        long diskBytes = counted ? (long)stat.Blocks * 512 : 0;
        ApparentBytes += bytes;
        DiskBytes += diskBytes;
        switch (kind)
        {
            case EntryKind.Directory:
                Directories++;
                FolderNames.Add(name, 1, 0, 0);
                AtDepth(depth, folders: 1, files: 0, fileBytes: 0);
                if (willBeRead)
                {
                    ownBytes = bytes;
                    ownDiskBytes = diskBytes;
                    return;
                }
                break;
            case EntryKind.File:
                Files++;
                _files++;
                FileBytes += bytes;
                if (stat.Size == 0) EmptyFiles++;
                Extensions.Add(Extension(name), 1, bytes, diskBytes);
                AtDepth(depth, folders: 0, files: 1, fileBytes: bytes);
                Rank(stat, prefix, name);
                break;
            case EntryKind.Symlink:
                Symlinks++;
                break;
            default:
                Others++;
                break;
        }
        _bytes += bytes;
        _diskBytes += diskBytes;
    }

    /// <summary>Records the directory just read (or that could not be read) for the subtree rollup.</summary>
    public void EndDirectory(long id, long parentId, byte[] pathZ, int depth, int entries, long ownBytes, long ownDiskBytes, bool readable)
    {
        Folders.Add(new FolderRecord(id, parentId, pathZ, depth, entries, _files, _bytes + ownBytes, _diskBytes + ownDiskBytes, readable));
    }

    /// <summary>Bytes of the directory just read, for progress.</summary>
    public long DirectoryBytes => _bytes;

    public void AddError(ReadOnlySpan<byte> path, int errno) => Errors.Add((path.ToArray(), errno));

    /// <summary>
    /// The extension as Python's <c>PurePath.suffix</c> gives it: from the last dot, if that dot is neither
    /// the first nor the last character (".bashrc" and "notes." have none). Empty when there is none.
    /// </summary>
    internal static ReadOnlySpan<byte> Extension(ReadOnlySpan<byte> name)
    {
        int dot = name.LastIndexOf((byte)'.');
        return dot > 0 && dot < name.Length - 1 ? name[dot..] : default;
    }

    private void Rank(in StatxBuffer stat, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> name)
    {
        long size = (long)stat.Size, mtime = stat.MtimeNs;
        byte[]? path = null;
        Offer(Largest, size, size, mtime, prefix, name, ref path);
        Offer(Smallest, -size, size, mtime, prefix, name, ref path);
        Offer(Newest, mtime, size, mtime, prefix, name, ref path);
        Offer(Oldest, -mtime, size, mtime, prefix, name, ref path);
    }

    private static void Offer(RankedRows rows, long score, long size, long mtime, ReadOnlySpan<byte> prefix,
                              ReadOnlySpan<byte> name, ref byte[]? path)
    {
        if (!rows.Accepts(score, prefix, name)) return;
        path ??= [.. prefix, .. name];
        rows.Add(new RankedRow(score, path, [size, mtime]));
    }

    private void AtDepth(int depth, long folders, long files, long fileBytes)
    {
        if (depth >= FoldersAtDepth.Length)
        {
            int size = Math.Max(depth + 1, FoldersAtDepth.Length * 2);
            Array.Resize(ref FoldersAtDepth, size);
            Array.Resize(ref FilesAtDepth, size);
            Array.Resize(ref FileBytesAtDepth, size);
        }
        FoldersAtDepth[depth] += folders;
        FilesAtDepth[depth] += files;
        FileBytesAtDepth[depth] += fileBytes;
    }
}
