using Vega.Core.Patterns;

namespace Vega.Native;

/// <summary>Matches a NUL-separated list of paths against a glob set, in parallel for long lists.</summary>
internal static unsafe class PathListMatch
{
    private const long ParallelThreshold = 64 * 1024;

    public static void Run(GlobSet globs, byte* paths, long size, long count, byte* matched)
    {
        // The start of each path first (a vectorized scan), so that ranges of paths can be matched on any thread.
        var starts = new long[count + 1];
        long offset = 0;
        for (long i = 0; i < count; i++)
        {
            starts[i] = offset;
            long remaining = size - offset;
            int nul = remaining <= 0 ? -1 : new ReadOnlySpan<byte>(paths + offset, (int)Math.Min(remaining, int.MaxValue)).IndexOf((byte)0);
            if (nul < 0) throw new ArgumentException($"paths hold fewer than {count} NUL-terminated strings");
            offset += nul + 1;
        }
        starts[count] = offset;

        if (count < ParallelThreshold)
        {
            MatchRange(globs, paths, starts, 0, count, matched);
            return;
        }
        int chunks = Math.Max(1, Environment.ProcessorCount) * 4;
        long per = (count + chunks - 1) / chunks;
        Parallel.For(0, chunks, chunk =>
        {
            long first = chunk * per;
            MatchRange(globs, paths, starts, first, Math.Min(count, first + per), matched);
        });
    }

    private static void MatchRange(GlobSet globs, byte* paths, long[] starts, long first, long end, byte* matched)
    {
        for (long i = first; i < end; i++)
        {
            var path = new ReadOnlySpan<byte>(paths + starts[i], (int)(starts[i + 1] - starts[i] - 1));
            matched[i] = globs.IsMatch(path) ? (byte)1 : (byte)0;
        }
    }
}
