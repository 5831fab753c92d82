namespace Vega.Core.Files;

/// <summary>
/// The objects that jobs lock and wait on (Monitor), lent from a process-wide pool and given back when the
/// job's threads have left.
/// </summary>
/// <remarks>
/// Under NativeAOT, the first Monitor.Wait on an object (or a contended lock) gives it a sync-table entry: a
/// Lock, a dependent GC handle and a finalizable collector, freed only after a GC has collected the object
/// and then the collector. An object that lived as long as a job is old by then, so in practice that
/// happens at full GCs, which a process running many small jobs rarely triggers: the table, the handles and
/// the heap grew with every job (measured on a 25-entry tree: +4.7 MiB RSS per 50k walks, +5.7 MiB per
/// 50k scan_tree, +19 MiB per 50k count, still climbing; now flat). Pooled objects keep their entry, so the
/// number of entries is bounded by the number of jobs running at once. Sharing a pooled object by mistake is harmless: every wait in a job rechecks its
/// condition in a loop, so a stray pulse is only a spurious wakeup.
/// </remarks>
internal static class JobMonitors
{
    private const int MaxPooled = 256;
    private static readonly Stack<object> s_free = new();

    public static object Rent()
    {
        lock (s_free) return s_free.Count > 0 ? s_free.Pop() : new object();
    }

    /// <summary>Gives <paramref name="monitor"/> back; only once no thread of its job can still use it.</summary>
    public static void Return(object monitor)
    {
        lock (s_free)
        {
            if (s_free.Count < MaxPooled) s_free.Push(monitor);
        }
    }
}
