using System.Runtime.InteropServices;

namespace Vega.Native;

/// <summary>Cancel tokens (vega.h, ABI 9): what long calls that are not jobs take, so another thread can stop them.</summary>
public static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = "vega_cancel_new")]
    public static int CancelNew(long* token)
    {
        try
        {
            if (token == null) return Status.Invalid("null out-pointer");
            *token = Handles.Add(new CancellationTokenSource());
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_cancel_set")]
    public static int CancelSet(long token)
    {
        try
        {
            if (!Handles.TryGet(token, out CancellationTokenSource source)) return Status.Invalid("not a live cancel token");
            source.Cancel();
            return Status.Ok;
        }
        catch (Exception e) { return Status.From(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "vega_cancel_free")]
    public static int CancelFree(long token)
    {
        try
        {
            // Not disposed: a call still running holds its token and may still look at it.
            return Handles.TryRemove(token, out CancellationTokenSource _) ? Status.Ok : Status.Invalid("not a live cancel token");
        }
        catch (Exception e) { return Status.From(e); }
    }

    /// <summary>The token of a cancel id (0: none).</summary>
    private static CancellationToken CancelToken(long token)
    {
        if (token == 0) return CancellationToken.None;
        if (!Handles.TryGet(token, out CancellationTokenSource source)) throw new ArgumentException("not a live cancel token");
        return source.Token;
    }
}
