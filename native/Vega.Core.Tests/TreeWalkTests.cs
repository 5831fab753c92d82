using System.Text;
using Vega.Core.Walk;

namespace Vega.Core.Tests;

public sealed class TreeWalkTests : IDisposable
{
    private readonly TempTree _tree = new();
    private static readonly WalkOptions Names = new() { Output = WalkOutput.Names, ClassifyLinks = true };

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void ListsEveryDirectoryOnceWithItsEntries()
    {
        _tree.File("a/one.txt");
        _tree.File("a/b/two.txt");
        _tree.Dir("empty");
        _tree.File("top.txt");

        var groups = WalkResult.Run(_tree.RootBytes, Names);

        var byPath = groups.ToDictionary(g => g.PathText);
        Assert.Equal(4, groups.Count);
        Assert.Equal(["a", "empty"], byPath[_tree.Root].DirNames.Order());
        Assert.Equal(["top.txt"], byPath[_tree.Root].OtherNames);
        Assert.Equal(["b"], byPath[_tree.Root + "/a"].DirNames);
        Assert.Equal(["one.txt"], byPath[_tree.Root + "/a"].OtherNames);
        Assert.Empty(byPath[_tree.Root + "/empty"].DirNames.Concat(byPath[_tree.Root + "/empty"].OtherNames));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public void AgreesWithSystemIOOnAWideTree(int threads)
    {
        for (int d = 0; d < 30; d++)
            for (int f = 0; f < 20; f++) _tree.File($"d{d % 5}/s{d}/f{f}.dat");

        var groups = WalkResult.Run(_tree.RootBytes, Names with { Threads = threads, BatchEntries = 64 });

        var expected = Directory.EnumerateFileSystemEntries(_tree.Root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Order().ToList();
        var actual = groups.SelectMany(g => g.DirNames.Concat(g.OtherNames).Select(n => g.PathText + "/" + n)).Order().ToList();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void AParentAlwaysComesBeforeItsChildren()
    {
        for (int i = 0; i < 200; i++) _tree.File($"x{i % 7}/y{i % 13}/z{i}/f");

        var groups = WalkResult.Run(_tree.RootBytes, Names with { BatchEntries = 16 });

        var seen = new HashSet<long> { -1 };
        foreach (var group in groups)
        {
            Assert.Contains(group.ParentId, seen);
            seen.Add(group.Id);
        }
    }

    [Fact]
    public void ChildIndexNamesTheDirectoryInItsParentsListing()
    {
        _tree.Dir("p/q");
        _tree.Dir("p/r");
        var groups = WalkResult.Run(_tree.RootBytes, Names);
        var byId = groups.ToDictionary(g => g.Id);
        foreach (var g in groups.Where(g => g.ParentId >= 0))
        {
            string name = byId[g.ParentId].DirNames.ElementAt(g.ChildIndex);
            Assert.EndsWith("/" + name, g.PathText);
        }
    }

    [Fact]
    public void NonUtf8NamesRoundTripByteForByte()
    {
        byte[] name = [(byte)'b', (byte)'a', (byte)'d', 0xff, 0xfe, (byte)'.', (byte)'t'];
        _tree.RawFile("", name);

        var groups = WalkResult.Run(_tree.RootBytes, Names);

        Assert.Equal(name, Assert.Single(groups).Others.Single());
    }

    [Fact]
    public void SymlinksToDirectoriesAreListedAsDirectoriesButNotFollowed()
    {
        _tree.File("real/inside.txt");
        _tree.Link("link", _tree.Root + "/real");
        _tree.Link("dangling", _tree.Root + "/missing");

        var groups = WalkResult.Run(_tree.RootBytes, Names);

        var root = groups.Single(g => g.PathText == _tree.Root);
        Assert.Equal(["link", "real"], root.DirNames.Order());
        Assert.Equal(["dangling"], root.OtherNames);
        Assert.DoesNotContain(groups, g => g.PathText.EndsWith("/link"));
    }

    [Fact]
    public void FollowingLinksReportsALoopInsteadOfRecursing()
    {
        _tree.Dir("a/b");
        _tree.Link("a/b/up", _tree.Root + "/a");

        var groups = WalkResult.Run(_tree.RootBytes, Names with { FollowLinks = true });

        var loop = Assert.Single(groups, g => g.Errno != 0);
        Assert.Equal(40, loop.Errno); // ELOOP
        Assert.Equal(_tree.Root + "/a/b/up", loop.PathText);
        Assert.Equal(3, groups.Count(g => g.Errno == 0));
    }

    [Fact]
    public void FollowingLinksWalksTheTarget()
    {
        _tree.File("target/t.txt");
        _tree.Dir("walked");
        _tree.Link("walked/via", _tree.Root + "/target");

        var groups = WalkResult.Run(Encoding.UTF8.GetBytes(_tree.Root + "/walked"), Names with { FollowLinks = true });

        Assert.Equal(["t.txt"], groups.Single(g => g.PathText.EndsWith("/via")).OtherNames);
    }

    [Fact]
    public void MaxDepthLimitsTheDepthOfListedEntries()
    {
        _tree.File("a/b/c/deep.txt");
        Assert.Single(WalkResult.Run(_tree.RootBytes, Names with { MaxDepth = 1 }));
        Assert.Equal(2, WalkResult.Run(_tree.RootBytes, Names with { MaxDepth = 2 }).Count);
        Assert.Equal(4, WalkResult.Run(_tree.RootBytes, Names).Count);
    }

    [Fact]
    public void PathsOutputGivesFullPathsAndStatGivesLstatFields()
    {
        string file = _tree.File("d/f.txt", "hello");
        var info = new FileInfo(file);

        var groups = WalkResult.Run(_tree.RootBytes, new WalkOptions { Output = WalkOutput.Paths, Stat = true });

        var group = groups.Single(g => g.Others.Count == 1);
        Assert.Equal(file, Encoding.UTF8.GetString(group.Others[0]));
        Assert.Equal(EntryKind.File, group.Kinds[0]);
        long[] stat = group.Stats[0];
        Assert.Equal(5, stat[0]);
        Assert.Equal(new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeMilliseconds(), stat[1] / 1_000_000);
        Assert.Equal(0x8000, stat[2] & 0xF000);
        Assert.Equal(1, stat[5]);
    }

    [Fact]
    public void ThePathsOfVeryDeepTreesExceedPathMaxAndAreStillRead()
    {
        int length = _tree.DeepChain("", "segment_of_some_length", 400);
        Assert.True(length > 4096);

        var groups = WalkResult.Run(_tree.RootBytes, Names);

        Assert.Equal(401, groups.Count);
        Assert.All(groups, g => Assert.Equal(0, g.Errno));
        Assert.Equal(length, groups.Max(g => g.Path.Length));
    }

    [Fact]
    public void CountTotalsMatchTheTree()
    {
        _tree.File("a/x", new string('x', 1000));
        _tree.File("a/y", new string('y', 10));
        _tree.Link("a/l", "x");
        var totals = CountOf(_tree.RootBytes);

        Assert.Equal(2, totals.Files);
        Assert.Equal(1, totals.Directories);
        Assert.Equal(1, totals.Symlinks);
        long dirs = StatSize(_tree.Root) + StatSize(_tree.Root + "/a");
        Assert.Equal(1010 + 1 + dirs, totals.ApparentBytes);
    }

    [Fact]
    public void MissingRootAndFileRootFailAtStart()
    {
        var missing = Assert.Throws<PosixException>(() => TreeWalk.Start(Encoding.UTF8.GetBytes(_tree.Root + "/nope"), Names));
        Assert.Equal(2, missing.Errno);
        Assert.Equal(_tree.Root + "/nope", Encoding.UTF8.GetString(missing.PathBytes!));
        string file = _tree.File("f");
        Assert.Equal(20, Assert.Throws<PosixException>(() => TreeWalk.Start(Encoding.UTF8.GetBytes(file), Names)).Errno);
        Assert.Throws<ArgumentException>(() => TreeWalk.Start("a\0b"u8, Names));
    }

    [Fact]
    public void CancelStopsTheWalkAndTakingABatchThenThrows()
    {
        for (int i = 0; i < 300; i++) _tree.File($"d{i}/f");
        using var walk = TreeWalk.Start(_tree.RootBytes, Names with { BatchEntries = 1 });
        walk.Cancel();
        Assert.Throws<OperationCanceledException>(() => walk.TryTakeBatch(1000, out _));
    }

    [Fact]
    public void WorkersWaitWhileTheConsumerIsBehind()
    {
        for (int d = 0; d < 100; d++)
            for (int f = 0; f < 20; f++) _tree.File($"d{d}/f{f}");
        using var walk = TreeWalk.Start(_tree.RootBytes, Names with { BatchEntries = 10, Threads = 2 });

        Thread.Sleep(300); // nobody consumes: the workers must stop after a few batches
        long readWhileStalled = walk.Progress.Entries;
        Assert.InRange(readWhileStalled, 1, 300);

        int entries = 0;
        while (!walk.TryTakeBatch(5000, out var batch)) entries += batch?.EntryCount ?? 0;
        Assert.Equal(2100, entries);
    }

    [Fact]
    public void AnAbandonedWalkIsReleasedByDispose()
    {
        for (int i = 0; i < 300; i++) _tree.File($"d{i}/f");
        var walk = TreeWalk.Start(_tree.RootBytes, Names with { BatchEntries = 1 });
        Thread.Sleep(50); // workers now wait for a consumer that never comes
        walk.Dispose();
        Assert.Throws<OperationCanceledException>(() => walk.TryTakeBatch(0, out _));
    }

    /// <summary>st_size as coreutils' stat reports it (a directory's size is file-system specific).</summary>
    private static long StatSize(string path)
    {
        var start = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%s", path]) { RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        string text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return long.Parse(text.Trim());
    }

    private static CountTotals CountOf(byte[] root)
    {
        using var walk = TreeWalk.Start(root, new WalkOptions { Output = WalkOutput.Count });
        while (!walk.TryTakeBatch(100, out _)) { }
        return walk.Totals;
    }
}
