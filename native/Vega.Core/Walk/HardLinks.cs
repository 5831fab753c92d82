using Vega.Core.Interop;

namespace Vega.Core.Walk;

/// <summary>The (device, inode) pairs of multiply-linked files seen so far, so that their bytes are summed once, as du does.</summary>
internal sealed class HardLinks
{
    private readonly HashSet<(long Dev, long Ino)> _seen = new();
    // A spin lock, not a Monitor: a contended Monitor would cost a sync entry per walk (see JobMonitors).
    private SpinLock _lock = new(enableThreadOwnerTracking: false);

    /// <summary>True the first time a file is seen; files with one link are always first.</summary>
    public bool FirstSight(in StatxBuffer stat)
    {
        if (stat.NLink <= 1) return true;
        bool taken = false;
        try
        {
            _lock.Enter(ref taken);
            return _seen.Add((stat.Dev, (long)stat.Ino));
        }
        finally
        {
            if (taken) _lock.Exit();
        }
    }
}
