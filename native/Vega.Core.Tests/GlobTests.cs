using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.FileSystemGlobbing;
using Vega.Core.Patterns;

namespace Vega.Core.Tests;

public class GlobTests
{
    private static bool Matches(string pattern, string path, bool caseInsensitive = false) =>
        GlobSet.Parse([pattern], caseInsensitive).IsMatch(Encoding.UTF8.GetBytes(path));

    [Theory]
    [InlineData("*.py", "a.py", true)]
    [InlineData("*.py", "src/deep/a.py", true)]         // no '/' in the glob: matched against the basename
    [InlineData("*.py", "a.pyc", false)]
    [InlineData("*.py", ".py", true)]
    [InlineData("*", "anything/at/all", true)]
    [InlineData("src/*.py", "src/a.py", true)]
    [InlineData("src/*.py", "src/x/a.py", false)]       // '*' does not cross '/'
    [InlineData("src/*.py", "lib/src/a.py", false)]     // a glob with '/' is anchored
    [InlineData("**/src/*.py", "lib/src/a.py", true)]
    [InlineData("**/src/*.py", "src/a.py", true)]       // '**/' matches zero directories
    [InlineData("a/**/b", "a/b", true)]
    [InlineData("a/**/b", "a/x/y/b", true)]
    [InlineData("a/**/b", "a/xb", false)]
    [InlineData("a/**", "a/x/y", true)]
    [InlineData("a/**", "a", false)]
    [InlineData("**", "x/y/z", true)]
    [InlineData("a**b", "axxb", true)]                  // '**' inside a name is '*'
    [InlineData("a**b", "ax/xb", false)]
    [InlineData("?.c", "x.c", true)]
    [InlineData("?.c", "xy.c", false)]
    [InlineData("?.c", "é.c", true)]                    // '?' is one character, not one byte
    [InlineData("?.c", "😀.c", true)]
    [InlineData("d/?", "d//", false)]
    [InlineData("[abc].txt", "b.txt", true)]
    [InlineData("[abc].txt", "d.txt", false)]
    [InlineData("[!abc].txt", "d.txt", true)]
    [InlineData("[^abc].txt", "a.txt", false)]
    [InlineData("[a-c]x", "bx", true)]
    [InlineData("[]a]", "]", true)]
    [InlineData("[!]a]", "b", true)]
    [InlineData("[a-]", "-", true)]
    [InlineData("[[:digit:]]*", "7up", true)]
    [InlineData("[[:digit:]]*", "up", false)]
    [InlineData("x[/]y", "x/y", false)]                 // a class never matches '/'
    [InlineData("x[!a]y", "x/y", false)]
    [InlineData("*.{c,h}", "main.h", true)]
    [InlineData("*.{c,h}", "main.o", false)]
    [InlineData("{src/*.rs,*.{py,pyi}}", "src/a.rs", true)]
    [InlineData("{src/*.rs,*.{py,pyi}}", "deep/b.pyi", false)] // the glob has '/', so it is anchored as a whole
    [InlineData("{a,}b", "b", true)]
    [InlineData("\\*.py", "*.py", true)]
    [InlineData("\\*.py", "a.py", false)]
    [InlineData("a\\[b", "a[b", true)]
    [InlineData("build/", "build/", true)]              // a trailing '/' matches directories only
    [InlineData("build/", "build", false)]
    [InlineData("build/", "x/build/", true)]
    [InlineData("Makefile", "src/Makefile", true)]
    [InlineData("src/Makefile", "src/Makefile", true)]
    [InlineData("src/Makefile", "x/src/Makefile", false)]
    [InlineData("**/src/Makefile", "x/src/Makefile", true)]
    [InlineData("**/src/Makefile", "xsrc/Makefile", false)]
    [InlineData("test_*", "tests/test_a.py", true)]
    [InlineData("*_test.go", "pkg/a_test.go", true)]
    [InlineData("*.tar.gz", "x.tar.gz", true)]
    [InlineData("*.tar.gz", "x.gz", false)]
    [InlineData("/abs/*.log", "/abs/x.log", true)]      // PatternMatcher matches paths as given
    public void Semantics(string pattern, string path, bool expected)
    {
        Assert.Equal(expected, Matches(pattern, path));
    }

