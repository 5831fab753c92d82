using Vega.Core.Interop;

namespace Vega.Core.Walk;

/// <summary>The (device, inode) pairs of multiply-linked files seen so far, so that their bytes are summed once, as du does.</summary>
internal sealed class HardLinks
{
    private readonly HashSet<(long Dev, long Ino)> _seen = new();

    /// <summary>True the first time a file is seen; files with one link are always first.</summary>
    public bool FirstSight(in StatxBuffer stat)
    {
        if (stat.NLink <= 1) return true;
        lock (_seen) return _seen.Add((stat.Dev, (long)stat.Ino));
    }
}
