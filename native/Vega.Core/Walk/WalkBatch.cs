namespace Vega.Core.Walk;

/// <summary>
/// A run of directory groups, in the order they were read (a parent always precedes its children).
/// The blob holds per group the directory path (see <see cref="WalkOutput"/>) and one string per
/// entry, each NUL-terminated. The arrays live in native memory: <see cref="Detach"/> hands them over;
/// the walk frees a batch it never handed over when it is disposed (or, failing that, the finalizer does).
/// </summary>
public sealed unsafe class WalkBatch
{
    /// <summary>Per group: id, parent id (-1 for the root), directory count, entry count, errno, index in the parent's directories.</summary>
    public const int GroupFields = 6;
    /// <summary>Per entry when stat is on: size, mtime_ns, mode, inode, device, nlink (-1 each if the entry vanished).</summary>
    public const int StatFields = 6;

    internal NativeBuffer<long> GroupData;
    internal NativeBuffer<byte> KindData;
    internal NativeBuffer<long> StatData;
    internal NativeBuffer<byte> BlobData;

    internal WalkBatch(int entries, int blobBytes, bool stat)
    {
        GroupData = new NativeBuffer<long>(256 * GroupFields);
        KindData = new NativeBuffer<byte>(entries);
        StatData = new NativeBuffer<long>(stat ? entries * StatFields : 0);
        BlobData = new NativeBuffer<byte>(blobBytes);
        HasStat = stat;
    }

    ~WalkBatch() => Free();

    public bool HasStat { get; }
    public int GroupCount => GroupData.Count / GroupFields;
    public int EntryCount => KindData.Count;
    public ReadOnlySpan<long> Groups => GroupData.Span;
    public ReadOnlySpan<byte> Kinds => KindData.Span;
    public ReadOnlySpan<long> Stats => StatData.Span;
    public ReadOnlySpan<byte> Blob => BlobData.Span;

    /// <summary>Hands the arrays over: the caller frees each pointer with NativeMemory.Free.</summary>
    public DetachedBatch Detach()
    {
        var detached = new DetachedBatch(GroupCount, GroupData.Detach(), EntryCount, KindData.Detach(),
            HasStat ? StatData.Detach() : null, BlobData.Count, BlobData.Detach());
        StatData.Free();
        GC.SuppressFinalize(this);
        return detached;
    }

    /// <summary>Frees the arrays of a batch that will never be handed over.</summary>
    internal void Discard()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        GroupData.Free();
        KindData.Free();
        StatData.Free();
        BlobData.Free();
    }
}

/// <summary>The native arrays of a batch after <see cref="WalkBatch.Detach"/>; null where empty.</summary>
public readonly unsafe struct DetachedBatch(
    int groupCount, long* groups, int entryCount, byte* kinds, long* stats, int blobSize, byte* blob)
{
    public readonly int GroupCount = groupCount;
    public readonly long* Groups = groups;
    public readonly int EntryCount = entryCount;
    public readonly byte* Kinds = kinds;
    public readonly long* Stats = stats;
    public readonly int BlobSize = blobSize;
    public readonly byte* Blob = blob;
}
