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
                if (IsBalancingGroup(pattern, i)) throw Unsupported("balancing groups", i);
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
                if (digits < pattern.Length && pattern[digits] == '}') // "{,n}" and "{,}" as Python reads them
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

    /// <summary>"(?&lt;a-b&gt;", "(?'a-b'" or "(?P&lt;a-b&gt;" (a .NET balancing group) at the "(" at <paramref name="open"/>.</summary>
    private static bool IsBalancingGroup(string pattern, int open)
    {
        int name = open + 2 < pattern.Length && pattern[open + 2] == 'P' ? open + 3 : open + 2;
        if (name + 1 >= pattern.Length || pattern[name] is not ('<' or '\'') || pattern[name + 1] is '=' or '!') return false;
        int close = pattern.IndexOf(pattern[name] == '<' ? '>' : '\'', name + 1);
        return close > 0 && pattern.AsSpan(name + 1, close - name - 1).Contains('-');
    }

    /// <summary>
    /// False when every match of <paramref name="pattern"/> (.NET syntax) surely starts with a required
    /// element: each top-level alternative begins with a character, a class, '.' or a character escape
    /// that no ?, * or {0 makes optional. Conservative: a group, an anchor or inline options count as
    /// possibly optional.
    /// </summary>
    public static bool MayStartOptional(string pattern)
    {
        if (pattern.Contains("(?") && HasInlineOptions(pattern)) return true;
        bool atStart = true, inClass = false;
        int depth = 0;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (atStart)
            {
                int end = RequiredAtomEnd(pattern, i);
                if (end < 0 || IsOptionalQuantifier(pattern, end + 1)) return true;
                atStart = false;
                i = end;
            }
            else if (c == '\\') i++;
            else if (inClass) inClass = c != ']';
            else if (c == '[') inClass = true;
            else if (c == '(') depth++;
            else if (c == ')') depth--;
            else if (c == '|' && depth == 0) atStart = true;
        }
        return atStart; // an empty last alternative
    }

    /// <summary>The index of the last char of the single-character atom at <paramref name="i"/>, or -1 if it
    /// is something else (a group, an anchor, a quantifier, a class with a subtraction).</summary>
    private static int RequiredAtomEnd(string pattern, int i)
    {
        switch (pattern[i])
        {
            case '\\' when i + 1 < pattern.Length:
                char next = pattern[i + 1];
                return next is 'b' or 'B' or 'A' or 'Z' or 'z' or 'G' or 'k' or (>= '1' and <= '9') ? -1 : EscapeEnd(pattern, i);
            case '[':
                for (int j = i + 1; j < pattern.Length; j++)
                {
                    if (pattern[j] == '\\') j++;
                    else if (pattern[j] == '[') return -1; // a subtraction such as [a-z-[aeiou]]
                    else if (pattern[j] == ']' && j > i + 1 && !(j == i + 2 && pattern[i + 1] == '^')) return j;
                }
                return -1;
            case '(' or ')' or '|' or '^' or '$' or '*' or '+' or '?' or '{' or '\\':
                return -1;
            default:
                return i;
        }
    }

    /// <summary>True if a quantifier at <paramref name="at"/> allows zero repetitions: ?, * or {0...}.</summary>
    private static bool IsOptionalQuantifier(string pattern, int at)
    {
        if (at >= pattern.Length) return false;
        if (pattern[at] is '?' or '*') return true;
        if (pattern[at] != '{') return false;
        int digits = at + 1;
        while (digits < pattern.Length && char.IsAsciiDigit(pattern[digits])) digits++;
        return digits > at + 1 ? pattern.AsSpan(at + 1, digits - at - 1).IndexOfAnyExcept('0') < 0
                               : digits < pattern.Length && pattern[digits] == ','; // "{,n}"
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
                i = EscapeEnd(pattern, i);
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

    /// <summary>
    /// The longest run of literal text that every match of <paramref name="pattern"/> (.NET syntax, case
    /// sensitive) contains, or null if none is certain. Conservative by design: only top-level characters
    /// and escaped punctuation count; a group, class, anchor or any other escape ends a run, an optional
    /// character (followed by ?, * or {) is left out, and alternation or inline options anywhere give null.
    /// <paramref name="wholePattern"/>: the pattern is nothing but that literal.
    /// </summary>
    public static string? RequiredLiteral(string pattern, out bool wholePattern)
    {
        wholePattern = false;
        if (pattern.Contains("(?") && HasInlineOptions(pattern)) return null;
        string best = "";
        var run = new StringBuilder();
        bool pure = true;
        int depth = 0;
        bool inClass = false;
        void EndRun(ref string best)
        {
            if (run.Length > best.Length) best = run.ToString();
            run.Clear();
        }
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            char? literal = null;
            if (c == '\\' && i + 1 < pattern.Length)
            {
                char next = pattern[i + 1];
                if (inClass || depth > 0 || char.IsAsciiLetterOrDigit(next) || next == '_')
                {
                    // \w, \x41, \u00e9, \p{Lu}, \0...: not taken as text (their arguments are skipped too).
                    i = EscapeEnd(pattern, i);
                    if (!inClass && depth == 0) { pure = false; EndRun(ref best); }
                    continue;
                }
                literal = next;
                i++;
            }
            else if (inClass) { if (c == ']') inClass = false; continue; }
            else if (c == '[') { inClass = true; pure = false; EndRun(ref best); continue; }
            else if (c == '(') { depth++; pure = false; EndRun(ref best); continue; }
            else if (c == ')') { depth--; continue; }
            else if (depth > 0) continue;
            else if (c == '|') return null;
            else if (c == '{')
            {
                // A repeat count ("{2,5}"): its digits are not text. Skipped whole even when .NET would read
                // the brace as a literal, which only loses a literal, never invents one.
                int close = pattern.IndexOf('}', i);
                if (close > 0) i = close;
                pure = false;
                EndRun(ref best);
                continue;
            }
            else if (c is '.' or '^' or '$' or '*' or '+' or '?' or '}') { pure = false; EndRun(ref best); continue; }
            else literal = c;

            char after = i + 1 < pattern.Length ? pattern[i + 1] : '\0';
            if (after is '?' or '*' or '{') { pure = false; EndRun(ref best); continue; }
            run.Append(literal!.Value);
            if (after == '+') { pure = false; EndRun(ref best); }
        }
        EndRun(ref best);
        if (best.Length == 0) return null;
        wholePattern = pure; // nothing ended the one run
        return best;
    }

    /// <summary>The index of the last char of the escape starting with the backslash at <paramref name="backslash"/>:
    /// \xHH, \uHHHH, \cX, \p{...}, up to 3 octal digits, else the one char after the backslash.</summary>
    private static int EscapeEnd(string pattern, int backslash)
    {
        int i = backslash + 1;
        int last = pattern.Length - 1;
        switch (pattern[i])
        {
            case 'x': return Math.Min(i + 2, last);
            case 'u': return Math.Min(i + 4, last);
            case 'c': return Math.Min(i + 1, last);
            case 'p' or 'P' when i < last && pattern[i + 1] == '{':
                int close = pattern.IndexOf('}', i);
                return close > 0 ? close : last;
            case >= '0' and <= '7':
                int end = i;
                while (end < Math.Min(i + 2, last) && pattern[end + 1] is >= '0' and <= '7') end++;
                return end;
            default: return i;
        }
    }

    /// <summary>True if the pattern has an inline option group such as (?i) or (?x:...), which changes what its text means.</summary>
    private static bool HasInlineOptions(string pattern)
    {
        for (int i = pattern.IndexOf("(?"); i >= 0; i = pattern.IndexOf("(?", i + 2))
        {
            if (i > 0 && pattern[i - 1] == '\\') continue;
            if (i + 2 < pattern.Length && pattern[i + 2] is 'i' or 'm' or 'n' or 's' or 'x' or '-') return true;
        }
        return false;
    }

    private static PatternException Unsupported(string what, int position) =>
        new($"{what} are not supported: the search engine runs in linear time (see docs/search.md)", position);
}
