using System.Collections.Concurrent;

namespace Vega.Native;

/// <summary>
/// Jobs cross the boundary as opaque int64 ids rather than raw GCHandles, so a stale or doubled free
/// from the caller is an INVALID_ARGUMENT status, not a crash.
/// </summary>
internal static class Handles
{
    private static readonly ConcurrentDictionary<long, object> s_objects = new();
    private static long s_next;

    public static long Add(object value)
    {
        long id = Interlocked.Increment(ref s_next);
        s_objects[id] = value;
        return id;
    }

    public static bool TryGet<T>(long id, out T value) where T : class
    {
        if (s_objects.TryGetValue(id, out var found) && found is T typed) { value = typed; return true; }
        value = null!;
        return false;
    }

    public static bool TryRemove<T>(long id, out T value) where T : class
    {
        if (s_objects.TryGetValue(id, out var found) && found is T typed && s_objects.TryRemove(id, out _))
        {
            value = typed;
            return true;
        }
        value = null!;
        return false;
    }
}