    [Theory]
    [InlineData("*.PY", "a.py", true)]
    [InlineData("readme", "README", true)]
    [InlineData("SRC/**", "src/x", true)]
    [InlineData("*.É", "x.é", true)]
    [InlineData("straße", "STRASSE", false)] // simple case folding only: one character for one
    [InlineData("*.k", "x.\u212A", true)]     // KELVIN SIGN folds to k, as Python's re.IGNORECASE does
    public void CaseInsensitive(string pattern, string path, bool expected)
    {
        Assert.Equal(expected, Matches(pattern, path, caseInsensitive: true));
        Assert.False(Matches(pattern, path) && !expected);
    }

    [Theory]
    [InlineData("a[bc", "unclosed '['", 1)]
    [InlineData("x{a,b", "unclosed '{'", 1)]
    [InlineData("{a,{b,c}", "unclosed '{'", 0)]
    [InlineData("abc\\", "escapes nothing", 3)]
    [InlineData("", "empty pattern", 0)]
    [InlineData("[z-a]", "reversed range", 1)]
    [InlineData("é[b", "unclosed '['", 1)] // positions count characters, not bytes
    [InlineData("[[:bogus:]]", "unknown character class", 1)]
    public void InvalidGlobsNameThePosition(string pattern, string problem, int position)
    {
        var error = Assert.Throws<GlobException>(() => Glob.Parse(pattern));
        Assert.Contains(problem, error.Message);
        Assert.Contains($"'{pattern}'", error.Message);
        Assert.Equal(position, error.Position);
    }

    [Fact]
    public void GlobsTooComplexForTheRegexEngineAreErrorsOrMatchedOneByOne()
    {
        string huge = string.Concat(Enumerable.Repeat("*a", 2000));
        Assert.Contains("too long or complex", Assert.Throws<GlobException>(() => GlobSet.Parse([huge])).Message);
        // A gitignore rule like that is skipped, as git skips a rule it cannot parse.
        var rules = IgnoreRules.Parse(huge + "\n*.o\n")!;
        Assert.Equal(IgnoreVerdict.Ignore, rules.Match(""u8, "x.o"u8, false, new List<int>()));
        // Globs that each fit the engine but not joined into one regex are matched one by one.
        var many = GlobSet.Parse(Enumerable.Range(0, 1000).Select(i => $"*{i}*").ToList());
        Assert.True(many.IsMatch("a999b"u8));
        Assert.False(many.IsMatch("abc"u8));
        Assert.Equal([9, 99, 999], many.Which("a999b"u8));
    }

    [Fact]
    public void WhichReportsEveryMatchingGlobOnce()
    {
        var set = GlobSet.Parse(["*.py", "src/**", "*.{py,txt}", "*.rs", "**/a.py", "s*/a.*"]);
        Assert.Equal([0, 1, 2, 4, 5], set.Which("src/a.py"u8));
        Assert.Empty(set.Which("b.c"u8));
    }

    [Fact]
    public void DirectoryOnlyGlobsNeedTheDirectoryFlag()
    {
        var set = GlobSet.Parse(["build/", "*.o"]);
        Assert.True(set.IsMatch("x/"u8, "build"u8, isDirectory: true));
        Assert.False(set.IsMatch("x/"u8, "build"u8, isDirectory: false));
        Assert.True(set.IsMatch(""u8, "a.o"u8, isDirectory: false));
    }

    [Fact]
    public void NonUtf8BytesMatchAsPythonSurrogateEscapes()
    {
        // Python: os.fsdecode(b"caf\xe9.txt") == "caf\udce9.txt"; '?' matches the one escaped byte.
        byte[] path = [(byte)'c', (byte)'a', (byte)'f', 0xE9, (byte)'.', (byte)'t', (byte)'x', (byte)'t'];
        Assert.True(GlobSet.Parse(["caf?.txt"]).IsMatch(path));
        Assert.True(GlobSet.Parse(["*.txt"]).IsMatch(path));
        Assert.True(GlobSet.Parse(["caf\udce9.*"]).IsMatch(path));
        Assert.False(GlobSet.Parse(["café.*"]).IsMatch(path));
    }

    [Fact]
    public void LeadingSlashAnchorsWhenAsked()
    {
        var glob = Glob.Parse("/build", GlobSyntax.AnchorLeadingSlash);
        Assert.True(glob.HasSlash);
        var set = new GlobSet([glob]);
        Assert.True(set.IsMatch("build"u8));
        Assert.False(set.IsMatch("x/build"u8));
    }

