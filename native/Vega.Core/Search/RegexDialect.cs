using System.Text;

namespace Vega.Core.Search;

/// <summary>
/// Rewrites a pattern in the accepted dialect (docs/search.md) to .NET syntax for a linear-time
/// (<c>RegexOptions.NonBacktracking</c>) regex, and refuses what that engine cannot run with the
/// position of the construct. The accepted dialect is .NET's, plus what Python users write:
/// <c>(?P&lt;name&gt;...)</c> named groups and <c>{,n}</c> repeats. <c>\A</c>, <c>\Z</c> and <c>\z</c>
/// become <c>^</c> and <c>$</c>: every line is searched as its own text, as grep does.
/// </summary>
internal static class RegexDialect
{
    /// <summary>Thrown for a pattern the engine refuses; <see cref="Position"/> is a char index into it.</summary>
    public sealed class PatternException(string message, int position) : ArgumentException(message)
    {
        public int Position { get; } = position;
    }

    /// <summary>
    /// The .NET form of <paramref name="pattern"/>, and for every char of the result the index of the
    /// char of <paramref name="pattern"/> it came from (to report .NET's parse errors at the user's position).
    /// </summary>
    public static string Translate(string pattern, out int[] origins)
    {
        var output = new StringBuilder(pattern.Length + 8);
        var from = new List<int>(pattern.Length + 8);
        void Emit(string text, int origin)
        {
            output.Append(text);
            for (int k = 0; k < text.Length; k++) from.Add(origin);
        }

        bool inClass = false;
        for (int i = 0; i < pattern.Length;)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                char next = pattern[i + 1];
                if (!inClass)
                {
                    if (next is >= '1' and <= '9')
                        throw Unsupported("backreferences (\\" + next + ")", i);
                    if (next == 'k' && i + 2 < pattern.Length && pattern[i + 2] is '<' or '\'' or '{')
                        throw Unsupported("backreferences (\\k)", i);
                    if (next == 'A') { Emit("^", i); i += 2; continue; }
                    if (next is 'Z' or 'z') { Emit("$", i); i += 2; continue; }
                    if (next == 'G') throw Unsupported("\\G anchors", i);
                }
                Emit(pattern.Substring(i, 2), i);
                i += 2;
                continue;
            }
            if (inClass)
            {
                // "[]a]" and "[^]a]": a ']' first in a class is a literal in Python; .NET agrees.
                if (c == ']') inClass = false;
                Emit(c.ToString(), i);
                i++;
                continue;
            }
            if (c == '[')
            {
                inClass = true;
                Emit("[", i++);
                if (i < pattern.Length && pattern[i] == '^') Emit("^", i++);
                if (i < pattern.Length && pattern[i] == ']') Emit("\\]", i++);
                continue;
            }
            if (c == '(' && i + 1 < pattern.Length && pattern[i + 1] == '?')
            {
                string rest = pattern.Substring(i + 2, Math.Min(4, pattern.Length - i - 2));
                if (rest.StartsWith("P<")) { Emit("(?<", i); i += 4; continue; }
                if (rest.StartsWith("P=")) throw Unsupported("backreferences ((?P=name))", i);
                if (rest.StartsWith('=') || rest.StartsWith('!') || rest.StartsWith("<=") || rest.StartsWith("<!"))
                    throw Unsupported("lookaround assertions", i);
                if (rest.StartsWith('>')) throw Unsupported("atomic groups", i);
                if (rest.StartsWith('(')) throw Unsupported("conditionals", i);
            }
            if (c == '{' && i + 1 < pattern.Length && pattern[i + 1] == ',')
            {
                int digits = i + 2;
                while (digits < pattern.Length && char.IsAsciiDigit(pattern[digits])) digits++;
                if (digits > i + 2 && digits < pattern.Length && pattern[digits] == '}')
                {
                    Emit("{0", i);
                    i++;
                    continue;
                }
            }
            Emit(c.ToString(), i);
            i++;
        }
        origins = from.ToArray();
        return output.ToString();
    }

    /// <summary>
    /// True if <paramref name="pattern"/> has an uppercase letter that stands for itself (not in an
    /// escape such as <c>\W</c> or <c>\p{Lu}</c>, nor in a group name): smart case then stays case-sensitive.
    /// </summary>
    public static bool HasLiteralUppercase(string pattern)
    {
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                char next = pattern[++i];
                if (next is 'p' or 'P' && i + 1 < pattern.Length && pattern[i + 1] == '{')
                {
                    int close = pattern.IndexOf('}', i);
                    if (close > 0) i = close;
                }
                continue;
            }
            if (c == '(' && i + 2 < pattern.Length && pattern[i + 1] == '?')
            {
                int nameStart = pattern[i + 2] == 'P' ? i + 3 : i + 2;
                if (nameStart < pattern.Length && pattern[nameStart] is '<' or '\'' &&
                    nameStart + 1 < pattern.Length && pattern[nameStart + 1] is not ('=' or '!'))
                {
                    int close = pattern.IndexOfAny(['>', '\''], nameStart + 1);
                    if (close > 0) { i = close; continue; }
                }
            }
            if (char.IsUpper(c)) return true;
        }
        return false;
    }

    private static PatternException Unsupported(string what, int position) =>
        new($"{what} are not supported: the search engine runs in linear time (see docs/search.md)", position);
}
