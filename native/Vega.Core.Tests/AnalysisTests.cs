using System.Diagnostics;
using System.Text;
using Vega.Core.Analysis;
using Vega.Core.Patterns;
using Vega.Core.Walk;

namespace Vega.Core.Tests;

/// <summary>
/// The directory report of an analysis walk (<see cref="WalkOutput.Analyze"/>). Expectations are computed
/// from the file system (System.IO, coreutils' stat and du) or written out, never from the code under test.
/// </summary>
public sealed class AnalysisTests : IDisposable
{
    private const int ELOOP = 40;
    private static readonly DateTime BaseTime = new(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    // ---------------------------------------------------------------- totals

    [Fact]
    public void TotalsCountEveryKindAndSumBytesLikeDu()
    {
        _tree.File("a.txt", new string('a', 100));
        _tree.File("empty.dat");
        _tree.File("sub/b.bin", new string('b', 2000));
        _tree.File("sub/one", "1"); // not empty
        _tree.File("sub/deep/c.txt", "ccccc");
        Run("ln", Abs("sub/b.bin"), Abs("sub/deep/hard")); // a hard link: its bytes count once
        _tree.Dir("emptydir");
        _tree.Link("link", "a.txt"); // lstat size: the target's length, 5
        Run("mkfifo", Abs("fifo"));

        var report = Analyze(new() { TopN = 10 });
        var totals = report[ReportTableKind.Totals];

        Assert.Equal(TreeAnalysis.TotalsColumns, totals.Columns);
        Assert.Equal(1, totals.Rows);
        Assert.Null(totals.Texts);
        long[] t = totals.Values;
        long dirSizes = StatSizes(_tree.Root, Abs("sub"), Abs("sub/deep"), Abs("emptydir")).Sum();
        Assert.Equal(6, t[0]);                                 // files (both names of the hard link)
        Assert.Equal(3, t[1]);                                 // directories, the root not included
        Assert.Equal(1, t[2]);                                 // symlinks
        Assert.Equal(1, t[3]);                                 // others (the fifo)
        Assert.Equal(100 + 2000 + 1 + 5 + 5 + dirSizes, t[4]); // apparent bytes: every lstat size + the root
        Assert.Equal(Du(_tree.Root, apparent: true), t[4]);
        Assert.Equal(Du(_tree.Root, apparent: false), t[5]);  // disk bytes, as du counts them
        Assert.Equal(100 + 2000 + 1 + 5, t[6]);                // file bytes, the hard link once
        Assert.Equal(1, t[7]);                                 // empty files
        Assert.Equal(1, t[8]);                                 // empty folders
        Assert.Equal(3, t[9]);                                 // max depth (sub/deep/c.txt)
        Assert.Equal(0, t[10]);                                // vanished
        Assert.Equal(0, t[11]);                                // errors

        var empty = report[ReportTableKind.EmptyFolders];
        Assert.Equal([Abs("emptydir")], Texts(empty));
        Assert.Equal([1L], empty.Values);
        Assert.Empty(report[ReportTableKind.Errors].Values);
    }

    [Fact]
    public void TotalsOfAnEmptyRootAreItsOwnSize()
    {
        var report = Analyze(new() { TopN = 5 });
        long[] t = report[ReportTableKind.Totals].Values;
        Assert.Equal(StatSizes(_tree.Root).Single(), t[4]);
        Assert.Equal([0L, 0, 0, 0], t[..4]);
        Assert.Equal(1, t[8]); // the root itself is an empty folder
        Assert.Equal(0, t[9]);
        Assert.Equal([_tree.Root], Texts(report[ReportTableKind.EmptyFolders]));
        Assert.Equal([0L], report[ReportTableKind.EmptyFolders].Values);
        Assert.Equal([0L, 1, 0, 0], report[ReportTableKind.Depths].Values);
        Assert.Equal([_tree.Root], Texts(report[ReportTableKind.FoldersBySize]));
    }

    // ---------------------------------------------------------------- extensions

    [Fact]
    public void ExtensionsAreRawKeysWithPurePathSuffixRules()
    {
        _tree.File("a.TXT", "123");
        _tree.File("b.txt", "1234");
        _tree.File("c.txt", "12345");
        _tree.File("d/e.txt", "1");
        _tree.File(".bashrc", "1");
        _tree.File("notes.", "12");
        _tree.File("Makefile", "1234567");
        _tree.File("a.tar.gz", new string('z', 10));
        _tree.File("dir.with.dot/x", "123456");
        _tree.Link("l.lnk", "a.TXT"); // not a file: not counted

        var table = Analyze(new() { TopN = 10 })[ReportTableKind.Extensions];

        Assert.Equal(3, table.Columns);
        // count descending, then key bytes ascending ('T' 0x54 sorts before 'g' 0x67)
        string[] groups = ["", ".txt", ".TXT", ".gz"];
        Assert.Equal(groups, Texts(table));
        string[][] members =
        [
            [".bashrc", "notes.", "Makefile", "dir.with.dot/x"],
            ["b.txt", "c.txt", "d/e.txt"],
            ["a.TXT"],
            ["a.tar.gz"],
        ];
        for (int i = 0; i < groups.Length; i++)
        {
            var paths = members[i].Select(Abs).ToArray();
            long disk = StatFields("%b", paths).Sum() * 512;
            Assert.Equal([paths.Length, paths.Sum(p => new FileInfo(p).Length), disk], table.Values.AsSpan(i * 3, 3).ToArray());
        }
        Assert.Equal([4L, 16], table.Values[0..2]);   // .bashrc 1 + notes. 2 + Makefile 7 + x 6
        Assert.Equal([3L, 10], table.Values[3..5]);   // 4 + 5 + 1
    }

    [Theory]
    [InlineData("a.txt", ".txt")]
    [InlineData("a.TXT", ".TXT")]
    [InlineData("a.tar.gz", ".gz")]
    [InlineData(".bashrc", "")]
    [InlineData("notes.", "")]
    [InlineData("Makefile", "")]
    [InlineData("", "")]
    [InlineData(".", "")]
    [InlineData("..", "")]
    [InlineData("..foo", ".foo")]
    [InlineData("a..b", ".b")]
    [InlineData("a.b.", "")]
    [InlineData(".a.b", ".b")]
    [InlineData("x.y", ".y")]
    public void ExtensionIsPurePathSuffix(string name, string expected)
    {
        var extension = AnalysisShard.Extension(Encoding.UTF8.GetBytes(name));
        Assert.Equal(expected, Encoding.UTF8.GetString(extension));
    }

    [Fact]
    public void ExtensionKeepsNonUtf8BytesAndIsASliceOfTheName()
    {
        byte[] name = [0xff, (byte)'.', 0xfe, 0x80];
        var extension = AnalysisShard.Extension(name);
        Assert.Equal([(byte)'.', 0xfe, 0x80], extension.ToArray());
        Assert.True(extension.Overlaps((ReadOnlySpan<byte>)name));
        Assert.True(AnalysisShard.Extension([0xff, (byte)'.']).IsEmpty);
    }

    // ---------------------------------------------------------------- ranked tables

    [Fact]
    public void RankedFileTablesBreakTiesByPathBytes()
    {
        string[] created = MakeRankingTree();

        var report = Analyze(new() { TopN = 3 });

        // '.' (0x2e) sorts before '/' (0x2f), and 'B' before 'f': byte order, not natural order.
        Assert.Equal([Abs("c"), Abs("a.txt"), Abs("a/y")], Texts(report[ReportTableKind.Largest]));
        Assert.Equal([Abs("d/e"), Abs("B"), Abs("f")], Texts(report[ReportTableKind.Smallest]));
        Assert.Equal([Abs("d/e"), Abs("a.txt"), Abs("a/y")], Texts(report[ReportTableKind.Newest]));
        Assert.Equal([Abs("c"), Abs("B"), Abs("f")], Texts(report[ReportTableKind.Oldest]));
        var largest = report[ReportTableKind.Largest];
        Assert.Equal(2, largest.Columns);
        Assert.Equal([200L, Ns(BaseTime.AddSeconds(1)), 50, Ns(BaseTime.AddSeconds(100)), 50, Ns(BaseTime.AddSeconds(100))],
            largest.Values);

        // With room for every file, each table is the full independent ordering.
        var all = Analyze(new() { TopN = 100 });
        var files = created.Select(p => new FileInfo(p)).ToList();
        AssertRanked(all[ReportTableKind.Largest], files, f => f.Length, 100);
        AssertRanked(all[ReportTableKind.Smallest], files, f => -f.Length, 100);
        AssertRanked(all[ReportTableKind.Newest], files, f => Ns(f.LastWriteTimeUtc), 100);
        AssertRanked(all[ReportTableKind.Oldest], files, f => -Ns(f.LastWriteTimeUtc), 100);
        Assert.Equal(created.Length, all[ReportTableKind.Largest].Rows);
    }

    [Fact]
    public void TopNZeroGivesEmptyRankedTablesButFullCounts()
    {
        MakeRankingTree();

        var report = Analyze(new() { TopN = 0 });

        foreach (var kind in new[] { ReportTableKind.Largest, ReportTableKind.Smallest, ReportTableKind.Newest, ReportTableKind.Oldest,
                                     ReportTableKind.FoldersByFiles, ReportTableKind.FoldersBySize, ReportTableKind.FolderNames })
        {
            Assert.Empty(report[kind].Values);
            Assert.Empty(report[kind].Texts!);
        }
        Assert.Equal(7, report[ReportTableKind.Totals].Values[0]);
        Assert.Equal(["", ".txt"], Texts(report[ReportTableKind.Extensions]));
        Assert.Equal(3, report[ReportTableKind.Depths].Rows);
    }

    [Fact]
    public void RootWithATrailingSlashGivesCleanPaths()
    {
        MakeRankingTree();
        var report = Analyze(Encoding.UTF8.GetBytes(_tree.Root + "/"), new() { TopN = 1 });
        Assert.Equal([_tree.Root + "/c"], Texts(report[ReportTableKind.Largest]));
    }

    [Fact]
    public void ReportIsTheSameWithOneOrManyThreads()
    {
        var paths = new List<string>();
        for (int i = 0; i < 300; i++)
        {
            string relative = i % 10 == 0 ? $"r{i}.e{i % 4}" : $"d{i % 4}/n{i % 3}/{(i % 5 == 0 ? $"n{i % 2}/" : "")}f{i}.e{i % 6}";
            string path = _tree.File(relative, new string('x', i % 7));
            File.SetLastWriteTimeUtc(path, BaseTime.AddSeconds(i % 5));
            paths.Add(path);
        }
        _tree.Dir("d1/n0/emptyA");
        _tree.Dir("d2/emptyB");

        var first = Analyze(new() { TopN = 10, Threads = 1 });
        foreach (int threads in new[] { 4, 4, 8 })
        {
            var other = Analyze(new() { TopN = 10, Threads = threads });
            foreach (var kind in Enum.GetValues<ReportTableKind>())
            {
                var (a, b) = (first[kind], other[kind]);
                Assert.Equal(a.Kind, b.Kind);
                Assert.Equal(a.Columns, b.Columns);
                Assert.Equal(a.Values, b.Values);
                Assert.Equal(a.Texts is null, b.Texts is null);
                if (a.Texts is not null) Assert.Equal(Texts(a), Texts(b));
            }
        }

        var files = paths.Select(p => new FileInfo(p)).ToList();
        AssertRanked(first[ReportTableKind.Largest], files, f => f.Length, 10);
        AssertRanked(first[ReportTableKind.Smallest], files, f => -f.Length, 10);
        AssertRanked(first[ReportTableKind.Newest], files, f => Ns(f.LastWriteTimeUtc), 10);
        AssertRanked(first[ReportTableKind.Oldest], files, f => -Ns(f.LastWriteTimeUtc), 10);
        Assert.Equal(300, first[ReportTableKind.Totals].Values[0]);
    }

    // ---------------------------------------------------------------- RankedRows

    [Fact]
    public void RankedRowsKeepTheBestByScoreThenPath()
    {
        var rows = new RankedRows(3);
        Assert.True(rows.Accepts(long.MinValue, "zzz"u8, default));
        rows.Add(Row(5, "m"));
        rows.Add(Row(7, "b"));
        rows.Add(Row(5, "c"));
        Assert.Equal(["7:b", "5:c", "5:m"], Describe(rows));

        // Full: a row must beat the worst (5, "m").
        Assert.False(rows.Accepts(4, ""u8, default));
        Assert.False(rows.Accepts(5, "m"u8, default));  // equal is not better
        Assert.False(rows.Accepts(5, "m"u8, "a"u8));    // "ma" > "m"
        Assert.False(rows.Accepts(5, "n"u8, default));
        Assert.True(rows.Accepts(5, "l"u8, "zz"u8));    // "lzz" < "m"
        Assert.True(rows.Accepts(6, "zzz"u8, default));

        rows.Add(Row(5, "a"));
        Assert.Equal(["7:b", "5:a", "5:c"], Describe(rows));
        rows.Add(Row(100, "z"));
        Assert.Equal(["100:z", "7:b", "5:a"], Describe(rows));
        rows.Add(Row(1, "a")); // worse than all: dropped
        Assert.Equal(["100:z", "7:b", "5:a"], Describe(rows));
        rows.Offer(Row(5, "b"));  // ties with 5:a, loses on path
        Assert.Equal(["100:z", "7:b", "5:a"], Describe(rows));
        rows.Offer(Row(7, "a"));
        Assert.Equal(["100:z", "7:a", "7:b"], Describe(rows));
        rows.Offer(Row(-3, ""));
        Assert.Equal(3, rows.Rows.Count);
    }

    [Fact]
    public void RankedRowsWithCapacityZeroOrOneAndNegativeScores()
    {
        var none = new RankedRows(0);
        Assert.False(none.Accepts(long.MaxValue, ""u8, ""u8));
        none.Add(Row(1, "a"));
        none.Offer(Row(2, "b"));
        Assert.Empty(none.Rows);

        var one = new RankedRows(1);
        one.Offer(Row(-5, "x"));
        one.Offer(Row(-6, "a"));
        Assert.Equal(["-5:x"], Describe(one));
        one.Offer(Row(-5, "w"));
        Assert.Equal(["-5:w"], Describe(one));
        one.Add(Row(long.MaxValue, "\xff"));
        Assert.Equal(long.MaxValue, Assert.Single(one.Rows).Score);
    }

    [Fact]
    public void RankedRowsMatchAFullSortWhateverTheOrder()
    {
        var random = new Random(1234);
        for (int round = 0; round < 300; round++)
        {
            int capacity = random.Next(0, 8);
            int count = random.Next(0, 40);
            var all = new List<(long Score, byte[] Prefix, byte[] Name)>();
            var seen = new HashSet<string>();
            while (all.Count < count)
            {
                byte[] prefix = RandomBytes(random, 3), name = RandomBytes(random, 3);
                byte[] path = [.. prefix, .. name];
                if (!seen.Add(Convert.ToHexString(path))) continue; // paths are unique in a walk
                all.Add((random.Next(-3, 4), prefix, name));
            }

            // As a walk shard does: Accepts on (prefix, name) first, then Add the built row.
            var viaAccepts = new RankedRows(capacity);
            // As a merge does: Offer whole rows.
            var viaOffer = new RankedRows(capacity);
            foreach (var (score, prefix, name) in all)
            {
                if (viaAccepts.Accepts(score, prefix, name)) viaAccepts.Add(new RankedRow(score, [.. prefix, .. name], []));
                viaOffer.Offer(new RankedRow(score, [.. prefix, .. name], []));
            }

            var expected = all.Select(r => (r.Score, Path: (byte[])[.. r.Prefix, .. r.Name]))
                .OrderByDescending(r => r.Score).ThenBy(r => r.Path, ByteComparer).Take(capacity)
                .Select(r => $"{r.Score}:{Convert.ToHexString(r.Path)}").ToList();
            Assert.Equal(expected, viaAccepts.Rows.Select(r => $"{r.Score}:{Convert.ToHexString(r.Path)}").ToList());
            Assert.Equal(expected, viaOffer.Rows.Select(r => $"{r.Score}:{Convert.ToHexString(r.Path)}").ToList());
        }
    }

    [Fact]
    public void ComparePathOrdersLikeTheConcatenation()
    {
        var random = new Random(42);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] prefix = RandomBytes(random, 5), name = RandomBytes(random, 5);
            byte[] joined = [.. prefix, .. name];
            byte[] path = random.Next(4) switch
            {
                0 => [.. joined],                                            // equal (a copy: it may be changed below)
                1 => joined[..random.Next(joined.Length + 1)],               // a prefix of it
                2 => [.. joined, .. RandomBytes(random, 3)],                 // longer
                _ => RandomBytes(random, 9),                                 // anything
            };
            if (path.Length > 0 && random.Next(3) == 0) path[random.Next(path.Length)] = (byte)random.Next(256);
            int expected = Math.Sign(joined.AsSpan().SequenceCompareTo(path));
            int actual = Math.Sign(RankedRows.ComparePath(prefix, name, path));
            Assert.True(expected == actual,
                $"prefix {Convert.ToHexString(prefix)} name {Convert.ToHexString(name)} path {Convert.ToHexString(path)}: expected {expected}, got {actual}");
        }
    }

    // ---------------------------------------------------------------- folders

    [Fact]
    public void FolderSubtreeTotalsMatchDu()
    {
        MakeFolderTree();

        var report = Analyze(new() { TopN = 1000 });
        var bySize = report[ReportTableKind.FoldersBySize];
        var folders = Entries(_tree.Root).OfType<DirectoryInfo>().Where(d => d.LinkTarget is null).Select(d => d.FullName).Prepend(_tree.Root).ToList();

        Assert.Equal(4, bySize.Columns);
        Assert.Equal(folders.Order(StringComparer.Ordinal), Texts(bySize).Order(StringComparer.Ordinal));
        var rows = Rows(bySize);
        foreach (var (path, values) in rows)
        {
            Assert.Equal(RegularFiles(path, recursive: false), values[0]);
            Assert.Equal(RegularFiles(path, recursive: true), values[1]);
            Assert.True(Du(path, apparent: true) == values[2], $"subtree bytes of {path}");
            Assert.True(Du(path, apparent: false) == values[3], $"subtree disk bytes of {path}");
        }
        AssertSortedBy(rows, r => r.Values[2]);
        Assert.Equal(Du(_tree.Root, apparent: true), report[ReportTableKind.Totals].Values[4]);

        // Files directly inside, descending, ties by path; same columns.
        var byFiles = report[ReportTableKind.FoldersByFiles];
        Assert.Equal([Abs("v"), Abs("w"), Abs("x"), _tree.Root, Abs("x/y"), Abs("w/v"), Abs("x/v"), Abs("x/y/z")], Texts(byFiles));
        Assert.Equal([3L, 2, 2, 1, 1, 0, 0, 0], Rows(byFiles).Select(r => r.Values[0]));
        foreach (var (path, values) in Rows(byFiles)) Assert.Equal(rows.Single(r => r.Path == path).Values, values);

        // Top n of a smaller report is the head of the full one.
        var top2 = Analyze(new() { TopN = 2 });
        Assert.Equal(Texts(bySize).Take(2), Texts(top2[ReportTableKind.FoldersBySize]));
        Assert.Equal([Abs("v"), Abs("w")], Texts(top2[ReportTableKind.FoldersByFiles]));

        var names = report[ReportTableKind.FolderNames];
        Assert.Equal(1, names.Columns);
        Assert.Equal(["v", "w", "x", "y", "z"], Texts(names));
        Assert.Equal([3L, 1, 1, 1, 1], names.Values);
        Assert.Equal(["v", "w"], Texts(Analyze(new() { TopN = 2 })[ReportTableKind.FolderNames]));

        Assert.Equal([Abs("w/v"), Abs("x/v"), Abs("x/y/z")], Texts(report[ReportTableKind.EmptyFolders]));
        Assert.Equal([2L, 2, 3], report[ReportTableKind.EmptyFolders].Values);
    }

    // ---------------------------------------------------------------- depths

    [Fact]
    public void DepthTableCountsDirectoriesAndFilesPerDepth()
    {
        _tree.File("f0", "1");
        _tree.File("a/f1", "22");
        _tree.File("a/f2", "333");
        _tree.File("a/b/f3", "4444");
        _tree.Dir("c");
        // Deeper than the shards' initial per-depth arrays (16).
        Directory.CreateDirectory(Path.Combine(_tree.Root, string.Join('/', Enumerable.Repeat("L", 24))));
        _tree.File(string.Join('/', Enumerable.Repeat("L", 24)) + "/leaf", "55555");

        var report = Analyze(new() { TopN = 3, Threads = 4 });
        var depths = report[ReportTableKind.Depths];

        Assert.Equal(4, depths.Columns);
        Assert.Null(depths.Texts);
        Assert.Equal(ExpectedDepths(int.MaxValue), depths.Values);
        Assert.Equal([0L, 1, 0, 0], depths.Values[..4]);                // the root
        Assert.Equal([1L, 3, 1, 1], depths.Values[4..8]);               // a, c, L; f0
        Assert.Equal([2L, 2, 2, 5], depths.Values[8..12]);              // b, L; f1, f2
        Assert.Equal(26, depths.Rows);                                  // 0..25 (L*24/leaf)
        Assert.Equal(25, report[ReportTableKind.Totals].Values[9]);

        var limited = Analyze(new() { TopN = 10, MaxDepth = 2 });
        Assert.Equal(3, limited[ReportTableKind.Depths].Rows);
        Assert.Equal(ExpectedDepths(2), limited[ReportTableKind.Depths].Values);
        long[] totals = limited[ReportTableKind.Totals].Values;
        Assert.Equal(2, totals[9]);
        Assert.Equal(3, totals[0]);   // f0, f1, f2
        Assert.Equal(5, totals[1]);   // a, c, L, b, L/L
        Assert.Equal(1, totals[8]);   // c (b and L/L are not read: unknown)
        // Directories at the depth limit are not read, so not reported as folders; their own size is in their parent's.
        Assert.Equal([_tree.Root, Abs("L"), Abs("a"), Abs("c")], Texts(limited[ReportTableKind.FoldersBySize]).Order(StringComparer.Ordinal));
        var a = Rows(limited[ReportTableKind.FoldersBySize]).Single(r => r.Path == Abs("a"));
        Assert.Equal(StatSizes(Abs("a"), Abs("a/b")).Sum() + 2 + 3, a.Values[2]);
    }

    // ---------------------------------------------------------------- errors

    [Fact]
    public void ALinkLoopIsAnErrorAndTheWalkFinishes()
    {
        _tree.File("a/b/f", "x");
        _tree.Link("a/b/up", _tree.Root + "/a");
        _tree.Link("a/top", _tree.Root);
        _tree.File("target/t.txt", "123");
        _tree.Link("a/via", _tree.Root + "/target");

        var report = Analyze(new() { TopN = 10, FollowLinks = true });

        var errors = report[ReportTableKind.Errors];
        Assert.Equal(1, errors.Columns);
        Assert.Equal([Abs("a/b/up"), Abs("a/top")], Texts(errors));
        Assert.Equal([(long)ELOOP, ELOOP], errors.Values);
        long[] t = report[ReportTableKind.Totals].Values;
        Assert.Equal(2, t[11]);
        Assert.Equal(3, t[2]);   // up, top, via
        Assert.Equal(3, t[0]);   // f, t.txt and t.txt again through the followed link
        Assert.Contains(Abs("a/via/t.txt"), Texts(report[ReportTableKind.Largest]));
    }

    [Fact]
    public void NonUtf8NamesAreReportedByteForByte()
    {
        byte[] name = [(byte)'b', (byte)'a', (byte)'d', 0xff, 0xfe, (byte)'.', 0xff];
        _tree.RawFile("", name);
        _tree.File("ok.txt", "12");

        var report = Analyze(new() { TopN = 10 });

        byte[] path = [.. _tree.RootBytes, (byte)'/', .. name];
        var smallest = report[ReportTableKind.Smallest].Texts!;
        Assert.Equal(path, smallest[0]);
        Assert.Contains(report[ReportTableKind.Largest].Texts!, p => p.AsSpan().SequenceEqual(path));
        Assert.Contains(report[ReportTableKind.Extensions].Texts!, k => k.AsSpan().SequenceEqual((byte[])[(byte)'.', 0xff]));
    }

    // ---------------------------------------------------------------- filters

    private static GlobSet Globs(params string[] patterns) => GlobSet.Parse(patterns, syntax: GlobSyntax.AnchorLeadingSlash);

    private void MakeFilterTree()
    {
        _tree.File("a.py", "12345");
        _tree.File("b.txt", "1");
        _tree.File("src/c.py", "123");
        _tree.File("src/d.txt", "12");
        _tree.File("build/e.py", "1234");
        _tree.File("build/sub/f.py", "123456");
        _tree.File("src/build/g.py", "1234567");
    }

    [Fact]
    public void IncludeSelectsFilesOnlyAndDirectoriesAreStillCounted()
    {
        MakeFilterTree();

        var report = Analyze(new() { TopN = 100, Include = Globs("*.py") });

        long[] t = report[ReportTableKind.Totals].Values;
        Assert.Equal(5, t[0]);
        Assert.Equal(4, t[1]); // src, build, build/sub, src/build
        Assert.Equal(5 + 3 + 4 + 6 + 7, t[6]);
        Assert.Equal([".py"], Texts(report[ReportTableKind.Extensions]));
        Assert.Equal(["a.py", "build/e.py", "build/sub/f.py", "src/build/g.py", "src/c.py"],
            Texts(report[ReportTableKind.Largest]).Select(p => Path.GetRelativePath(_tree.Root, p)).Order(StringComparer.Ordinal));
        var byFiles = Rows(report[ReportTableKind.FoldersByFiles]);
        Assert.Equal(5, byFiles.Count);
        Assert.Equal(1, byFiles.Single(r => r.Path == Abs("src")).Values[0]);
        Assert.Equal(2, byFiles.Single(r => r.Path == Abs("src")).Values[1]);
        Assert.Equal(5, byFiles.Single(r => r.Path == _tree.Root).Values[1]);
    }

    [Fact]
    public void ExcludePrunesDirectories()
    {
        MakeFilterTree();

        var report = Analyze(new() { TopN = 100, Exclude = Globs("/build") });

        long[] t = report[ReportTableKind.Totals].Values;
        Assert.Equal(5, t[0]); // a.py, b.txt, src/c.py, src/d.txt, src/build/g.py
        Assert.Equal(2, t[1]); // src, src/build
        Assert.Equal(5 + 1 + 3 + 2 + 7, t[6]);
        Assert.Equal(StatSizes(_tree.Root, Abs("src"), Abs("src/build")).Sum() + t[6], t[4]);
        Assert.DoesNotContain(Texts(report[ReportTableKind.Largest]), p => p.StartsWith(Abs("build")));
        Assert.Equal([_tree.Root, Abs("src"), Abs("src/build")], Texts(report[ReportTableKind.FoldersBySize]).Order(StringComparer.Ordinal));
        Assert.DoesNotContain("sub", Texts(report[ReportTableKind.FolderNames]));
        Assert.Equal(2, report[ReportTableKind.Depths].Values[4 + 1] + report[ReportTableKind.Depths].Values[8 + 1]);

        var both = Analyze(new() { TopN = 100, Include = Globs("*.py"), Exclude = Globs("build/") });
        Assert.Equal(["a.py", "src/c.py"], Texts(both[ReportTableKind.Largest]).Select(p => Path.GetRelativePath(_tree.Root, p)).Order(StringComparer.Ordinal));
        Assert.Equal(1, both[ReportTableKind.Totals].Values[1]); // src
    }

    // ---------------------------------------------------------------- misuse

    [Fact]
    public void ReportBeforeTheEndOrOfAnotherWalkThrows()
    {
        for (int i = 0; i < 1500; i++) _tree.Dir($"d{i % 30}/e{i}");
        using (var walk = TreeWalk.Start(_tree.RootBytes, new WalkOptions { Output = WalkOutput.Analyze, TopN = 5, Threads = 1 }))
        {
            Assert.Throws<ArgumentException>(() => walk.Report); // 1531 directories are not read that fast
            Drain(walk);
            var report = walk.Report;
            Assert.Same(report, walk.Report);
            Assert.Equal(1530, report[ReportTableKind.Totals].Values[1]);
        }

        foreach (var output in new[] { WalkOutput.Count, WalkOutput.Names, WalkOutput.Paths })
        {
            using var walk = TreeWalk.Start(_tree.RootBytes, new WalkOptions { Output = output, TopN = 5 });
            while (!walk.TryTakeBatch(1000, out _)) { }
            Assert.Throws<ArgumentException>(() => walk.Report);
        }

        Assert.Throws<ArgumentException>(() => TreeWalk.Start(_tree.RootBytes, new WalkOptions { Output = WalkOutput.Analyze, TopN = -1 }));
        Assert.Throws<ArgumentException>(() => TreeWalk.Start(_tree.RootBytes, new WalkOptions { Output = WalkOutput.Analyze, TopN = 1_000_001 }));
    }

    [Fact]
    public void ReportAfterCancelThrowsCancellation()
    {
        for (int i = 0; i < 300; i++) _tree.Dir($"d{i}");
        using var walk = TreeWalk.Start(_tree.RootBytes, new WalkOptions { Output = WalkOutput.Analyze, TopN = 5 });
        walk.Cancel();
        Assert.Throws<OperationCanceledException>(() => walk.Report);
    }

    // ---------------------------------------------------------------- trees

    /// <summary>Seven files with chosen sizes and mtimes, with ties in both.</summary>
    private string[] MakeRankingTree()
    {
        (string Path, int Size, int Seconds)[] spec =
        [
            ("b/x", 50, 100), ("a/y", 50, 100), ("a.txt", 50, 100), ("B", 10, 5), ("c", 200, 1), ("d/e", 0, 300), ("f", 10, 5),
        ];
        return spec.Select(s =>
        {
            string path = _tree.File(s.Path, new string('r', s.Size));
            File.SetLastWriteTimeUtc(path, BaseTime.AddSeconds(s.Seconds));
            return path;
        }).ToArray();
    }

    private void MakeFolderTree()
    {
        _tree.File("f1", new string('1', 300));
        _tree.File("x/f2", new string('2', 1000));
        _tree.File("x/f3", new string('3', 20));
        _tree.File("x/y/f4", new string('4', 5000));
        _tree.Dir("x/y/z");
        _tree.File("w/f5", new string('5', 7));
        _tree.File("w/big", new string('b', 12345));
        _tree.Link("w/l", "f5");
        _tree.Link("w/dirlink", _tree.Root + "/x"); // a symlink to a directory: not followed
        _tree.File("v/e1");
        _tree.File("v/e2");
        _tree.File("v/e3");
        _tree.Dir("x/v");
        _tree.Dir("w/v");
    }

    /// <summary>Per depth 0..: depth, directories, files, file bytes, from System.IO (the root is depth 0).</summary>
    private long[] ExpectedDepths(int maxDepth)
    {
        var rows = new SortedDictionary<int, long[]> { [0] = [0, 1, 0, 0] };
        foreach (var entry in Entries(_tree.Root))
        {
            int depth = Path.GetRelativePath(_tree.Root, entry.FullName).Count(c => c == '/') + 1;
            if (depth > maxDepth) continue;
            if (!rows.TryGetValue(depth, out var row)) rows[depth] = row = [depth, 0, 0, 0];
            if (entry is DirectoryInfo) row[1]++;
            else if (entry is FileInfo file && file.LinkTarget is null) { row[2]++; row[3] += file.Length; }
        }
        Assert.Equal(Enumerable.Range(0, rows.Count), rows.Keys);
        return rows.Values.SelectMany(r => r).ToArray();
    }

    // ---------------------------------------------------------------- helpers

    private AnalysisReport Analyze(WalkOptions options) => Analyze(_tree.RootBytes, options);

    private static AnalysisReport Analyze(byte[] root, WalkOptions options)
    {
        using var walk = TreeWalk.Start(root, options with { Output = WalkOutput.Analyze });
        Drain(walk);
        var report = walk.Report;
        Assert.Equal(Enum.GetValues<ReportTableKind>(), report.Tables.Select(t => (ReportTableKind)t.Kind));
        foreach (var table in report.Tables)
        {
            Assert.Equal(0, table.Values.Length % table.Columns);
            if (table.Texts is not null) Assert.Equal(table.Rows, table.Texts.Count);
        }
        return report;
    }

    private static void Drain(TreeWalk walk)
    {
        long deadline = Environment.TickCount64 + 30_000;
        while (true)
        {
            Assert.True(Environment.TickCount64 < deadline, "analysis did not finish in time");
            bool finished = walk.TryTakeBatch(100, out var batch);
            Assert.Null(batch); // an analysis yields no batches
            if (finished) return;
        }
    }

    private string Abs(string relative) => _tree.Root + "/" + relative;

    private static List<string> Texts(ResultTable table) => table.Texts!.Select(t => Encoding.UTF8.GetString(t)).ToList();

    private static List<(string Path, long[] Values)> Rows(ResultTable table) =>
        Enumerable.Range(0, table.Rows)
            .Select(i => (Encoding.UTF8.GetString(table.Texts![i]), table.Values.AsSpan(i * table.Columns, table.Columns).ToArray()))
            .ToList();

    private static readonly Comparer<byte[]> ByteComparer = Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b));

    /// <summary>A ranked file table against the same ranking done here: score descending, then path bytes ascending.</summary>
    private static void AssertRanked(ResultTable table, List<FileInfo> files, Func<FileInfo, long> score, int topN)
    {
        var expected = files.OrderByDescending(score).ThenBy(f => Encoding.UTF8.GetBytes(f.FullName), ByteComparer).Take(topN).ToList();
        Assert.Equal(expected.Select(f => f.FullName), Texts(table));
        Assert.Equal(expected.SelectMany(f => new[] { f.Length, Ns(f.LastWriteTimeUtc) }), table.Values);
    }

    private static void AssertSortedBy(List<(string Path, long[] Values)> rows, Func<(string Path, long[] Values), long> score)
    {
        for (int i = 1; i < rows.Count; i++)
        {
            long a = score(rows[i - 1]), b = score(rows[i]);
            Assert.True(a > b || (a == b && string.CompareOrdinal(rows[i - 1].Path, rows[i].Path) < 0),
                $"{rows[i - 1].Path} ({a}) before {rows[i].Path} ({b})");
        }
    }

    private static long RegularFiles(string directory, bool recursive) =>
        (recursive ? Entries(directory) : new DirectoryInfo(directory).EnumerateFileSystemInfos("*", AllEntries))
            .Count(e => e is FileInfo { LinkTarget: null }); // the trees this is used on have no special files

    private static readonly EnumerationOptions AllEntries = new() { AttributesToSkip = 0 };

    /// <summary>Every entry below <paramref name="directory"/>, hidden ones too, not descending into symbolic links.</summary>
    private static IEnumerable<FileSystemInfo> Entries(string directory)
    {
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", AllEntries))
        {
            yield return entry;
            if (entry is DirectoryInfo { LinkTarget: null } sub)
            {
                foreach (var inner in Entries(sub.FullName)) yield return inner;
            }
        }
    }

    private static long Ns(DateTime utc) => (utc - DateTime.UnixEpoch).Ticks * 100;

    private static RankedRow Row(long score, string path) => new(score, Encoding.Latin1.GetBytes(path), []);

    private static List<string> Describe(RankedRows rows) => rows.Rows.Select(r => $"{r.Score}:{Encoding.Latin1.GetString(r.Path)}").ToList();

    /// <summary>Random bytes from a small alphabet (so that shared prefixes are common), up to maxLength long.</summary>
    private static byte[] RandomBytes(Random random, int maxLength)
    {
        ReadOnlySpan<byte> alphabet = [0x00, 0x01, (byte)'/', (byte)'a', 0x7f, 0x80, 0xff];
        var bytes = new byte[random.Next(maxLength + 1)];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = alphabet[random.Next(alphabet.Length)];
        return bytes;
    }

    /// <summary>st_size of each path, from coreutils' stat (a directory's size is file-system specific).</summary>
    private static long[] StatSizes(params string[] paths) => StatFields("%s", paths);

    private static long[] StatFields(string format, params string[] paths) =>
        Run("stat", ["-c", format, .. paths]).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();

    /// <summary>du -s of one path: apparent bytes (-b) or disk bytes (-B1).</summary>
    private static long Du(string path, bool apparent) =>
        long.Parse(Run("du", ["-s", apparent ? "-b" : "-B1", path]).Split('\t')[0]);

    private static string Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed: {error}");
        return output;
    }
}
