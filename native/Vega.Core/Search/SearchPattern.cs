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
/// The compiled form of a search's patterns: a matcher that finds where any of them matches. A pattern
/// holding newlines is several patterns (as grep reads them), since no match can cross a line. When every
/// pattern is literal text (fixed strings, or regexes without special characters) no regex is built, so
/// any number of literals of any length works; otherwise one linear-time regex joins them all.
/// Immutable and safe to share between workers.
/// </summary>
public sealed class SearchPattern
{
    private const RegexOptions Options = RegexOptions.NonBacktracking | RegexOptions.Multiline | RegexOptions.CultureInvariant;

    internal TextMatcher Matcher { get; }

    /// <summary>UTF-8 bytes that every match contains (a prefilter: lines without them are not searched), or null.</summary>
    public byte[]? RequiredLiteral { get; }

    /// <summary>The pattern is exactly <see cref="RequiredLiteral"/>: its matches are that literal's occurrences.</summary>
    public bool LiteralIsPattern { get; }

    private SearchPattern(TextMatcher matcher, string? literal = null, bool literalIsPattern = false)
    {
        Matcher = matcher;
        // A lone surrogate (not an escaped byte) in a literal has no UTF-8 form: no prefilter then.
        if (literal is null || Encode(literal) is not { Length: > 0 } bytes) return;
        RequiredLiteral = bytes;
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

    /// <summary>One line-pattern: literal text, or a regex in .NET syntax; <see cref="Pattern"/> is its index in the caller's list.</summary>
    private readonly record struct Piece(string Text, bool IsLiteral, bool IgnoreCase, int Pattern)
    {
        public string Regex => IsLiteral ? System.Text.RegularExpressions.Regex.Escape(Text) : Text;
    }

    public static SearchPattern Compile(IReadOnlyList<string> patterns, SearchPatternFlags flags)
    {
        if (patterns.Count == 0) throw new ArgumentException("no patterns to search for");
        bool fixedStrings = (flags & SearchPatternFlags.FixedStrings) != 0;
        var pieces = new List<Piece>();
        for (int index = 0; index < patterns.Count; index++)
        {
            int offset = 0;
            foreach (string piece in patterns[index].Split('\n'))
            {
                bool ignoreCase = (flags & SearchPatternFlags.IgnoreCase) != 0 ||
                                  ((flags & SearchPatternFlags.SmartCase) != 0 &&
                                   !(fixedStrings ? piece.Any(char.IsUpper) : RegexDialect.HasLiteralUppercase(piece)));
                pieces.Add(fixedStrings ? new Piece(piece, true, ignoreCase, index) : Parsed(piece, index, offset, ignoreCase));
                offset += piece.Length + 1;
            }
        }
        if (pieces.All(p => p.IsLiteral))
        {
            // SearchValues scans for many literals without vectorizing (Aho-Corasick): from about 50, the
            // regex's automaton is faster (2.5x at 100 words), while it fits the engine (a few hundred words).
            if (pieces.Count is > 48 and <= 256 && pieces.All(p => p.Text.Length > 0) &&
                NewRegex(Combined(pieces), Options, guarded: false) is { } faster)
                return new SearchPattern(faster);
            var literals = new LiteralSet(pieces.Select(p => p.Text).ToList(), pieces.Select(p => p.IgnoreCase).ToList());
            bool exact = pieces.Count == 1 && !pieces[0].IgnoreCase;
            return new SearchPattern(literals, exact ? pieces[0].Text : null, literalIsPattern: true);
        }
        // A pattern may start with an optional element only behind the guard (see Guarded), which
        // costs a scan to the end of the line per match: only patterns that need it get it.
        bool guarded = pieces.Any(p => p.Text.Length == 0 || (!p.IsLiteral && RegexDialect.MayStartOptional(p.Text)));
        if (pieces.Count == 1)
        {
            var piece = pieces[0];
            string? literal = piece.IgnoreCase ? null : RegexDialect.RequiredLiteral(piece.Text, out _);
            var options = Options | (piece.IgnoreCase ? RegexOptions.IgnoreCase : 0);
            return new SearchPattern(NewRegex(piece.Text, options, guarded) ?? throw TooLarge(piece, null), literal);
        }
        if (NewRegex(Combined(pieces), Options, guarded) is { } matcher) return new SearchPattern(matcher);
        var regexes = pieces.Where(p => !p.IsLiteral).ToList();
        var alone = regexes.FirstOrDefault(p => NewRegex(p.Text, Options | (p.IgnoreCase ? RegexOptions.IgnoreCase : 0), guarded) is null);
        throw alone.Text is null ? TooLarge(regexes[0], pieces.Count) : TooLarge(alone, null);
    }

    /// <summary>One regex for all the pieces: their alternation, in order, each with its own case option.</summary>
    private static string Combined(List<Piece> pieces)
    {
        var combined = new StringBuilder();
        foreach (var piece in pieces)
        {
            if (combined.Length > 0) combined.Append('|');
            combined.Append(piece.IgnoreCase ? "(?i:" : "(?:").Append(piece.Regex).Append(')');
        }
        return combined.ToString();
    }

    /// <summary>The regex's matcher, or null if it is too large for the linear-time engine.</summary>
    private static RegexMatcher? NewRegex(string regex, RegexOptions options, bool guarded)
    {
        // Every construct NonBacktracking refuses is refused earlier (RegexDialect): what is left is its size limit.
        try { return new RegexMatcher(guarded ? Guarded(regex) : regex, options); }
        catch (NotSupportedException) { return null; }
    }

    private static SearchPatternException TooLarge(Piece piece, int? together) => Refused(
        (together is null ? "the pattern is" : $"the {together} patterns together are") +
        " too large for the linear-time regex engine: use fewer or smaller repetitions and alternatives," +
        " or fixed strings (-F) for literal text, which have no size limit", piece.Pattern, 0);

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

    /// <summary>
    /// One regex piece in .NET form, parsed alone so an error names the user's position: literal text when
    /// it has no special characters. Parsed by the backtracking engine, which has no size limit (the
    /// constructs it runs that NonBacktracking cannot are refused by <see cref="RegexDialect.Translate"/>).
    /// </summary>
    private static Piece Parsed(string piece, int index, int offset, bool ignoreCase)
    {
        string translated;
        int[] origins;
        try { translated = RegexDialect.Translate(piece, out origins); }
        catch (RegexDialect.PatternException e) { throw Refused(e.Message, index, offset + e.Position); }
        try
        {
            _ = new Regex(translated, RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : 0));
        }
        catch (RegexParseException e)
        {
            int at = e.Offset >= 0 && e.Offset < origins.Length ? origins[e.Offset] : piece.Length;
            throw Refused(Describe(e.Error), index, offset + at);
        }
        if (translated.Length == 0) return new Piece("", true, ignoreCase, index);
        string? literal = RegexDialect.RequiredLiteral(translated, out bool whole);
        return whole ? new Piece(literal!, true, ignoreCase, index) : new Piece(translated, false, ignoreCase, index);
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
