using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Vega.Core.Files;
using Vega.Core.Search;
using Vega.Core.Walk;

namespace Vega.Core.Tests;

/// <summary>
/// The text-search engine: the regex dialect (<see cref="RegexDialect"/>), pattern compilation
/// (<see cref="SearchPattern"/>), the per-file line search (<see cref="FileSearcher"/>, through
/// <see cref="SearchJob.SearchBuffer"/>) against a per-line reference built on .NET's backtracking
/// engine, and the parallel <see cref="SearchJob"/> over real files.
/// </summary>
public sealed unsafe class SearchTests : IDisposable
{
    private const int ENOENT = 2, EISDIR = 21;
    private const int FlagFinal = 1, FlagBinary = 2, FlagMaxCount = 4, FlagTooLarge = 8;
    private const int MiB = 1 << 20;

    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    // ================================================================ result rows

    private sealed record FileRow(long FileId, long Index, long Matched, long Errno, long Flags, byte[] Path)
    {
        public string Name => Encoding.UTF8.GetString(Path);
    }

    private sealed record LineRow(long FileId, long Number, long Offset, bool IsMatch, (long Start, long End)[] Spans, byte[] Text)
    {
        public override string ToString() => Format(Number, Offset, IsMatch, Spans, Text);
    }

    private sealed record Result(List<FileRow> Files, List<LineRow>? Lines, int SpanRows)
    {
        public List<string> Shown => Lines!.Select(l => l.ToString()).ToList();
    }

    private static string Format(long number, long offset, bool isMatch, IEnumerable<(long Start, long End)> spans, byte[] text) =>
        $"{number}@{offset}{(isMatch ? ':' : '-')}{Show(text)} [{string.Join(" ", spans.Select(s => $"{s.Start}-{s.End}"))}]";

    /// <summary>Line bytes for messages: short lines escaped, long ones as length and hash.</summary>
    private static string Show(byte[] text)
    {
        if (text.Length > 100)
        {
            ulong hash = 14695981039346656037;
            foreach (byte b in text) hash = (hash ^ b) * 1099511628211;
            return $"<{text.Length} bytes {hash:x16}>";
        }
        var sb = new StringBuilder();
        foreach (byte b in text) sb.Append(b is >= 0x20 and < 0x7f and not (byte)'\\' ? ((char)b).ToString() : $"\\x{b:x2}");
        return sb.ToString();
    }

    /// <summary>Checks the shape of one result set (files; and lines + spans unless counting) and reads it.</summary>
    private static Result Parse(IReadOnlyList<ResultTable> tables)
    {
        Assert.True(tables.Count is 1 or 3, $"{tables.Count} tables");
        var files = tables[0];
        Assert.Equal(FileSearcher.KindFiles, files.Kind);
        Assert.Equal(5, files.Columns);
        Assert.Equal(1, files.TextColumns);
        Assert.Equal(files.Values.Length / 5, files.Texts!.Count);
        var fileRows = new List<FileRow>();
        for (int r = 0; r < files.Rows; r++)
        {
            var v = files.Values.AsSpan(r * 5, 5);
            fileRows.Add(new FileRow(v[0], v[1], v[2], v[3], v[4], files.Texts[r]));
        }
        if (tables.Count == 1) return new Result(fileRows, null, 0);
        var lines = tables[1];
        var spans = tables[2];
        Assert.Equal(FileSearcher.KindLines, lines.Kind);
        Assert.Equal(6, lines.Columns);
        Assert.Equal(lines.Values.Length / 6, lines.Texts!.Count);
        Assert.Equal(FileSearcher.KindSpans, spans.Kind);
        Assert.Equal(2, spans.Columns);
        Assert.Null(spans.Texts);
        var lineRows = new List<LineRow>();
        for (int r = 0; r < lines.Rows; r++)
        {
            var v = lines.Values.AsSpan(r * 6, 6);
            long first = v[4], count = v[5];
            byte[] text = lines.Texts[r];
            Assert.True(first >= 0 && count >= 0 && first + count <= spans.Rows, $"line row {r}: spans {first}+{count} of {spans.Rows}");
            Assert.True(v[3] is 0 or 1);
            if (v[3] == 0) Assert.Equal(0, count);
            else Assert.True(count > 0, $"line row {r} is a match without spans");
            var pairs = new (long, long)[count];
            for (int k = 0; k < count; k++)
            {
                long start = spans.Values[(first + k) * 2], end = spans.Values[(first + k) * 2 + 1];
                Assert.True(0 <= start && start <= end && end <= text.Length, $"span {start}-{end} in a line of {text.Length} bytes");
                pairs[k] = (start, end);
            }
            Assert.DoesNotContain((byte)'\n', text);
            lineRows.Add(new LineRow(v[0], v[1], v[2], v[3] == 1, pairs, text));
        }
        return new Result(fileRows, lineRows, spans.Rows);
    }

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static IReadOnlyList<ResultTable> SearchRaw(SearchPattern pattern, SearchOptions options, byte[] data, string path = "buffer")
    {
        fixed (byte* p = data) return SearchJob.SearchBuffer(pattern, options, p, data.Length, B(path));
    }

    private static Result Search(byte[] data, string pattern, SearchOptions? options = null, SearchPatternFlags flags = SearchPatternFlags.None) =>
        Parse(SearchRaw(SearchPattern.Compile([pattern], flags), options ?? new SearchOptions(), data));

    private static Result Search(string text, string pattern, SearchOptions? options = null, SearchPatternFlags flags = SearchPatternFlags.None) =>
        Search(B(text), pattern, options, flags);

    // ================================================================ the reference

    /// <summary>The same alternation the engine builds, for .NET's backtracking engine run on one line at a time.</summary>
    private static Regex ReferenceRegex(IReadOnlyList<string> patterns, SearchPatternFlags flags)
    {
        bool fixedStrings = (flags & SearchPatternFlags.FixedStrings) != 0;
        var pieces = patterns.SelectMany(p => p.Split('\n')).Select(piece =>
        {
            bool ignoreCase = (flags & SearchPatternFlags.IgnoreCase) != 0 ||
                              ((flags & SearchPatternFlags.SmartCase) != 0 &&
                               !(fixedStrings ? piece.Any(char.IsUpper) : RegexDialect.HasLiteralUppercase(piece)));
            return (Regex: fixedStrings ? Regex.Escape(piece) : RegexDialect.Translate(piece, out _), IgnoreCase: ignoreCase);
        }).ToList();
        if (pieces.Count == 1)
            return new Regex(pieces[0].Regex, RegexOptions.CultureInvariant | (pieces[0].IgnoreCase ? RegexOptions.IgnoreCase : 0));
        return new Regex(string.Join("|", pieces.Select(p => (p.IgnoreCase ? "(?i:" : "(?:") + p.Regex + ")")), RegexOptions.CultureInvariant);
    }

    /// <summary>The lines of a text as grep sees them: split on '\n', no line after a final '\n'.</summary>
    private static List<(long Offset, byte[] Bytes)> SplitLines(byte[] data)
    {
        var lines = new List<(long, byte[])>();
        int start = 0;
        while (start < data.Length)
        {
            int newline = Array.IndexOf(data, (byte)'\n', start);
            int end = newline < 0 ? data.Length : newline;
            lines.Add((start, data[start..end]));
            start = end + 1;
        }
        return lines;
    }

