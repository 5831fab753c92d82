using Vega.Core.Patterns;
using Vega.Core.Walk;

namespace Vega.Core.Tests;

public sealed class FilteredWalkTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private static GlobSet Globs(params string[] patterns) => GlobSet.Parse(patterns, syntax: GlobSyntax.AnchorLeadingSlash);

    private HashSet<string> Listed(WalkOptions options) =>
        WalkResult.Run(_tree.RootBytes, options with { Output = WalkOutput.Paths })
            .SelectMany(g => g.DirNames.Concat(g.OtherNames))
            .Select(p => Path.GetRelativePath(_tree.Root, p)).ToHashSet();

    [Fact]
    public void IncludeListsMatchesAtAnyDepthAndExcludePrunes()
    {
        _tree.File("a.py");
        _tree.File("src/b.py");
        _tree.File("src/c.txt");
        _tree.File("build/d.py");
        _tree.File("src/build/e.py");
        Assert.Equal(["a.py", "src/b.py", "src/build/e.py"], Listed(new() { Include = Globs("*.py"), Exclude = Globs("/build") }).Order());
        Assert.Equal(["a.py", "src", "src/b.py", "src/c.txt"], Listed(new() { Exclude = Globs("build/") }).Order());
    }

    [Fact]
    public void NamesOutputKeepsDirectoriesThatIncludeDoesNotMatch()
    {
        _tree.File("src/b.py");
        _tree.File("src/c.txt");
        var groups = WalkResult.Run(_tree.RootBytes, new() { Output = WalkOutput.Names, Include = Globs("*.py") });
        var root = groups.Single(g => g.PathText == _tree.Root);
        Assert.Equal(["src"], root.DirNames);
        Assert.Equal(["b.py"], groups.Single(g => g.PathText.EndsWith("/src")).OtherNames);
    }

    [Fact]
    public void GitignoreRulesApplyPerDirectoryWithNegationAndSkipGit()
    {
        _tree.Dir(".git/objects");
        _tree.File(".git/HEAD");
        _tree.File(".gitignore", "*.log\n!keep.log\nout/\n");
        _tree.File("sub/.gitignore", "*.tmp\n/only-here\n");
        _tree.File("a.log");
        _tree.File("keep.log");
        _tree.File("out/x");
        _tree.File("sub/y.tmp");
        _tree.File("y.tmp");
        _tree.File("sub/only-here");
        _tree.File("sub/deeper/only-here");
        _tree.File(".ignore", "*.md\n");
        _tree.File("doc.md");
        Assert.Equal([".gitignore", ".ignore", "keep.log", "sub", "sub/.gitignore", "sub/deeper", "sub/deeper/only-here", "y.tmp"],
            Listed(new() { Gitignore = true }).Order());
    }

    [Fact]
    public void CountWithFiltersCountsOnlyTheSelection()
    {
        _tree.File("a.py", "12345");
        _tree.File("b.txt", "1");
        _tree.File("src/c.py", "123");
        using var walk = TreeWalk.Start(_tree.RootBytes, new() { Output = WalkOutput.Count, Include = Globs("*.py") });
        while (!walk.TryTakeBatch(30_000, out _)) { }
        var totals = walk.Totals;
        Assert.Equal(2, totals.Files);
        Assert.Equal(0, totals.Directories);
        Assert.Equal(8, totals.ApparentBytes);
    }
}

public class IgnoreRulesTests
{
    [Theory]
    [InlineData("*.log\n!keep.log\n", "keep.log", false, IgnoreVerdict.Keep)]
    [InlineData("*.log\n!keep.log\n", "a.log", false, IgnoreVerdict.Ignore)]
    [InlineData("# comment\n\n", "x", false, IgnoreVerdict.None)]
    [InlineData("\\#hash\n", "#hash", false, IgnoreVerdict.Ignore)]
    [InlineData("\\!bang\n", "!bang", false, IgnoreVerdict.Ignore)]
    [InlineData("trailing   \n", "trailing", false, IgnoreVerdict.Ignore)]
    [InlineData("space\\ \n", "space ", false, IgnoreVerdict.Ignore)]
    [InlineData("dir/\n", "dir", false, IgnoreVerdict.None)]
    [InlineData("dir/\n", "dir", true, IgnoreVerdict.Ignore)]
    [InlineData("{a,b}\n", "{a,b}", false, IgnoreVerdict.Ignore)]
    [InlineData("a[\nb\n", "b", false, IgnoreVerdict.Ignore)] // an invalid rule is skipped, the rest still apply
    [InlineData("crlf\r\n", "crlf", false, IgnoreVerdict.Ignore)]
    public void ParsesLikeGit(string content, string name, bool isDirectory, IgnoreVerdict expected)
    {
        var rules = IgnoreRules.Parse(content);
        var verdict = rules?.Match([], System.Text.Encoding.UTF8.GetBytes(name), isDirectory, new List<int>()) ?? IgnoreVerdict.None;
        Assert.Equal(expected, verdict);
    }

    [Theory]
    [InlineData("/build\n", "", "build", IgnoreVerdict.Ignore)]
    [InlineData("/build\n", "a/", "build", IgnoreVerdict.None)]
    [InlineData("a/*.o\n", "a/", "x.o", IgnoreVerdict.Ignore)]
    [InlineData("a/*.o\n", "b/a/", "x.o", IgnoreVerdict.None)]
    [InlineData("a/*.o\n", "", "x.o", IgnoreVerdict.None)]
    [InlineData("a/**/z\n", "a/", "z", IgnoreVerdict.Ignore)]
    [InlineData("a/**/z\n", "a/b/c/d/", "z", IgnoreVerdict.Ignore)]
    [InlineData("a/**/z\n", "x/a/b/", "z", IgnoreVerdict.None)]
    [InlineData("**/cache\n", "x/y/z/", "cache", IgnoreVerdict.Ignore)]
    [InlineData("*.log\n!a/x.log\n", "a/", "x.log", IgnoreVerdict.Keep)] // the last matching rule wins, name or path rule
    [InlineData("*.log\n!a/x.log\n", "b/", "x.log", IgnoreVerdict.Ignore)]
    [InlineData("!a/x.log\n*.log\n", "a/", "x.log", IgnoreVerdict.Ignore)]
    [InlineData("a/\nb/c/\n", "b/", "c", IgnoreVerdict.None)] // directories only
    public void PathRulesMatchOnlyAtTheirDepthAndTheLastRuleWins(string content, string directory, string name, IgnoreVerdict expected)
    {
        var rules = IgnoreRules.Parse(content)!;
        var verdict = rules.Match(System.Text.Encoding.UTF8.GetBytes(directory), System.Text.Encoding.UTF8.GetBytes(name), false, new List<int>());
        Assert.Equal(expected, verdict);
    }
}
