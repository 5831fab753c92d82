using System.Text;
using System.Text.RegularExpressions;

namespace Vega.Core.Search;

[Flags]
public enum SearchPatternFlags
{
    None = 0,
    /// <summary>Patterns are literal text, not regexes.</summary>
    FixedStrings = 1,
    IgnoreCase = 2,
    /// <summary>A pattern without an uppercase letter ignores case (per pattern, as ripgrep's --smart-case).</summary>
    SmartCase = 4,
}

/// <summary>A pattern the engine refuses: which one (an index into the caller's list) and where (a char index into it).</summary>
public sealed class SearchPatternException(string message, int patternIndex, int position) : ArgumentException(message)
{
    public int PatternIndex { get; } = patternIndex;
    public int Position { get; } = position;
}

/// <summary>
/// The compiled form of a search's patterns: one linear-time regex that matches where any of them does.
/// A pattern holding newlines is several patterns (as grep reads them), since no match can cross a line.
/// Immutable and safe to share between workers.
/// </summary>
public sealed class SearchPattern
{
    private const RegexOptions Options = RegexOptions.NonBacktracking | RegexOptions.Multiline | RegexOptions.CultureInvariant;

    public Regex Regex { get; }

    /// <summary>UTF-8 bytes that every match contains (a prefilter: lines without them are not searched), or null.</summary>
    public byte[]? RequiredLiteral { get; }

    /// <summary>The pattern is exactly <see cref="RequiredLiteral"/>: its matches are that literal's occurrences.</summary>
    public bool LiteralIsPattern { get; }

    private SearchPattern(Regex regex, string? literal = null, bool literalIsPattern = false)
    {
        Regex = regex;
        if (literal is null) return;
        RequiredLiteral = Encode(literal);
        LiteralIsPattern = literalIsPattern;
    }

    /// <summary>The bytes a literal stands for in the searched files: UTF-8, with escaped bytes (U+DC80..U+DCFF) as themselves.</summary>
    private static byte[] Encode(string literal)
    {
        var bytes = new List<byte>(literal.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < literal.Length; i++)
        {
            char c = literal[i];
            if (c is >= '\uDC80' and <= '\uDCFF') { bytes.Add((byte)(c - 0xDC00)); continue; }
            int length = char.IsHighSurrogate(c) && i + 1 < literal.Length && char.IsLowSurrogate(literal[i + 1])
                ? new Rune(c, literal[++i]).EncodeToUtf8(utf8)
                : Rune.TryCreate(c, out var rune) ? rune.EncodeToUtf8(utf8) : 0;
            if (length == 0) return [];
            foreach (byte b in utf8[..length]) bytes.Add(b);
        }
        return bytes.ToArray();
    }

    public static SearchPattern Compile(IReadOnlyList<string> patterns, SearchPatternFlags flags)
    {
        if (patterns.Count == 0) throw new ArgumentException("no patterns to search for");
        var pieces = new List<(string Regex, bool IgnoreCase)>();
        for (int index = 0; index < patterns.Count; index++)
        {
            string pattern = patterns[index];
            int offset = 0;
            foreach (string piece in pattern.Split('\n'))
            {
                bool fixedString = (flags & SearchPatternFlags.FixedStrings) != 0;
                bool ignoreCase = (flags & SearchPatternFlags.IgnoreCase) != 0 ||
                                  ((flags & SearchPatternFlags.SmartCase) != 0 &&
                                   !(fixedString ? piece.Any(char.IsUpper) : RegexDialect.HasLiteralUppercase(piece)));
                pieces.Add((fixedString ? Regex.Escape(piece) : Translated(piece, index, offset, ignoreCase), ignoreCase));
                offset += piece.Length + 1;
            }
        }
        if (pieces.Count == 1)
        {
            var (regex, ignoreCase) = pieces[0];
            bool whole = false;
            string? literal = ignoreCase ? null : RegexDialect.RequiredLiteral(regex, out whole);
            var compiled = new Regex(Guarded(regex), Options | (ignoreCase ? RegexOptions.IgnoreCase : 0));
            // A lone surrogate (not an escaped byte) in a literal has no UTF-8 form: no prefilter then.
            if (literal is not null && Encode(literal).Length == 0) literal = null;
            return new SearchPattern(compiled, literal, literal is not null && whole);
        }
        var combined = new StringBuilder();
        foreach (var (regex, ignoreCase) in pieces)
        {
            if (combined.Length > 0) combined.Append('|');
            combined.Append(ignoreCase ? "(?i:" : "(?:").Append(regex).Append(')');
        }
        return new SearchPattern(new Regex(Guarded(combined.ToString()), Options));
    }

    /// <summary>
    /// The pattern behind an always-true zero-width test. It works around a NonBacktracking bug that
    /// silently drops matches of patterns starting with an optional element ("a?c" in "abc c" finds only
    /// the last "c"; dotnet/runtime PR 130176, .NET 7 to 11): the engine folds such an element into its
    /// implicit ".*?" search prefix and then prefers a later match. With the anchor first there is nothing
    /// optional to fold; the matches are unchanged. Found by the random-pattern differential test.
    /// </summary>
    private static string Guarded(string pattern) => $"(?:\\b|\\B)(?:{pattern})";

    /// <summary>Pattern bytes decode as file bytes do (<see cref="Utf8Text"/>), so a byte that is not UTF-8 matches itself.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        char[] chars = new char[bytes.Length];
        int length = Utf8Text.Decode(bytes, chars, out _);
        return new string(chars, 0, length);
    }

    /// <summary>The .NET form of one piece, checked by compiling it alone so an error names the user's position.</summary>
    private static string Translated(string piece, int index, int offset, bool ignoreCase)
    {
        string translated;
        int[] origins;
        try { translated = RegexDialect.Translate(piece, out origins); }
        catch (RegexDialect.PatternException e) { throw Refused(e.Message, index, offset + e.Position); }
        try
        {
            _ = new Regex(translated, Options | (ignoreCase ? RegexOptions.IgnoreCase : 0));
        }
        catch (RegexParseException e)
        {
            int at = e.Offset >= 0 && e.Offset < origins.Length ? origins[e.Offset] : piece.Length;
            throw Refused(Describe(e.Error), index, offset + at);
        }
        catch (NotSupportedException e) { throw Refused(e.Message, index, offset); }
        return translated;
    }

    private static SearchPatternException Refused(string message, int index, int position) =>
        new($"invalid regex (pattern {index}) at position {position}: {message}", index, position);

    /// <summary>RegexParseError names as words ("UnterminatedBracket" becomes "unterminated bracket").</summary>
    private static string Describe(RegexParseError error)
    {
        string name = error.ToString();
        var words = new StringBuilder(name.Length + 8);
        foreach (char c in name)
        {
            if (char.IsUpper(c) && words.Length > 0) words.Append(' ');
            words.Append(char.ToLowerInvariant(c));
        }
        return words.ToString();
    }
}
