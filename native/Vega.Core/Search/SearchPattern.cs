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

    private SearchPattern(Regex regex) => Regex = regex;

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
            return new SearchPattern(new Regex(pieces[0].Regex, Options | (pieces[0].IgnoreCase ? RegexOptions.IgnoreCase : 0)));
        var combined = new StringBuilder();
        foreach (var (regex, ignoreCase) in pieces)
        {
            if (combined.Length > 0) combined.Append('|');
            combined.Append(ignoreCase ? "(?i:" : "(?:").Append(regex).Append(')');
        }
        return new SearchPattern(new Regex(combined.ToString(), Options));
    }

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
