using System.Text.RegularExpressions;

namespace Vega.Core.Search;

/// <summary>
/// Decoded text to match (<see cref="Utf8Text"/>): <c>chars[start..start+length)</c> of a searcher's buffer,
/// the same range of its case-folded copy when the matcher reads one, and the job's cancel token.
/// </summary>
internal readonly struct SearchText(char[] chars, char[]? folded, int start, int length, CancellationToken cancel)
{
    public ReadOnlySpan<char> Chars => chars.AsSpan(start, length);
    public ReadOnlySpan<char> Folded => (folded ?? chars).AsSpan(start, length);
    public int Length => length;
    public CancellationToken Cancel => cancel;

    public SearchText Slice(int from, int to) => new(chars, folded, start + from, to - from, cancel);

    /// <summary>Lowercases <paramref name="text"/> char by char with <see cref="char.ToLowerInvariant"/>: two chars
    /// are equal ignoring case for .NET's regex (IgnoreCase | CultureInvariant) exactly when their folds are.
    /// Surrogates stay as they are, as the regex reads them (one UTF-16 unit at a time).</summary>
    public static void Fold(ReadOnlySpan<char> text, Span<char> folded)
    {
        for (int i = 0; i < text.Length;)
        {
            System.Text.Ascii.ToLower(text[i..], folded[i..], out int ascii);
            i += ascii;
            for (; i < text.Length && text[i] >= 0x80; i++) folded[i] = char.ToLowerInvariant(text[i]);
        }
    }
}

/// <summary>
/// How a compiled search finds matches in decoded text: the first match starting at or after a position,
/// leftmost-first (the earliest start; at one start, the earliest pattern in the caller's order). Matches
/// never cross a newline unless a regex says so (the searcher checks). Immutable, shared by workers.
/// </summary>
internal abstract class TextMatcher
{
    /// <summary>Whether <see cref="TryMatch"/> reads <see cref="SearchText.Folded"/>.</summary>
    public virtual bool ReadsFolded => false;

    /// <summary>The first match starting at or after <paramref name="start"/> (its length may be 0). Polls the
    /// text's cancel token at least every few milliseconds of work (throws OperationCanceledException).</summary>
    public abstract bool TryMatch(in SearchText text, int start, out int index, out int length);

    public bool IsMatch(in SearchText text) => TryMatch(text, 0, out _, out _);
}

/// <summary>A linear-time regex (<c>RegexOptions.NonBacktracking</c>); the constructor throws NotSupportedException
/// for a pattern too large for that engine. One call scans without polling the cancel token: the searcher
/// runs its work on a huge region on a pool thread (see FileSearcher).</summary>
internal sealed class RegexMatcher(string pattern, RegexOptions options) : TextMatcher
{
    // No match timeout: NonBacktracking with one misplaces and drops matches (.NET 9 and 10, seen on long lines).
    private readonly Regex _regex = new(pattern, options);

    public override bool TryMatch(in SearchText text, int start, out int index, out int length)
    {
        foreach (var match in _regex.EnumerateMatches(text.Chars, start))
        {
            index = match.Index;
            length = match.Length;
            return true;
        }
        index = length = 0;
        return false;
    }
}
