using System.Text;
using Vega.Core.Walk;

namespace Vega.Core.Tests;

/// <summary>A whole walk read into plain records, for assertions.</summary>
internal sealed record Group(long Id, long ParentId, int Errno, int ChildIndex, byte[] Path, List<byte[]> Dirs, List<byte[]> Others, List<EntryKind> Kinds, List<long[]> Stats)
{
    public string PathText => Encoding.UTF8.GetString(Path);
    public IEnumerable<string> DirNames => Dirs.Select(d => Encoding.UTF8.GetString(d));
    public IEnumerable<string> OtherNames => Others.Select(d => Encoding.UTF8.GetString(d));
}

internal static class WalkResult
{
    public static List<Group> Run(byte[] root, WalkOptions options, int timeoutMs = 30_000)
    {
        using var walk = TreeWalk.Start(root, options);
        var groups = new List<Group>();
        var deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            Assert.True(Environment.TickCount64 < deadline, "walk did not finish in time");
            if (walk.TryTakeBatch(100, out var batch)) break;
            if (batch is not null) groups.AddRange(Parse(batch, options.Output));
        }
        return groups;
    }

    public static IEnumerable<Group> Parse(WalkBatch batch, WalkOutput output)
    {
        var strings = Split(batch.Blob.ToArray());
        int s = 0, entry = 0;
        var g = batch.Groups.ToArray();
        var kinds = batch.Kinds.ToArray();
        var stats = batch.Stats.ToArray();
        for (int i = 0; i < batch.GroupCount; i++)
        {
            long id = g[i * 6], parent = g[i * 6 + 1];
            int dirs = (int)g[i * 6 + 2], count = (int)g[i * 6 + 3], errno = (int)g[i * 6 + 4], index = (int)g[i * 6 + 5];
            bool hasPath = errno != 0 || output == WalkOutput.Names;
            byte[] path = hasPath ? strings[s++] : [];
            var names = strings.Skip(s).Take(count).ToList();
            s += count;
            var statRows = batch.HasStat
                ? Enumerable.Range(entry, count).Select(e => stats.AsSpan(e * 6, 6).ToArray()).ToList()
                : new List<long[]>();
            yield return new Group(id, parent, errno, index, path, names.Take(dirs).ToList(), names.Skip(dirs).ToList(),
                kinds.Skip(entry).Take(count).Select(k => (EntryKind)k).ToList(), statRows);
            entry += count;
        }
    }

    private static List<byte[]> Split(byte[] blob)
    {
        var result = new List<byte[]>();
        int start = 0;
        for (int i = 0; i < blob.Length; i++)
        {
            if (blob[i] != 0) continue;
            result.Add(blob[start..i]);
            start = i + 1;
        }
        return result;
    }
}