    /// <summary>
    /// A line as text, independently of the engine's decoder: valid UTF-8 decodes, any other byte becomes
    /// U+DC00 + byte; map[k] is the byte offset of char k (the low half of a pair maps to the pair's end).
    /// </summary>
    private static (string Text, int[] Map) DecodeLine(byte[] bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        var map = new List<int>(bytes.Length + 1);
        Span<char> pair = stackalloc char[2];
        int i = 0;
        while (i < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes.AsSpan(i), out Rune rune, out int consumed) == OperationStatus.Done)
            {
                int n = rune.EncodeToUtf16(pair);
                sb.Append(pair[..n]);
                map.Add(i);
                if (n == 2) map.Add(i + consumed);
                i += consumed;
            }
            else
            {
                sb.Append((char)(0xDC00 + bytes[i]));
                map.Add(i);
                i++;
            }
        }
        map.Add(bytes.Length);
        return (sb.ToString(), map.ToArray());
    }

    /// <summary>What the engine should report, grep's way, from per-line matches: shown lines and the count of matching lines.</summary>
    private static (List<string> Lines, long Matched) Reference(byte[] data, Regex regex, SearchOptions options)
    {
        var lines = SplitLines(data);
        var shown = new List<string>();
        long matched = 0;
        int lastShown = -1, afterLeft = 0;
        for (int i = 0; i < lines.Count; i++)
        {
            bool stopped = options.MaxCount > 0 && matched >= options.MaxCount;
            if (stopped && (afterLeft == 0 || options.CountOnly)) break;
            var (text, map) = DecodeLine(lines[i].Bytes);
            var matches = stopped ? null : regex.Matches(text);
            if (matches is { Count: > 0 })
            {
                matched++;
                for (int j = Math.Max(i - options.Before, lastShown + 1); j < i; j++)
                    shown.Add(Format(j + 1, lines[j].Offset, false, [], lines[j].Bytes));
                shown.Add(Format(i + 1, lines[i].Offset, true,
                    matches.Select(m => ((long)map[m.Index], (long)map[m.Index + m.Length])), lines[i].Bytes));
                lastShown = i;
                afterLeft = options.After;
            }
            else if (afterLeft > 0)
            {
                shown.Add(Format(i + 1, lines[i].Offset, false, [], lines[i].Bytes));
                lastShown = i;
                afterLeft--;
            }
        }
        return (shown, matched);
    }

    /// <summary>Searches with the engine and with the reference, and asserts they agree (lines, counts, count-only mode).</summary>
    private static Result AssertLikeReference(byte[] data, IReadOnlyList<string> patterns, SearchOptions options,
        SearchPatternFlags flags = SearchPatternFlags.None, string context = "") =>
        AssertLikeReference(data, patterns, SearchPattern.Compile(patterns, flags), ReferenceRegex(patterns, flags), options, context);

    private static Result AssertLikeReference(byte[] data, IReadOnlyList<string> patterns, SearchPattern pattern, Regex reference,
        SearchOptions options, string context = "")
    {
        var (expected, matched) = Reference(data, reference, options);
        var result = Parse(SearchRaw(pattern, options, data));
        var actual = result.Shown;
        if (!expected.SequenceEqual(actual))
        {
            int at = 0;
            while (at < Math.Min(expected.Count, actual.Count) && expected[at] == actual[at]) at++;
            Assert.Fail($"{context} patterns [{string.Join(", ", patterns)}]: first difference at row {at} of {expected.Count} expected / {actual.Count} actual:\n" +
                        $"  expected: {(at < expected.Count ? expected[at] : "(none)")}\n  actual:   {(at < actual.Count ? actual[at] : "(none)")}");
        }
        Assert.All(result.Lines!, l => Assert.Equal(0, l.FileId));
        AssertFileRow(result, matched, options);

        var counted = Parse(SearchRaw(pattern, options with { CountOnly = true }, data));
        Assert.Null(counted.Lines);
        AssertFileRow(counted, matched, options);
        return result;
    }

    private static void AssertFileRow(Result result, long matched, SearchOptions options)
    {
        if (matched == 0)
        {
            Assert.Empty(result.Files);
            return;
        }
        var row = FinalRow(result.Files);
        Assert.Equal(matched, row.Matched);
        Assert.Equal(0, row.Errno);
        Assert.Equal(0, row.Index);
        Assert.Equal("buffer", row.Name);
        bool stopped = options.MaxCount > 0 && matched >= options.MaxCount;
        Assert.Equal(FlagFinal | (stopped ? FlagMaxCount : 0), row.Flags);
    }

    /// <summary>
    /// The one final row of a file's rows. A file with many line rows also has non-final rows (flags 0,
    /// the matching lines so far), handed over mid-file; SearchBuffer's single set keeps them too.
    /// </summary>
    private static FileRow FinalRow(IReadOnlyList<FileRow> rows)
    {
        var final = Assert.Single(rows, r => (r.Flags & FlagFinal) != 0);
        Assert.Equal(final, rows[^1]);
        long previous = 0;
        foreach (var row in rows.SkipLast(1))
        {
            Assert.Equal((final.FileId, final.Index, final.Name, 0L, 0L), (row.FileId, row.Index, row.Name, row.Errno, row.Flags));
            Assert.InRange(row.Matched, previous, final.Matched);
            previous = row.Matched;
        }
        return final;
    }

    // ================================================================ generated texts

    private static readonly string[] Words =
    [
        "foo", "bar", "foobar", "fooxbar", "foo_bar", "foo9bar", "fooZbar", "word", "words", "sword", "a", "b", "ab", "ba",
        "abba", "123", "7", "x", "xx", "Foo", "BAR", "Word", "aaa", "bb", "-", "!", "a.b", "(=", "?",
    ];

    /// <summary>Random lines of words: some empty, some with CRLF, leading or trailing blanks, the last newline or not.</summary>
    private static byte[] GenText(Random rng, int lineCount, string[]? words = null, bool? trailingNewline = null)
    {
        words ??= Words;
        var sb = new StringBuilder();
        for (int l = 0; l < lineCount; l++)
        {
            if (rng.Next(8) != 0)
            {
                if (rng.Next(10) == 0) sb.Append(' ');
                int n = rng.Next(1, 8);
                for (int w = 0; w < n; w++)
                {
                    if (w > 0) sb.Append(rng.Next(6) == 0 ? "\t" : " ");
                    sb.Append(words[rng.Next(words.Length)]);
                }
                if (rng.Next(12) == 0) sb.Append(' ');
            }
            if (rng.Next(6) == 0) sb.Append('\r');
            if (l < lineCount - 1 || (trailingNewline ?? rng.Next(2) == 0)) sb.Append('\n');
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>
    /// About <paramref name="size"/> bytes of random lines, a few of them very long (up to 300 KB), and a
    /// cluster of lines starting with "foo" around every MiB (so matches and their context meet chunk edges).
    /// </summary>
    private static byte[] BigText(int seed, int size, string[]? words = null)
    {
        var rng = new Random(seed);
        words ??= Words;
        var output = new MemoryStream(size + 400_000);
        long nextCluster = MiB - 600;
        while (output.Length < size)
        {
            var sb = new StringBuilder();
            if (output.Length >= nextCluster)
            {
                for (int k = 0; k < 40; k++) sb.Append(k % 3 == 0 ? "foo cluster " + k : "plain " + k).Append(k % 5 == 0 ? "\r\n" : "\n");
                nextCluster += MiB;
            }
            else if (rng.Next(3000) == 0)
            {
                sb.Append("long foo1bar ").Append('y', rng.Next(1000, 300_000)).Append(" foo2bar\n");
            }
            else
            {
                int n = rng.Next(0, 10);
                for (int w = 0; w < n; w++) sb.Append(w > 0 ? " " : "").Append(words[rng.Next(words.Length)]);
                sb.Append(rng.Next(7) == 0 ? "\r\n" : "\n");
            }
            var bytes = Encoding.UTF8.GetBytes(sb.ToString());
            output.Write(bytes);
        }
        return output.ToArray();
    }

    private static readonly string[] UnicodeWords =
    [
        "foo", "bar", "é", "café", "中", "中文", "😀", "a😀b", "naïve", "Ω", "x", "ab", "\uD83D\uDE00\uD83D\uDE00",
    ];

    /// <summary>Random lines mixing ASCII, valid multibyte UTF-8 and bytes that are not UTF-8.</summary>
    private static byte[] GenMixed(Random rng, int lineCount)
    {
        byte[][] invalid = [[0xFF], [0x80], [0xC3], [0xE4, 0xB8], [0xED, 0xA0, 0x80], [0xF0, 0x9F], [0xC0, 0xAF], [0xFE, 0xFF, 0x41]];
        var output = new MemoryStream();
        for (int l = 0; l < lineCount; l++)
        {
            int n = rng.Next(0, 8);
            for (int w = 0; w < n; w++)
            {
                if (w > 0) output.WriteByte((byte)' ');
                if (rng.Next(4) == 0) output.Write(invalid[rng.Next(invalid.Length)]);
                else output.Write(B(UnicodeWords[rng.Next(UnicodeWords.Length)]));
            }
            if (l < lineCount - 1 || rng.Next(2) == 0) output.WriteByte((byte)'\n');
        }
        return output.ToArray();
    }

    // ================================================================ differential: small texts

    public static TheoryData<string> DifferentialPatterns => new(
        "foo", "foo\\w+bar", "^a", "b$", "\\bword\\b", "[0-9]+", "x*", "", "\\s", "[^a]", "foo|bar", "a|ab", "ab|a",
        "\\s+\\w", "o\\s", "[^a-z]+", "(?P<w>ba)r", "\\Aab", "a\\Z", "o{,2}", "^$", "^\\s*$", "\\r$", "^", "$", "a.b",
        "\\(=", "\\W", "(?i)foo", "w(or)*d?", "b*", "fo+\\b", "\\r?$", "a?b", "o?bar", "x?a+",
        // several patterns (newline-separated, as the engine reads them)
        "foo\n[0-9]", "^b\nx$", "\nzzz", "Foo\nbar", "a\nb\nx*", "\\s\n[^a]");

    [Theory]
    [MemberData(nameof(DifferentialPatterns))]
    public void GeneratedTextsMatchThePerLineReference(string pattern)
    {
        var rng = new Random(pattern.Length * 31 + 17);
        var compiled = SearchPattern.Compile([pattern], 0);
        var reference = ReferenceRegex([pattern], 0);
        for (int round = 0; round < 30; round++)
        {
            int lines = round switch { 0 => 0, 1 => 1, 2 => 2, _ => rng.Next(1, 40) };
            var data = GenText(rng, lines);
            AssertLikeReference(data, [pattern], compiled, reference, new SearchOptions(), $"round {round} text '{Show(data)}'");
        }
    }

    [Theory]
    [InlineData(new[] { "foo", "[0-9]" }, SearchPatternFlags.None)]
    [InlineData(new[] { "x*", "foo" }, SearchPatternFlags.None)]
    [InlineData(new[] { "bar", "BAR\nab" }, SearchPatternFlags.SmartCase)]
    [InlineData(new[] { "a.b", "(=" }, SearchPatternFlags.FixedStrings)]
    [InlineData(new[] { "FOO", "word" }, SearchPatternFlags.IgnoreCase)]
    [InlineData(new[] { "Foo", "foo" }, SearchPatternFlags.FixedStrings | SearchPatternFlags.SmartCase)]
    public void SeveralPatternsMatchWhereAnyDoes(string[] patterns, SearchPatternFlags flags)
    {
        var rng = new Random(4242);
        var compiled = SearchPattern.Compile(patterns, flags);
        var reference = ReferenceRegex(patterns, flags);
        for (int round = 0; round < 25; round++)
            AssertLikeReference(GenText(rng, rng.Next(1, 40)), patterns, compiled, reference, new SearchOptions(), $"round {round}");
    }

    [Theory]
    [InlineData("foo", 1, 0, 0)]
    [InlineData("foo", 0, 2, 0)]
    [InlineData("^a", 2, 3, 0)]
    [InlineData("[0-9]+", 3, 1, 2)]
    [InlineData("\\bword\\b", 1, 1, 1)]
    [InlineData("b$", 0, 3, 3)]
    [InlineData("", 2, 2, 4)]
    public void ContextAndMaxCountMatchTheReference(string pattern, int before, int after, long maxCount)
    {
        var rng = new Random(before * 100 + after * 10 + (int)maxCount);
        var options = new SearchOptions { Before = before, After = after, MaxCount = maxCount };
        var compiled = SearchPattern.Compile([pattern], 0);
        var reference = ReferenceRegex([pattern], 0);
        for (int round = 0; round < 30; round++)
        {
            var result = AssertLikeReference(GenText(rng, rng.Next(1, 50)), [pattern], compiled, reference, options, $"round {round}");
            // No line twice, and in order.
            Assert.True(result.Lines!.Select(l => l.Number).SequenceEqual(result.Lines!.Select(l => l.Number).Order().Distinct()));
        }
    }

    [Fact]
    public void MixedUtf8AndInvalidBytesMatchTheReference()
    {
        string[] patterns = ["foo", "中", "é+", "\\w+", "[^ ]+", "😀", "a😀b", "\\W+", "caf.", "[é中]", "ï", "", "Ω|x"];
        var rng = new Random(99);
        foreach (string pattern in patterns)
        {
            var compiled = SearchPattern.Compile([pattern], 0);
            var reference = ReferenceRegex([pattern], 0);
            for (int round = 0; round < 15; round++)
                AssertLikeReference(GenMixed(rng, rng.Next(1, 30)), [pattern], compiled, reference,
                    new SearchOptions { Before = round % 2, After = round % 3 }, $"round {round}");
        }
    }

    [Fact]
    public void LinesWithoutMatchesAreNotReported()
    {
        var result = Search("alpha\nbeta\ngamma\n", "zeta");
        Assert.Empty(result.Files);
        Assert.Empty(result.Lines!);
    }

    [Fact]
    public void SpansAreEveryMatchOfTheLineWithTheirByteOffsets()
    {
        var result = Search("foo bar foo\nno\nxfoofoo", "foo");
        Assert.Equal(["1@0:foo bar foo [0-3 8-11]", "3@15:xfoofoo [1-4 4-7]"], result.Shown);
        Assert.Equal(2, Assert.Single(result.Files).Matched);
    }

    [Fact]
    public void EmptyMatchesGiveEmptySpansAtEveryPosition()
    {
        var result = Search("axb\n\n", "x*");
        Assert.Equal(["1@0:axb [0-0 1-2 2-2 3-3]", "2@4: [0-0]"], result.Shown);
    }

    [Theory]
    [InlineData("ab\ncd\n", "\\s")]
    [InlineData("ab\ncd\n", "[^abcd]")]
    [InlineData("a\n\nb", "a\\sb")]
    [InlineData("ab\r\ncd\r\n", "b\\s\\sc")]
    [InlineData("xa\nbx\n", "a[^x]b")]
    [InlineData("a\n\n\n", "a\\s+$")]
    public void AMatchAcrossANewlineIsNotALineMatch(string text, string pattern)
    {
        var result = Search(text, pattern);
        Assert.Empty(result.Files);
        Assert.Empty(result.Lines!);
    }

    [Fact]
    public void ALineMatchingAloneIsFoundWhenTheFirstMatchCrossesTheNewline()
    {
        // The leftmost match of "a\s*" from line 1 is "a\n" (crossing); line 1 alone still matches "a".
        var result = Search("xa\nb\n", "a\\s*");
        Assert.Equal(["1@0:xa [1-2]"], result.Shown);
        // "[^a]" first matches the newline after "a", then the empty line's newline; only "b" is a match.
        Assert.Equal(["3@3:b [0-1]"], Search("a\n\nb", "[^a]").Shown);
    }

    // ================================================================ edges of the input

    [Fact]
    public void EmptyInputHasNoRows()
    {
        foreach (string pattern in new[] { "", "x*", "^$", "a" })
        {
            var result = Search([], pattern);
            Assert.Empty(result.Files);
            Assert.Empty(result.Lines!);
        }
    }

    [Fact]
    public void OnlyNewlinesAreEmptyLines()
    {
        var result = Search("\n\n\n", "");
        Assert.Equal(["1@0: [0-0]", "2@1: [0-0]", "3@2: [0-0]"], result.Shown);
        Assert.Equal(3, Assert.Single(result.Files).Matched);
        Assert.Equal(3, Search("\n\n\n", "^$").Lines!.Count);
        Assert.Empty(Search("\n\n\n", "\\s").Lines!);
    }

    [Fact]
    public void AFinalLineWithoutNewlineIsALine()
    {
        Assert.Equal(["1@0:abc [3-3]", "2@4:def [3-3]"], Search("abc\ndef", "$").Shown);
        Assert.Equal(["1@0:abc [2-3]"], Search("abc", "c$").Shown);
        Assert.Equal(["2@2:x [0-1]"], Search("a\nx", "x").Shown);
        Assert.Equal(1, Assert.Single(Parse(SearchRaw(SearchPattern.Compile(["x"], 0), new SearchOptions { CountOnly = true }, B("a\nx"))).Files).Matched);
        Assert.Equal(["1@0:abc [0-0 1-1 2-2 3-3]"], Search("abc", "").Shown);
    }

    [Fact]
    public void CrlfLinesKeepTheirCarriageReturn()
    {
        var result = Search("one\r\ntwo\r\n", "o\\r?$");
        Assert.Equal(["2@5:two\\x0d [2-4]"], result.Shown);
        Assert.Empty(Search("one\r\n", "e$").Lines!); // like grep: '$' is before '\n', not '\r'
    }

    // ================================================================ non-UTF-8 and multibyte text

    [Fact]
    public void SpansAndOffsetsAreByteOffsetsAfterMultibyteText()
    {
        var result = Search("é中😀 foo\n😀\nfoo", "foo");
        // é: 2 bytes, 中: 3, 😀: 4 → "foo" at byte 10 of line 1 (13 bytes); line 3 starts at 14 + 5.
        Assert.Equal(["1@0:\\xc3\\xa9\\xe4\\xb8\\xad\\xf0\\x9f\\x98\\x80 foo [10-13]", "3@19:foo [0-3]"], result.Shown);
        var wide = Search("ab中文cd\n", "中文");
        Assert.Equal((2L, 8L), Assert.Single(Assert.Single(wide.Lines!).Spans));
        var emoji = Search("x😀y😀\n", "😀");
        Assert.Equal([(1L, 5L), (6L, 10L)], Assert.Single(emoji.Lines!).Spans);
    }

    [Fact]
    public void DotMatchesAnEmojiAsOneSpan()
    {
        // "." runs on UTF-16: it matches each half of the pair; the halves map to [1-5] and an empty [5-5].
        var line = Assert.Single(Search("x😀y\n", ".").Lines!);
        Assert.Equal([(0L, 1L), (1L, 5L), (5L, 6L)], line.Spans);
    }

    [Fact]
    public void InvalidBytesCountOneByteEach()
    {
        byte[] data = [0xFF, 0x80, (byte)'a', 0xC3, (byte)'b', 0xE4, 0xB8, (byte)'c', (byte)'\n', 0xC3, 0xA9, (byte)'c', (byte)'\n'];
        var result = Search(data, "c");
        Assert.Equal(2, result.Lines!.Count);
        Assert.Equal((7L, 8L), Assert.Single(result.Lines[0].Spans));
        Assert.Equal(9, result.Lines[1].Offset);
        Assert.Equal((2L, 3L), Assert.Single(result.Lines[1].Spans));
        Assert.Equal(data[..8], result.Lines[0].Text);
    }

    [Fact]
    public void ARawBytePatternMatchesThatByteOnly()
    {
        string pattern = SearchPattern.Decode([0xFF]);
        Assert.Equal("\uDCFF", pattern);
        byte[] data = [(byte)'a', 0xFF, (byte)'b', (byte)'\n', 0xC3, 0xBF, (byte)'\n', 0xFF, 0xFF, (byte)'\n'];
        var result = Parse(SearchRaw(SearchPattern.Compile([pattern], 0), new SearchOptions(), data));
        Assert.Equal(["1@0:a\\xffb [1-2]", "3@7:\\xff\\xff [0-1 1-2]"], result.Shown);
        // A raw byte inside a longer pattern, and valid UTF-8 pattern bytes decode to their text.
        string mixed = SearchPattern.Decode([(byte)'a', 0xFF, (byte)'b']);
        Assert.Equal(["1@0:a\\xffb [0-3]"], Parse(SearchRaw(SearchPattern.Compile([mixed], 0), new SearchOptions(), data)).Shown);
        Assert.Equal("é中", SearchPattern.Decode(B("é中")));
        Assert.Equal("a\uDCC3b", SearchPattern.Decode([(byte)'a', 0xC3, (byte)'b']));
    }

    [Fact]
    public void TheDecoderEscapesEveryByteThatIsNotUtf8()
    {
        byte[] bytes = [(byte)'a', 0xFF, 0xC3, 0xA9, 0xE4, 0xB8, 0xF0, 0x9F, 0x98, 0x80, 0xED, 0xA0, 0x80];
        var chars = new char[bytes.Length];
        int n = Utf8Text.Decode(bytes, chars, out bool oneToOne);
        Assert.Equal("a\uDCFFé\uDCE4\uDCB8😀\uDCED\uDCA0\uDC80", new string(chars, 0, n));
        Assert.False(oneToOne);
        Assert.Equal(3, Utf8Text.Decode([0x80, (byte)'z', 0xFE], chars, out oneToOne));
        Assert.True(oneToOne);
        Assert.Equal("\uDC80z\uDCFE", new string(chars, 0, 3));
    }

    // ================================================================ chunk boundaries (texts over 1 MiB)

    [Theory]
    [InlineData("foo\\w+bar")]
    [InlineData("^foo")]
    [InlineData("b$")]
    [InlineData("[0-9]+")]
    [InlineData("\\bword\\b")]
    [InlineData("o\\s")]
    [InlineData("[^a-z0-9 y]")]
    [InlineData("foo2bar$\nxx")]
    public void LargeTextsMatchTheReference(string pattern)
    {
        var data = BigText(pattern.Length, 3 * MiB + 300_000);
        var result = AssertLikeReference(data, [pattern], new SearchOptions());
        Assert.Contains(result.Lines!, l => l.Offset > 2 * MiB); // 64-bit offsets are absolute, past the first chunks
    }

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(1, 0, 0)]
    [InlineData(0, 1, 0)]
    [InlineData(2, 3, 0)]
    [InlineData(3, 3, 0)]
    [InlineData(3, 2, 1500)]
    [InlineData(1, 3, 2500)]
    public void ContextAcrossChunkEdgesMatchesTheReference(int before, int after, long maxCount)
    {
        var data = BigText(7, 4 * MiB);
        AssertLikeReference(data, ["^foo(9bar| cluster)"], new SearchOptions { Before = before, After = after, MaxCount = maxCount });
    }

    /// <summary>Text whose byte 1 MiB (the first chunk's end) falls at <paramref name="shift"/> from the start of "foo123bar" in a line.</summary>
    private static byte[] StraddlingText(int shift, string line)
    {
        var sb = new StringBuilder();
        int target = MiB - shift;
        int lineNumber = 0;
        while (sb.Length < target - 200) sb.Append("filler line ").Append(lineNumber++ % 1000).Append('\n');
        // Pad with a line so the match starts exactly at target.
        int pad = target - sb.Length - line.IndexOf("foo", StringComparison.Ordinal) - 1;
        sb.Append('p', pad).Append('\n').Append(line).Append('\n');
        sb.Append("after foo1bar\n");
        while (sb.Length < MiB + 20_000) sb.Append("more ").Append(lineNumber++ % 77 == 0 ? "foo7bar" : "x").Append('\n');
        var data = Encoding.ASCII.GetBytes(sb.ToString());
        Assert.Equal((byte)'f', data[target]);
        return data;
    }

    [Theory]
    [InlineData(-2)]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(10)]
    [InlineData(11)]
    public void ALineStraddlingTheFirstChunkEdgeIsFound(int shift)
    {
        // shift 9: the chunk ends right after "foo123bar", before "\r"; 10: between "\r" and "\n"; 11: after "\n".
        var data = StraddlingText(shift, "foo123bar\r");
        var result = AssertLikeReference(data, ["foo\\w+bar"], new SearchOptions { Before = 1, After = 1 });
        var line = Assert.Single(result.Lines!, l => l.Offset == MiB - shift);
        Assert.True(line.IsMatch);
        Assert.Equal((0L, 9L), Assert.Single(line.Spans));
        AssertLikeReference(data, ["\\r$", "^p+$"], new SearchOptions { After = 2 });
    }

    [Theory]
    [InlineData(MiB + MiB / 2, true)]
    [InlineData(MiB * 5 / 2, true)]
    [InlineData(MiB * 5 / 2, false)]
    [InlineData(MiB - 3, true)]
    [InlineData(MiB, true)]
    public void ALineLongerThanTheChunkGrowsTheBuffer(int length, bool trailingNewline)
    {
        var sb = new StringBuilder("first\nfoo1bar before\n");
        int start = sb.Length;
        sb.Append("start foo2bar ").Append('y', length - 26).Append(" foo3bar end");
        Assert.Equal(length, sb.Length - start);
        if (trailingNewline) sb.Append("\nafter foo4bar\nlast");
        var data = Encoding.ASCII.GetBytes(sb.ToString());
        var result = AssertLikeReference(data, ["foo\\dbar"], new SearchOptions { Before = 1, After = 1 });
        var longLine = Assert.Single(result.Lines!, l => l.Text.Length == length);
        Assert.Equal(3, longLine.Number);
        Assert.Equal(start, longLine.Offset);
        Assert.Equal([(6L, 13L), (length - 11L, length - 4L)], longLine.Spans);
        AssertLikeReference(data, ["end$"], new SearchOptions { Before = 2 });
        AssertLikeReference(data, ["^y"], new SearchOptions());
    }

    [Fact]
    public void SeveralLongLinesKeptForBeforeContextGrowTheBuffer()
    {
        // Three lines of 700 KB kept as before-context do not fit the 1 MiB buffer with the next line.
        var sb = new StringBuilder();
        for (int k = 0; k < 6; k++) sb.Append('a', 700_000).Append(k).Append('\n');
        sb.Append("foo here\n").Append('b', 900_000).Append("\nfoo again");
        AssertLikeReference(Encoding.ASCII.GetBytes(sb.ToString()), ["foo"], new SearchOptions { Before = 3, After = 1 });
    }

    [Fact]
    public void MultibyteTextAcrossChunkEdgesMatchesTheReference()
    {
        // Mostly ASCII lines (fewer matches, a faster test), and every tenth line mixed.
        var rng = new Random(5);
        var output = new MemoryStream();
        while (output.Length < 2 * MiB + 100_000)
            output.Write(rng.Next(10) == 0 ? [.. GenMixed(rng, 1), (byte)'\n'] : B("plain ascii filler line with some words " + rng.Next() + "\n"));
        var data = output.ToArray();
        foreach (string pattern in new[] { "中文?\\s", "[^\\x00-\\x7f]+$", SearchPattern.Decode([0xFF]) })
            AssertLikeReference(data, [pattern], new SearchOptions { Before = 1, After = 1 });
    }

    [Fact]
    public void ALineLongerThan128MiBStopsTheFileWithAnError()
    {
        var data = new byte[FileSearcher.MaxLineBytes + 100];
        B("foo\n").CopyTo(data, 0);
        data.AsSpan(4).Fill((byte)'a');
        var result = Search(data, "foo");
        var row = Assert.Single(result.Files);
        Assert.Equal(FileSearcher.ErrnoLineTooLong, row.Errno);
        Assert.Equal(-2, row.Errno);
        Assert.Equal(FlagFinal, row.Flags);
        Assert.Equal(1, row.Matched);
        Assert.Equal(["1@0:foo [0-3]"], result.Shown);
    }

    // ================================================================ binary files

    [Fact]
    public void ANulByteMakesTheFileBinaryAndUnsearched()
    {
        var result = Search("ab\0cd\nab\n", "ab");
        var row = Assert.Single(result.Files);
        Assert.Equal(FlagFinal | FlagBinary, row.Flags);
        Assert.Equal(0, row.Matched);
        Assert.Equal(0, row.Errno);
        Assert.Empty(result.Lines!);
        // Also when nothing would match, and in count-only mode.
        Assert.Equal(FlagFinal | FlagBinary, Assert.Single(Search("zz\0", "nothing").Files).Flags);
        var counted = Parse(SearchRaw(SearchPattern.Compile(["ab"], 0), new SearchOptions { CountOnly = true }, B("ab\0")));
        Assert.Equal(FlagFinal | FlagBinary, Assert.Single(counted.Files).Flags);
    }

    [Fact]
    public void BinaryFilesAreSearchedWhenAsked()
    {
        var result = Search("ab\0cd\nab\n", "ab", new SearchOptions { Binary = true });
        Assert.Equal(["1@0:ab\\x00cd [0-2]", "2@6:ab [0-2]"], result.Shown);
        Assert.Equal(FlagFinal, Assert.Single(result.Files).Flags);
        Assert.Equal(["1@0:a\\x00b [1-2]"], Search("a\0b\n", "\0", new SearchOptions { Binary = true }).Shown);
    }

    [Theory]
    [InlineData("a\0b", "\\x00", true, 1, 2)]
    [InlineData("xAx", "\\x41", false, 1, 2)]
    [InlineData("café", "caf\\u00e9", false, 0, 5)]
    [InlineData("a-b", "a\\x2db", false, 0, 3)]
    public void HexEscapesMatchTheCharTheyName(string line, string pattern, bool binary, long start, long end)
    {
        var found = Assert.Single(Search(line + "\n", pattern, new SearchOptions { Binary = binary }).Lines!);
        Assert.Equal((start, end), Assert.Single(found.Spans));
    }

    [Fact]
    public void ANulAfterTheFirstChunkKeepsTheEarlierMatches()
    {
        var sb = new StringBuilder("foo first\n");
        while (sb.Length < MiB + 1000) sb.Append("filler\n");
        sb.Append("foo \0 late\nfoo last\n");
        var result = Search(sb.ToString(), "foo");
        var row = Assert.Single(result.Files);
        Assert.Equal(FlagFinal | FlagBinary, row.Flags);
        Assert.Equal(["1@0:foo first [0-3]"], result.Shown);
        Assert.Equal(1, row.Matched);
    }

    // ================================================================ count-only, max_count, max_filesize, options

    [Fact]
    public void CountOnlyGivesOnlyTheFilesTable()
    {
        var tables = SearchRaw(SearchPattern.Compile(["o"], 0), new SearchOptions { CountOnly = true, Before = 2, After = 2 }, B("one\ntwo\nsix\nfour"));
        var only = Assert.Single(tables);
        Assert.Equal(FileSearcher.KindFiles, only.Kind);
        var row = Assert.Single(Parse(tables).Files);
        Assert.Equal(3, row.Matched);
        Assert.Equal(FlagFinal, row.Flags);
    }

    [Fact]
    public void CountOnlyOverALargeTextCountsEveryMatchingLine()
    {
        var data = BigText(3, 3 * MiB);
        foreach (string pattern in new[] { "foo", "^$" })
        {
            var (_, matched) = Reference(data, ReferenceRegex([pattern], 0), new SearchOptions());
            var row = Assert.Single(Parse(SearchRaw(SearchPattern.Compile([pattern], 0), new SearchOptions { CountOnly = true }, data)).Files);
            Assert.Equal(matched, row.Matched);
        }
    }

    [Fact]
    public void MaxCountStopsTheFileAndFlagsIt()
    {
        var result = Search("foo\nfoo\nbar\nfoo\n", "foo", new SearchOptions { MaxCount = 2 });
        Assert.Equal(["1@0:foo [0-3]", "2@4:foo [0-3]"], result.Shown);
        var row = Assert.Single(result.Files);
        Assert.Equal(2, row.Matched);
        Assert.Equal(FlagFinal | FlagMaxCount, row.Flags);
        Assert.Equal(FlagFinal, Assert.Single(Search("foo\nfoo\n", "foo", new SearchOptions { MaxCount = 3 }).Files).Flags);
    }

    [Fact]
    public void MaxCountKeepsTheAfterContextOfTheLastMatch()
    {
        var result = Search("foo1\nfoo2\nbar\nfoo3\nbaz\n", "foo", new SearchOptions { MaxCount = 2, After = 2 });
        // The trailing context may hold a matching line: it is context, not counted.
        Assert.Equal(["1@0:foo1 [0-3]", "2@5:foo2 [0-3]", "3@10-bar []", "4@14-foo3 []"], result.Shown);
        Assert.Equal(2, Assert.Single(result.Files).Matched);
    }

    [Fact]
    public void MaxCountAfterContextCrossesAChunkEdge()
    {
        var sb = new StringBuilder();
        while (sb.Length < MiB - 30) sb.Append("zzzzzzzz\n");
        sb.Append("foo hit\n");
        while (sb.Length < MiB + 200) sb.Append("ctx\n");
        sb.Append("foo later\n");
        var data = Encoding.ASCII.GetBytes(sb.ToString());
        var result = AssertLikeReference(data, ["foo"], new SearchOptions { MaxCount = 1, After = 20 });
        Assert.Equal(21, result.Lines!.Count);
        Assert.Contains(result.Lines, l => l.Offset >= MiB);
    }

    [Fact]
    public void FilesOverMaxFileSizeAreNotSearched()
    {
        var data = B("foo\nfoo\n");
        var result = Search(data, "foo", new SearchOptions { MaxFileSize = data.Length - 1 });
        var row = Assert.Single(result.Files);
        Assert.Equal(FlagFinal | FlagTooLarge, row.Flags);
        Assert.Equal(0, row.Matched);
        Assert.Empty(result.Lines!);
        Assert.Equal(2, Assert.Single(Search(data, "foo", new SearchOptions { MaxFileSize = data.Length }).Files).Matched);
        Assert.Equal(FlagFinal | FlagTooLarge, Assert.Single(Search(data, "nomatch", new SearchOptions { MaxFileSize = 1 }).Files).Flags);
    }

    [Theory]
    [InlineData(-1, 0, 0, 0)]
    [InlineData(0, -1, 0, 0)]
    [InlineData(0, 0, -1, 0)]
    [InlineData(0, 0, 0, -1)]
    public void NegativeOptionsAreRefused(int before, int after, long maxCount, long maxFileSize)
    {
        var options = new SearchOptions { Before = before, After = after, MaxCount = maxCount, MaxFileSize = maxFileSize };
        Assert.Throws<ArgumentException>(options.Validate);
        var pattern = SearchPattern.Compile(["a"], 0);
        Assert.Throws<ArgumentException>(() => SearchRaw(pattern, options, B("a\n")));
        string file = _tree.File("a.txt", "a\n");
        Assert.Throws<ArgumentException>(() => new SearchJob(FileSource.FromList([B(file)]), pattern, options, 1).Dispose());
    }

    [Fact]
    public void NoPatternsIsAnError() =>
        Assert.Throws<ArgumentException>(() => SearchPattern.Compile([], 0));

    // ================================================================ the dialect

    [Theory]
    [InlineData("(?P<name>ab)", "(?<name>ab)")]
    [InlineData("(?P<a>x)|(?P<b>y)", "(?<a>x)|(?<b>y)")]
    [InlineData("a{,3}", "a{0,3}")]
    [InlineData("x{,10}y{,2}", "x{0,10}y{0,2}")]
    [InlineData("a{,}", "a{0,}")] // Python reads "{,}" as "{0,}"
    [InlineData("\\Aab", "^ab")]
    [InlineData("ab\\Z", "ab$")]
    [InlineData("ab\\z", "ab$")]
    [InlineData("[]a]", "[\\]a]")]
    [InlineData("[^]a]", "[^\\]a]")]
    // Left alone: classes, escapes, and what is not the Python form.
    [InlineData("[{,3}]", "[{,3}]")]
    [InlineData("\\{,3}", "\\{,3}")]
    [InlineData("a{,x}", "a{,x}")]
    [InlineData("a{2,}", "a{2,}")]
    [InlineData("\\\\A", "\\\\A")]
    [InlineData("[(?P<]", "[(?P<]")]
    [InlineData("(?<n>a)(?i:b)", "(?<n>a)(?i:b)")]
    [InlineData("\\(?=", "\\(?=")]
    [InlineData("[(?=]", "[(?=]")]
    [InlineData("[\\]\\1]x", "[\\]\\1]x")]
    public void TheDialectIsRewrittenToDotNet(string pattern, string expected)
    {
        Assert.Equal(expected, RegexDialect.Translate(pattern, out var origins));
        Assert.Equal(expected.Length, origins.Length);
        Assert.All(origins, o => Assert.InRange(o, 0, pattern.Length - 1));
        Assert.True(origins.SequenceEqual(origins.Order()), "origins go forward");
    }

    [Fact]
    public void OriginsPointBackAtTheUsersChars()
    {
        Assert.Equal("(?<n>x)a{0,2}", RegexDialect.Translate("(?P<n>x)a{,2}", out var origins));
        Assert.Equal([0, 0, 0, 4, 5, 6, 7, 8, 9, 9, 10, 11, 12], origins);
    }

    [Theory]
    [InlineData("ab\\1", 2)]
    [InlineData("(a)\\2x", 3)]
    [InlineData("\\k<n>", 0)]
    [InlineData("x\\k'n'", 1)]
    [InlineData("(?P<n>a)(?P=n)", 8)]
    [InlineData("a(?=b)", 1)]
    [InlineData("(?!x)", 0)]
    [InlineData("x(?<=y)", 1)]
    [InlineData("xy(?<!y)", 2)]
    [InlineData("ab(?>c)", 2)]
    [InlineData("(?(a)b|c)", 0)]
    [InlineData("a\\G", 1)]
    [InlineData("[x](?=y)", 3)]
    [InlineData("\\((?=y)", 2)]
    [InlineData("[]](?=y)", 3)]
    public void RefusedConstructsNameTheirPosition(string pattern, int position)
    {
        var refused = Assert.Throws<RegexDialect.PatternException>(() => RegexDialect.Translate(pattern, out _));
        Assert.Equal(position, refused.Position);
        Assert.Contains("not supported", refused.Message);

        var error = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile([pattern], 0));
        Assert.Equal(0, error.PatternIndex);
        Assert.Equal(position, error.Position);
        // The second of several patterns, and a later line of one pattern.
        error = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["ok", "fine", pattern], 0));
        Assert.Equal(2, error.PatternIndex);
        Assert.Equal(position, error.Position);
        error = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["ok", "abc\n" + pattern], 0));
        Assert.Equal(1, error.PatternIndex);
        Assert.Equal(4 + position, error.Position);
    }

    [Theory]
    [InlineData("\\(?=", "=", true)]
    [InlineData("\\(?=", "(=", true)]
    [InlineData("[(?=]", "?", true)]
    [InlineData("[(?<=]x", "<x", true)]
    [InlineData("\\\\1", "\\1", true)]
    [InlineData("(?<name>ab)c", "abc", true)]
    [InlineData("(?'name'ab)c", "abc", true)]
    [InlineData("(?P<name>ab)c", "xabc", true)]
    [InlineData("(?#note)ab", "ab", true)]
    [InlineData("a{,2}b", "aab", true)]
    [InlineData("^a{,2}b$", "aaab", false)]
    [InlineData("\\Aab\\Z", "ab", true)]
    [InlineData("\\Aab\\z", "xab", false)]
    public void EscapedOrClassedConstructsAreAccepted(string pattern, string line, bool matches)
    {
        var result = Search(line + "\n", pattern);
        Assert.Equal(matches, result.Files.Count == 1);
    }

    [Theory]
    [InlineData("a(b", 1, 3)]
    [InlineData("[z-a]", 1, 4)]
    [InlineData("*a", 0, 1)]
    [InlineData("a)", 1, 2)]
    [InlineData("a{2,1}", 1, 6)]
    [InlineData("a\\", 1, 2)]
    [InlineData("a**", 1, 3)]
    public void InvalidRegexesThrowWithAPosition(string pattern, int low, int high)
    {
        var error = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile([pattern], 0));
        Assert.Equal(0, error.PatternIndex);
        Assert.InRange(error.Position, low, high);
        Assert.Contains("position " + error.Position, error.Message);

        var second = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["fine", pattern, "also(fine)"], 0));
        Assert.Equal(1, second.PatternIndex);
        Assert.Equal(error.Position, second.Position);
        var line = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["ok\n" + pattern], 0));
        Assert.Equal(3 + error.Position, line.Position);
        // The same pattern as fixed strings is just text.
        Assert.Single(Search(pattern + "\n", pattern, flags: SearchPatternFlags.FixedStrings).Lines!);
    }

    [Fact]
    public void ErrorPositionsAreInTheUsersPatternAfterARewrite()
    {
        var python = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["(?P<n>a)[z-a]"], 0));
        var dotnet = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["(?<n>a)[z-a]"], 0));
        Assert.Equal(dotnet.Position + 1, python.Position);
        var repeat = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["x{,2}[z-a]"], 0));
        var plain = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["x{0,2}[z-a]"], 0));
        Assert.Equal(plain.Position - 1, repeat.Position);
        Assert.Equal("(?P<n>a".Length, Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["(?P<n>a"], 0)).Position);
    }

    [Theory]
    [InlineData("hello", false)]
    [InlineData("Hello", true)]
    [InlineData("\\Whello", false)]
    [InlineData("\\p{Lu}x", false)]
    [InlineData("\\P{L}x", false)]
    [InlineData("(?P<Name>x)", false)]
    [InlineData("(?<Name>x)", false)]
    [InlineData("(?'Name'x)", false)]
    [InlineData("(?P<n>X)", true)]
    [InlineData("(?<=A)x", true)]
    [InlineData("[A-Z]", true)]
    [InlineData("\\\\A", true)]
    [InlineData("\\D\\S\\B\\W", false)]
    [InlineData("é", false)]
    [InlineData("É", true)]
    public void SmartCaseLooksForLiteralUppercase(string pattern, bool upper) =>
        Assert.Equal(upper, RegexDialect.HasLiteralUppercase(pattern));

    [Theory]
    [InlineData("hello", SearchPatternFlags.SmartCase, "say HELLO", true)]
    [InlineData("Hello", SearchPatternFlags.SmartCase, "say hello", false)]
    [InlineData("Hello", SearchPatternFlags.SmartCase, "say Hello", true)]
    [InlineData("\\Whello", SearchPatternFlags.SmartCase, "say HELLO", true)]
    [InlineData("(?P<Word>hello)", SearchPatternFlags.SmartCase, "HeLLo", true)]
    [InlineData("hello", SearchPatternFlags.None, "HELLO", false)]
    [InlineData("Hello", SearchPatternFlags.IgnoreCase, "hELLO", true)]
    [InlineData("Hello", SearchPatternFlags.IgnoreCase | SearchPatternFlags.SmartCase, "hELLO", true)]
    [InlineData("a.B", SearchPatternFlags.FixedStrings | SearchPatternFlags.SmartCase, "a.b", false)]
    [InlineData("a.B", SearchPatternFlags.FixedStrings | SearchPatternFlags.SmartCase, "a.B", true)]
    [InlineData("a.b", SearchPatternFlags.FixedStrings | SearchPatternFlags.SmartCase, "A.B", true)]
    [InlineData("a.b", SearchPatternFlags.FixedStrings | SearchPatternFlags.SmartCase, "axb", false)]
    [InlineData("\\W", SearchPatternFlags.FixedStrings | SearchPatternFlags.SmartCase, "\\w", false)]
    [InlineData("\\W", SearchPatternFlags.FixedStrings | SearchPatternFlags.SmartCase, "x\\W", true)]
    [InlineData("\\W", SearchPatternFlags.FixedStrings | SearchPatternFlags.SmartCase, " ", false)]
    [InlineData("café", SearchPatternFlags.SmartCase, "CAFÉ", true)]
    public void CaseFlagsDecideWhatMatches(string pattern, SearchPatternFlags flags, string line, bool matches) =>
        Assert.Equal(matches, Search(line + "\n", pattern, flags: flags).Files.Count == 1);

    [Theory]
    [InlineData("x\\x2Dy", "X-Y")]
    [InlineData("caf\\u00E9", "CAFÉ")]
    [InlineData("\\xAB", "\u00ab")]
    public void SmartCaseIgnoresTheDigitsOfHexEscapes(string pattern, string line)
    {
        // "\x2D" is "-" and "\u00E9" is "é": no uppercase letter stands for itself, as with "\x2d" and "\u00e9".
        Assert.False(RegexDialect.HasLiteralUppercase(pattern));
        Assert.Single(Search(line + "\n", pattern, flags: SearchPatternFlags.SmartCase).Lines!);
    }

    [Fact]
    public void SmartCaseWithLowercaseHexEscapesIgnoresCase()
    {
        Assert.Single(Search("X-Y\n", "x\\x2dy", flags: SearchPatternFlags.SmartCase).Lines!);
        Assert.Single(Search("CAFÉ\n", "caf\\u00e9", flags: SearchPatternFlags.SmartCase).Lines!);
    }

    [Fact]
    public void ConstructsTheLinearEngineRefusesAreSearchPatternErrors()
    {
        // A balancing group, which NonBacktracking cannot run: an error naming the pattern and the group's start.
        var error = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["ok", "(?<b>x)(?<a-b>y)"], 0));
        Assert.Equal(1, error.PatternIndex);
        Assert.Equal(7, error.Position);
        Assert.Contains("balancing groups are not supported", error.Message);
        var later = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["ok\n(?<b>x)(?'a-b'y)"], 0));
        Assert.Equal(10, later.Position);
        Assert.Equal(0, Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["(?P<a-b>y)"], 0)).Position);
    }

    [Fact]
    public void SmartCaseIsPerPattern()
    {
        var pattern = SearchPattern.Compile(["Foo", "bar"], SearchPatternFlags.SmartCase);
        var result = Parse(SearchRaw(pattern, new SearchOptions(), B("foo\nFoo\nBAR\nfOO bAr\n")));
        Assert.Equal([2L, 3, 4], result.Lines!.Select(l => l.Number));
        // A pattern's lines are pieces with their own case: "bar\nFoo" as one pattern.
        var pieces = SearchPattern.Compile(["bar\nFoo"], SearchPatternFlags.SmartCase);
        Assert.Equal([2L, 3, 4], Parse(SearchRaw(pieces, new SearchOptions(), B("foo\nFoo\nBAR\nfOO bAr\n"))).Lines!.Select(l => l.Number));
    }

    // ================================================================ linear time

    [Theory]
    [InlineData("(a+)+$", false)]
    [InlineData("(a|aa)+$", false)]
    [InlineData("(a|a?)+b", false)]
    [InlineData("(.*a){12}", true)]
    [InlineData("^(a+)+b", false)]
    [InlineData("(\\w+\\s?)+$", false)]
    [InlineData("(a*)*(b|a{,3})*c", false)]
    public void PathologicalPatternsRunInLinearTime(string pattern, bool matches)
    {
        var data = B(new string('a', 30_000) + "!\n" + new string('a', 30_000) + "!");
        var clock = Stopwatch.StartNew();
        var result = Search(data, pattern);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Equal(matches ? 2 : 0, result.Lines!.Count);
    }

    // ================================================================ the parallel job over files

    private static List<IReadOnlyList<ResultTable>> Drain(FileJob job, int timeoutMs = 30_000)
    {
        var sets = new List<IReadOnlyList<ResultTable>>();
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            Assert.True(Environment.TickCount64 < deadline, "the job did not finish in time");
            if (job.TryTake(5000, out var tables)) return sets;
            if (tables is not null) sets.Add(tables);
        }
    }

    /// <summary>Rows of every set; checks that each line's file has a files row in the line's own set.</summary>
    private static (List<FileRow> Files, List<LineRow> Lines) Collect(List<IReadOnlyList<ResultTable>> sets)
    {
        var files = new List<FileRow>();
        var lines = new List<LineRow>();
        foreach (var set in sets)
        {
            var result = Parse(set);
            var ids = result.Files.Select(f => f.FileId).ToHashSet();
            if (result.Lines is not null)
            {
                Assert.All(result.Lines, l => Assert.Contains(l.FileId, ids));
                lines.AddRange(result.Lines);
            }
            files.AddRange(result.Files);
        }
        return (files, lines);
    }

    private string WriteFile(string relative, byte[] content)
    {
        string path = Path.Combine(_tree.Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(2, true)]
    public void AJobOverATreeFindsWhatSearchBufferFinds(int threads, bool countOnly)
    {
        var rng = new Random(threads);
        var contents = new Dictionary<string, byte[]>();
        void Put(string relative, byte[] data) => contents[WriteFile(relative, data)] = data;
        for (int k = 0; k < 12; k++) Put($"d{k % 3}/f{k}.txt", GenText(rng, rng.Next(0, 60)));
        Put("big.txt", BigText(11, 2 * MiB + 12345));
        Put("empty.txt", []);
        Put("bin/nul.dat", B("foo\0bar\n"));
        Put("mixed.txt", GenMixed(rng, 50));

        var pattern = SearchPattern.Compile(["foo\\w*", "^a"], 0);
        var options = new SearchOptions { CountOnly = countOnly, Before = countOnly ? 0 : 1, After = countOnly ? 0 : 2 };
        using var job = new SearchJob(FileSource.FromTree(_tree.RootBytes, new WalkOptions()), pattern, options, threads);
        var (all, lines) = Collect(Drain(job));
        // A file's rows: non-final ones when 8192 line rows (of any files) piled up while it was searched, then its final one.
        var files = all.GroupBy(f => f.FileId).Select(g => FinalRow(g.ToList())).ToList();
        Assert.Equal(files.Count, files.Select(f => f.Index).Distinct().Count());
        Assert.Equal(files.Count, files.Select(f => f.Name).Distinct().Count());

        foreach (var (path, data) in contents)
        {
            var expected = Parse(SearchRaw(pattern, options, data, path));
            var row = files.SingleOrDefault(f => f.Name == path);
            if (expected.Files.Count == 0)
            {
                Assert.Null(row);
                continue;
            }
            Assert.NotNull(row);
            var want = FinalRow(expected.Files);
            Assert.Equal((want.Matched, want.Errno, want.Flags), (row.Matched, row.Errno, row.Flags));
            if (!countOnly)
                Assert.Equal(expected.Shown, lines.Where(l => l.FileId == row.FileId).Select(l => l.ToString()));
        }
        Assert.Equal(FlagFinal | FlagBinary, files.Single(f => f.Name.EndsWith("nul.dat")).Flags);
        if (countOnly) Assert.Empty(lines);
    }

    [Fact]
    public void AJobOverAListReportsMissingFilesAndDirectories()
    {
        string a = _tree.File("a.txt", "foo\nbar\n");
        string b = _tree.File("b.txt", "nothing\n");
        string c = _tree.File("c.txt", "x foo\n");
        string big = _tree.File("big.txt", "foo\nfoo\nfoo\n");
        string dir = _tree.Dir("sub");
        string missing = Path.Combine(_tree.Root, "missing.txt");
        var paths = new[] { a, missing, dir, b, c, big }.Select(B).ToList();
        using var job = new SearchJob(FileSource.FromList(paths), SearchPattern.Compile(["foo"], 0), new SearchOptions { MaxFileSize = 10 }, 2);
        var (files, lines) = Collect(Drain(job));
        var byIndex = files.ToDictionary(f => f.Index);
        Assert.Equal([0L, 1, 2, 4, 5], byIndex.Keys.Order());
        Assert.Equal((1L, 0L, (long)FlagFinal, a), (byIndex[0].Matched, byIndex[0].Errno, byIndex[0].Flags, byIndex[0].Name));
        Assert.Equal((0L, (long)ENOENT, (long)FlagFinal, missing), (byIndex[1].Matched, byIndex[1].Errno, byIndex[1].Flags, byIndex[1].Name));
        Assert.Equal((0L, (long)EISDIR, (long)FlagFinal, dir), (byIndex[2].Matched, byIndex[2].Errno, byIndex[2].Flags, byIndex[2].Name));
        Assert.Equal((1L, 0L, (long)FlagFinal), (byIndex[4].Matched, byIndex[4].Errno, byIndex[4].Flags));
        Assert.Equal((0L, 0L, (long)(FlagFinal | FlagTooLarge)), (byIndex[5].Matched, byIndex[5].Errno, byIndex[5].Flags));
        Assert.Equal(["1@0:foo [0-3]"], lines.Where(l => l.FileId == byIndex[0].FileId).Select(l => l.ToString()));
        Assert.Equal(["1@0:x foo [2-5]"], lines.Where(l => l.FileId == byIndex[4].FileId).Select(l => l.ToString()));
        Span<long> progress = stackalloc long[4];
        job.ReadProgress(progress);
        Assert.Equal(4, progress[0]); // files searched (the too-large one counts as handled)
        Assert.Equal(2, progress[2]); // errors
    }

    [Fact]
    public void AFileWithManyMatchingLinesStreamsInSeveralSets()
    {
        const int Lines = 20_000;
        var sb = new StringBuilder();
        for (int k = 0; k < Lines; k++) sb.Append("match ").Append(k % 10).Append(" ok 7\n");
        var data = B(sb.ToString());
        string path = WriteFile("many.txt", data);
        var pattern = SearchPattern.Compile(["match", "\\d"], 0);
        using var job = new SearchJob(FileSource.FromList([B(path)]), pattern, new SearchOptions(), 1);
        var sets = Drain(job);
        Assert.True(sets.Count >= 3, $"{sets.Count} sets");
        long seen = 0;
        for (int s = 0; s < sets.Count; s++)
        {
            var result = Parse(sets[s]); // checks first-span indices against this set's spans table
            seen += result.Lines!.Count;
            var row = Assert.Single(result.Files);
            bool last = s == sets.Count - 1;
            Assert.Equal(last ? FlagFinal : 0, row.Flags);
            Assert.Equal(seen, row.Matched); // matches so far (every line matches, no context)
            foreach (var line in result.Lines!)
            {
                long k = line.Number - 1;
                Assert.Equal(k * 13, line.Offset);
                Assert.Equal([(0L, 5L), (6L, 7L), (11L, 12L)], line.Spans);
            }
            if (s > 0) Assert.True(result.SpanRows > 0 && result.Lines.Count > 0);
        }
        Assert.Equal(Lines, seen);

        // SearchBuffer hands the same rows over as one set: span indices shifted past the earlier sets'.
        var merged = Parse(SearchRaw(pattern, new SearchOptions(), data));
        Assert.Equal(Lines, merged.Lines!.Count);
        Assert.All(merged.Lines, l => Assert.Equal([(0L, 5L), (6L, 7L), (11L, 12L)], l.Spans));
        Assert.Equal(Lines, merged.Lines.Select(l => l.Number).Distinct().Count());
        var final = Assert.Single(merged.Files, f => (f.Flags & FlagFinal) != 0);
        Assert.Equal(Lines, final.Matched);
    }

    [Fact]
    public void SearchBufferGivesOneFilesRow()
    {
        var result = Search(string.Concat(Enumerable.Repeat("foo\n", 20_000)), "foo");
        var row = Assert.Single(result.Files);
        Assert.Equal((20_000L, (long)FlagFinal), (row.Matched, row.Flags));
    }

    [Fact]
    public void ContextLinesCountTowardsAMidFileHandOver()
    {
        // One match in 4 lines with 3 lines of context: 19997 line rows (no after-context), 5000 matches.
        var sb = new StringBuilder();
        for (int k = 0; k < 20_000; k++) sb.Append(k % 4 == 0 ? "hit\n" : "ctx\n");
        string path = WriteFile("ctx.txt", B(sb.ToString()));
        using var job = new SearchJob(FileSource.FromList([B(path)]), SearchPattern.Compile(["hit"], 0), new SearchOptions { Before = 3 }, 1);
        var sets = Drain(job);
        Assert.True(sets.Count >= 3, $"{sets.Count} sets");
        var (files, lines) = Collect(sets);
        Assert.Equal(Enumerable.Range(1, 19_997).Select(n => (long)n), lines.Select(l => l.Number));
        Assert.Equal(5000, files[^1].Matched);
        Assert.Equal(FlagFinal, files[^1].Flags);
        Assert.All(files.SkipLast(1), f => Assert.Equal(0, f.Flags));
    }

    [Fact]
    public void CancelStopsARunningJobPromptly()
    {
        var sb = new StringBuilder();
        while (sb.Length < 2 * MiB) sb.Append("some words here and there ").Append(sb.Length % 997 == 0 ? "foo" : "bar").Append('\n');
        string file = WriteFile("big.txt", B(sb.ToString()));
        var job = new SearchJob(FileSource.FromList(Enumerable.Repeat(B(file), 20_000).ToList()), SearchPattern.Compile(["fo+\\b"], 0), new SearchOptions(), 2);
        Span<long> progress = stackalloc long[4];
        long deadline = Environment.TickCount64 + 10_000;
        do
        {
            Assert.True(Environment.TickCount64 < deadline, "nothing was searched");
            Thread.Sleep(5);
            job.ReadProgress(progress);
        } while (progress[1] == 0);
        var clock = Stopwatch.StartNew();
        job.Cancel();
        Assert.Throws<OperationCanceledException>(() => job.TryTake(5000, out _));
        job.Dispose();
        Assert.True(clock.ElapsedMilliseconds < 3000, $"cancel and dispose took {clock.ElapsedMilliseconds} ms");
        Span<long> before = stackalloc long[4], after = stackalloc long[4];
        job.ReadProgress(before);
        Thread.Sleep(300);
        job.ReadProgress(after);
        Assert.Equal(before.ToArray(), after.ToArray());
        Assert.True(after[0] < 10_000, $"{after[0]} files were searched");
    }

    [Fact]
    public void CancelReleasesWorkersWaitingToHandOverMidFile()
    {
        var sb = new StringBuilder();
        for (int k = 0; k < 30_000; k++) sb.Append("foo\n");
        string file = WriteFile("foo.txt", B(sb.ToString()));
        var job = new SearchJob(FileSource.FromList(Enumerable.Repeat(B(file), 200).ToList()), SearchPattern.Compile(["foo"], 0), new SearchOptions(), 2);
        // Nothing is taken: the workers fill the output (8 sets) and wait in the middle of a file.
        Thread.Sleep(500);
        Span<long> progress = stackalloc long[4];
        var clock = Stopwatch.StartNew();
        job.Cancel();
        job.Dispose();
        Assert.True(clock.ElapsedMilliseconds < 3000, $"cancel and dispose took {clock.ElapsedMilliseconds} ms");
        Assert.Throws<OperationCanceledException>(() => job.TryTake(0, out _));
        job.ReadProgress(progress);
        Assert.True(progress[0] < 200, $"{progress[0]} files were searched");
    }
    // ================================================================ literal lists, size limits, cancel inside a file

    [Fact]
    public void LiteralsOfAnyLengthAndNumberSearchLikeTheReference()
    {
        var rng = new Random(7);
        string RandomWord(int length) => new(Enumerable.Range(0, length).Select(_ => (char)('a' + rng.Next(26))).ToArray());
        string longLiteral = RandomWord(10_000);
        var words = Enumerable.Range(0, 3000).Select(_ => RandomWord(rng.Next(3, 12))).ToList();
        var text = new StringBuilder();
        for (int i = 0; i < 6; i++) text.Append(RandomWord(i)).Append(longLiteral[..^(i % 2)]).Append(i % 3 == 0 ? longLiteral : "").Append('\n');
        byte[] longLines = B(text.ToString());
        text.Clear();
        for (int i = 0; i < 300; i++)
            text.Append(RandomWord(rng.Next(0, 40))).Append(' ').Append(words[rng.Next(words.Count)].ToUpperInvariant()).Append('\n');
        byte[] shortLines = B(text.ToString());
        // These failed to compile: one NonBacktracking regex over 10,000 automaton nodes.
        Assert.Equal(4, AssertLikeReference(longLines, [longLiteral], new SearchOptions(), SearchPatternFlags.FixedStrings).Lines!.Count);
        Assert.Equal(300, AssertLikeReference(shortLines, words, new SearchOptions(), SearchPatternFlags.FixedStrings | SearchPatternFlags.IgnoreCase).Lines!.Count);
        AssertLikeReference(shortLines, words, new SearchOptions { Before = 1 }, SearchPatternFlags.SmartCase); // plain-text regexes
        AssertLikeReference(shortLines, words, new SearchOptions(), SearchPatternFlags.FixedStrings);
        var many = Enumerable.Range(0, 100_000).Select(i => $"w{i}x").Append(longLiteral).ToList();
        var counted = Parse(SearchRaw(SearchPattern.Compile(many, SearchPatternFlags.FixedStrings), new SearchOptions { CountOnly = true }, longLines));
        Assert.Equal(4, FinalRow(counted.Files).Matched);
    }

    [Fact]
    public void RandomLiteralListsMatchTheReference()
    {
        // Overlapping literals, prefixes of one another, empty ones, repeats and case variants, over text with
        // case-folding corner cases (the Kelvin sign, sharp s, final sigma), a non-BMP character and raw bytes.
        string[] pieces = ["a", "ab", "abc", "b", "ba", "", "A", "AB", "k", "K", "\u212A", "\u00DF", "\u1E9E", "\u03C3", "\u03C2", "\u03A3", "\u00E9", "\u00C9", "\U0001F600", "\uDCE9", " "];
        for (int seed = 0; seed < 400; seed++)
        {
            var rng = new Random(seed);
            string Piece() => pieces[rng.Next(pieces.Length)];
            var literals = Enumerable.Range(0, rng.Next(1, 7)).Select(_ => string.Concat(Enumerable.Range(0, rng.Next(1, 4)).Select(_ => Piece()))).ToList();
            if (seed % 4 != 0) literals.RemoveAll(l => l.Length == 0);
            if (literals.Count == 0) literals.Add("ab");
            var text = new List<byte>();
            for (int line = rng.Next(0, 12); line > 0; line--)
            {
                for (int k = rng.Next(0, 12); k > 0; k--) text.AddRange(Piece() == "\uDCE9" ? [0xE9] : B(Piece()));
                text.Add((byte)'\n');
            }
            var flags = (seed % 3) switch { 0 => SearchPatternFlags.None, 1 => SearchPatternFlags.IgnoreCase, _ => SearchPatternFlags.SmartCase };
            // Regex mode reads the same literals when none holds a special character.
            if (seed % 2 == 0) flags |= SearchPatternFlags.FixedStrings;
            var options = new SearchOptions { After = rng.Next(2), MaxCount = rng.Next(3) };
            AssertLikeReference(text.ToArray(), literals, options, flags, $"seed {seed}, {flags}:");
        }
    }

    [Fact]
    public void AnOversizedRegexIsAPatternErrorNamingIt()
    {
        var alone = Assert.Throws<SearchPatternException>(() => SearchPattern.Compile(["ok", "x{100000}"], 0));
        Assert.Equal((1, 0), (alone.PatternIndex, alone.Position));
        Assert.Contains("too large", alone.Message);
        var together = Assert.Throws<SearchPatternException>(() =>
            SearchPattern.Compile(Enumerable.Range(0, 10).Select(i => $"p{i}x{{2000}}").ToList(), SearchPatternFlags.IgnoreCase));
        Assert.Equal((0, 0), (together.PatternIndex, together.Position));
        Assert.Contains("10 patterns together are too large", together.Message);
        // A long regex that is plain text is matched as a literal.
        Assert.Single(Search("x" + new string('a', 3000) + "\nb\n", new string('a', 3000)).Lines!);
    }

    [Fact]
    public void FoldingIgnoresCaseExactlyAsTheRegexEngineDoes()
    {
        var all = new string(Enumerable.Range(0, 0x10000).Select(c => (char)c).ToArray());
        var folded = new char[all.Length];
        SearchText.Fold(all, folded);
        var classes = Enumerable.Range(0, 0x10000).Where(c => !char.IsSurrogate((char)c)).GroupBy(c => folded[c]);
        foreach (var group in classes)
        {
            var regex = new Regex(Regex.Escape(((char)group.First()).ToString()), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
            Assert.Equal(group.ToList(), regex.Matches(all).Select(m => m.Index).ToList());
        }
    }

    [Theory]
    [InlineData("x[yz]", 100, 500)] // one 100 MiB line matching everywhere: its spans take seconds, on a pool thread
    [InlineData("z[q]", 100, 300)]  // the same line, the regex finds nothing in it (one long regex call)
    [InlineData("x[yz]", 0, 30)]    // no newline at all: the line grows until its 128 MiB limit
    public void CancelStopsASearchInsideAHugeLine(string pattern, int lineMiB, int waitMs)
    {
        string path = Path.Combine(_tree.Root, "huge.txt");
        using (var file = File.Create(path))
        {
            var block = B(string.Concat(Enumerable.Repeat("xyzw", MiB / 4)));
            for (int k = 0; k < (lineMiB == 0 ? 200 : lineMiB); k++) file.Write(block);
            if (lineMiB > 0) file.Write(B("\nshort\n"));
        }
        var job = new SearchJob(FileSource.FromList([B(path)]), SearchPattern.Compile([pattern], 0), new SearchOptions(), 1);
        Thread.Sleep(waitMs);
        var clock = Stopwatch.StartNew();
        job.Cancel();
        job.Dispose(); // waits for the worker, at most 2 s: before polling inside a file, it always took those 2 s
        Assert.True(clock.ElapsedMilliseconds < 1500, $"cancel and dispose took {clock.ElapsedMilliseconds} ms");
    }
}
