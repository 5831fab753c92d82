namespace Vega.Core.Walk;

/// <summary>
/// A run of directory groups, in the order they were read (a parent always precedes its children).
/// The blob holds, per group, the directory path and then one string per entry, each NUL-terminated.
/// </summary>
public sealed class WalkBatch
{
    /// <summary>Per group: id, parent id (-1 for the root), directory count, entry count, errno, index in the parent's directories.</summary>
    public const int GroupFields = 6;
    /// <summary>Per entry when stat is on: size, mtime_ns, mode, inode, device, nlink (-1 each if the entry vanished).</summary>
    public const int StatFields = 6;

    internal GrowableBuffer<long> GroupData;
    internal GrowableBuffer<byte> KindData;
    internal GrowableBuffer<long> StatData;
    internal GrowableBuffer<byte> BlobData;

    internal WalkBatch(int entries, bool stat)
    {
        GroupData = new GrowableBuffer<long>(1024 * GroupFields);
        KindData = new GrowableBuffer<byte>(entries);
        StatData = new GrowableBuffer<long>(stat ? entries * StatFields : 0);
        BlobData = new GrowableBuffer<byte>(entries * 32);
        HasStat = stat;
    }

    public bool HasStat { get; }
    public int GroupCount => GroupData.Count / GroupFields;
    public int EntryCount => KindData.Count;
    public ReadOnlySpan<long> Groups => GroupData.Span;
    public ReadOnlySpan<byte> Kinds => KindData.Span;
    public ReadOnlySpan<long> Stats => StatData.Span;
    public ReadOnlySpan<byte> Blob => BlobData.Span;
}
