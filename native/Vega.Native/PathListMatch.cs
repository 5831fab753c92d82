using Vega.Core.Patterns;

namespace Vega.Native;

/// <summary>Matches a NUL-separated list of paths against a glob set, in parallel for long lists.</summary>
internal static unsafe class PathListMatch
{
    private const long ParallelThreshold = 32 * 1024;

    /// <summary>Fills matched[i] (and, if given, indices with the matching i, ascending); returns how many matched.</summary>
    public static long Run(GlobSet globs, byte* paths, long size, long count, byte* matched, long* indices)
    {
        long[] starts = Starts(paths, size, count);
        if (count < ParallelThreshold)
        {
            MatchRange(globs, paths, starts, 0, count, matched);
        }
        else
        {
            int chunks = Math.Max(1, Environment.ProcessorCount) * 4;
            long per = (count + chunks - 1) / chunks;
            Parallel.For(0, chunks, chunk =>
            {
                long first = chunk * per;
                MatchRange(globs, paths, starts, first, Math.Min(count, first + per), matched);
            });
        }
        long found = 0;
        for (long i = 0; i < count; i++)
        {
            if (matched[i] == 0) continue;
            if (indices != null) indices[found] = i;
            found++;
        }
        return found;
    }

    /// <summary>Where each of the count paths starts (and, last, size + 1); they are separated by single NULs.</summary>
    private static long[] Starts(byte* paths, long size, long count)
    {
        var starts = new long[count + 1];
        long offset = 0;
        for (long i = 1; i < count; i++)
        {
            long remaining = size - offset;
            int nul = remaining <= 0 ? -1 : new ReadOnlySpan<byte>(paths + offset, (int)Math.Min(remaining, int.MaxValue)).IndexOf((byte)0);
            if (nul < 0) throw new ArgumentException($"the paths hold fewer than {count} strings: a path has no NUL after it");
            offset += nul + 1;
            starts[i] = offset;
        }
        if (size - offset > 0 && new ReadOnlySpan<byte>(paths + offset, (int)Math.Min(size - offset, int.MaxValue)).IndexOf((byte)0) >= 0)
        {
            throw new ArgumentException("embedded null byte: the paths hold more NULs than separators");
        }
        starts[count] = size + 1;
        return starts;
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