    [Fact]
    public void BracesAreLiteralInGitignoreSyntax()
    {
        var set = new GlobSet([Glob.Parse("{a,b}", GlobSyntax.NoBraces)]);
        Assert.True(set.IsMatch("{a,b}"u8));
        Assert.False(set.IsMatch("a"u8));
    }

    private static readonly string[] Pieces = ["a", "b", "ab", ".", "x.c", "/", "/", "*", "*", "**", "?", "[ab]", "[!a]", "{a,b}", "{x,*.c}", "\\*", "é"];
    private static readonly string[] PathPieces = ["a", "b", "ab", ".", "x.c", "/", "/", "*", "é", "c", "aa"];

    /// <summary>The literal tables must agree with the regex of each glob on every path.</summary>
    [Fact]
    public void TablesAgreeWithRegexes()
    {
        var random = new Random(7);
        for (int round = 0; round < 3000; round++)
        {
            string pattern = Compose(random, Pieces, 1 + random.Next(5));
            Glob glob;
            try { glob = Glob.Parse(pattern); } catch (GlobException) { continue; }
            bool caseInsensitive = random.Next(4) == 0;
            var set = new GlobSet([glob], caseInsensitive);
            var options = RegexOptions.Singleline | (caseInsensitive ? RegexOptions.IgnoreCase | RegexOptions.CultureInvariant : 0);
            var regex = new Regex(@"\A(?:" + glob.ToRegex() + @")\z", options);
            for (int i = 0; i < 20; i++)
            {
                string path = Compose(random, PathPieces, 1 + random.Next(6)).Trim('/');
                if (path.Length == 0 || path.Contains("//")) continue;
                if (caseInsensitive && random.Next(2) == 0) path = path.ToUpperInvariant();
                string target = glob.HasSlash ? path : path[(path.LastIndexOf('/') + 1)..];
                bool isDirectory = random.Next(2) == 0;
                bool expected = regex.IsMatch(target) && (isDirectory || !glob.DirectoryOnly);
                string given = isDirectory ? path + "/" : path;
                Assert.True(expected == set.IsMatch(Encoding.UTF8.GetBytes(given)), $"'{pattern}' on '{given}': expected {expected}");
            }
        }
    }

    private static string Compose(Random random, string[] pieces, int count) =>
        string.Concat(Enumerable.Range(0, count).Select(_ => pieces[random.Next(pieces.Length)]));

    /// <summary>
    /// Microsoft.Extensions.FileSystemGlobbing as an oracle for the syntax it shares (literals, '*', '**'
    /// segments). Its globs are anchored at the root, so a slash-free glob G here is "**/G" there.
    /// </summary>
    [Fact]
    public void AgreesWithFileSystemGlobbing()
    {
        string[] segments = ["a", "b", "ab", "x.c", "x.h", "a.b.c"];
        var random = new Random(11);
        var paths = new List<string>();
        for (int i = 0; i < 400; i++)
        {
            paths.Add(string.Join('/', Enumerable.Range(0, 1 + random.Next(4)).Select(_ => segments[random.Next(segments.Length)])));
        }
        paths = paths.Distinct().ToList();
        // Not "*.*": FileSystemGlobbing matches it against names without a dot too (a DOS convention).
        string[] patternSegments = ["a", "b", "*", "*.c", "a*", "*b", "**", "x.*", "*.b.*"];
        for (int round = 0; round < 300; round++)
        {
            var parts = Enumerable.Range(0, 1 + random.Next(3)).Select(_ => patternSegments[random.Next(patternSegments.Length)]).ToList();
            if (parts[^1] == "**") parts.Add("*"); // FileSystemGlobbing's trailing '**' also matches the directory itself
            string pattern = string.Join('/', parts);
            var oracle = new Matcher(StringComparison.Ordinal);
            oracle.AddInclude(pattern.Contains('/') ? pattern : "**/" + pattern);
            var expected = oracle.Match("/r", paths.Select(p => "/r/" + p)).Files.Select(f => f.Path).ToHashSet();
            var set = GlobSet.Parse([pattern]);
            var actual = paths.Where(p => set.IsMatch(Encoding.UTF8.GetBytes(p))).ToHashSet();
            Assert.True(expected.SetEquals(actual), $"'{pattern}': FileSystemGlobbing {string.Join(",", expected.Except(actual))} / vegafs {string.Join(",", actual.Except(expected))}");
        }
    }
}
