namespace Vega.Core.Walk;

/// <summary>
/// du-like totals. Counts are of entries below the root; byte sums include the root directory itself,
/// as <c>du -sb</c> and <c>du -s -B1</c> do, and count each hard-linked file once.
/// </summary>
public record struct CountTotals(
    long Files, long Directories, long Symlinks, long Others, long ApparentBytes, long DiskBytes, long Errors)
{
    internal void Add(in CountTotals other)
    {
        Files += other.Files;
        Directories += other.Directories;
        Symlinks += other.Symlinks;
        Others += other.Others;
        ApparentBytes += other.ApparentBytes;
        DiskBytes += other.DiskBytes;
        Errors += other.Errors;
    }
}

/// <summary>Counters a caller can poll while a walk runs.</summary>
public readonly record struct WalkProgress(long Directories, long Entries, long Bytes, long Errors);
