using System.Text;

namespace Vega.Core.Patterns;

/// <summary>An invalid glob: the message names the pattern and the (code point) position of the problem.</summary>
public sealed class GlobException(string pattern, int position, string problem)
    : ArgumentException($"invalid glob '{pattern}': {problem} at position {position}")
{
    public string Pattern { get; } = pattern;
    public int Position { get; } = position;
}

[Flags]
public enum GlobSyntax
{
    Default = 0,
    /// <summary>'{' and '}' are literal characters (gitignore has no alternation).</summary>
    NoBraces = 1,
    /// <summary>A leading '/' anchors the glob at the root of relative paths and is removed (walk filters, gitignore).</summary>
    AnchorLeadingSlash = 2,
}

/// <summary>A node of a parsed glob. Literal holds one code point (a lone U+DC80..U+DCFF stands for a raw byte).</summary>
internal abstract record GlobNode;
internal sealed record LiteralNode(int CodePoint) : GlobNode;
internal sealed record AnyCharNode : GlobNode;
internal sealed record StarNode : GlobNode;
/// <summary><c>**/</c>: zero or more whole directories.</summary>
internal sealed record GlobStarSlashNode : GlobNode;
/// <summary><c>**</c> ending a segment run (pattern end, or the end of a brace option): anything, '/' included.</summary>
internal sealed record GlobStarNode : GlobNode;
internal sealed record ClassNode(bool Negated, (int Low, int High)[] Ranges) : GlobNode;
internal sealed record AlternationNode(List<GlobNode>[] Options) : GlobNode;

/// <summary>
/// One parsed glob. The semantics are in docs/patterns.md; in short: <c>*</c> and <c>?</c> and classes never
/// match '/', <c>**</c> as a whole segment matches across directories (elsewhere it is a plain <c>*</c>, as in
/// gitignore), a trailing '/' restricts the glob to directories, and a glob with no '/' matches a path's
/// last component while one with a '/' matches the whole path.
/// </summary>
public sealed class Glob
{
    private const int MaxBraceDepth = 16;

    public string Pattern { get; }
    internal List<GlobNode> Nodes { get; }
    /// <summary>True if the glob contains '/' (then it is matched against the whole path, else the basename).</summary>
    public bool HasSlash { get; }
    /// <summary>True if the glob ended with '/': it matches only directories.</summary>
    public bool DirectoryOnly { get; }

    private Glob(string pattern, List<GlobNode> nodes, bool hasSlash, bool directoryOnly)
    {
        Pattern = pattern;
        Nodes = nodes;
        HasSlash = hasSlash;
        DirectoryOnly = directoryOnly;
    }

    public static Glob Parse(string pattern, GlobSyntax syntax = GlobSyntax.Default)
    {
        int[] points = PathText.CodePoints(pattern);
        if (points.Length == 0) throw new GlobException(pattern, 0, "empty pattern");
        if (Array.IndexOf(points, 0) is int nul and >= 0) throw new GlobException(pattern, nul, "NUL character");
        int end = points.Length;
        bool directoryOnly = false;
        if (end > 1 && points[end - 1] == '/' && !IsEscaped(points, end - 1))
        {
            directoryOnly = true;
            while (end > 1 && points[end - 1] == '/' && !IsEscaped(points, end - 1)) end--;
        }
        int start = 0;
        bool anchored = false;
        if ((syntax & GlobSyntax.AnchorLeadingSlash) != 0 && points[0] == '/')
        {
            anchored = true;
            start = 1;
            if (start >= end) throw new GlobException(pattern, 0, "a pattern of only '/'");
        }
        var parser = new Parser(pattern, points, start, end, (syntax & GlobSyntax.NoBraces) == 0);
        var nodes = parser.ParseSequence(0);
        return new Glob(pattern, nodes, anchored || parser.SawSlash, directoryOnly);
    }

    private static bool IsEscaped(int[] points, int index)
    {
        int backslashes = 0;
        for (int i = index - 1; i >= 0 && points[i] == '\\'; i--) backslashes++;
        return backslashes % 2 == 1;
    }

    /// <summary>The glob as a .NET regex body (no anchors), over text decoded by <see cref="PathText"/>.</summary>
    public string ToRegex()
    {
        var builder = new StringBuilder();
        AppendRegex(Nodes, builder);
        return builder.ToString();
    }

    // One path character, as Python counts them: a surrogate pair (a character beyond U+FFFF) or any other char.
    private const string PairOrChar = @"[\uD800-\uDBFF][\uDC00-\uDFFF]";

    internal static void AppendRegex(List<GlobNode> nodes, StringBuilder b)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case LiteralNode l: AppendLiteral(l.CodePoint, b); break;
                case AnyCharNode: b.Append("(?:").Append(PairOrChar).Append("|[^/])"); break;
                case StarNode: b.Append("[^/]*"); break;
                case GlobStarSlashNode: b.Append("(?:.*/)?"); break;
                case GlobStarNode: b.Append(".*"); break;
                case ClassNode c:
                    if (c.Negated) b.Append("(?:").Append(PairOrChar).Append("|[^/");
                    else b.Append('[');
                    foreach (var (low, high) in c.Ranges)
                    {
                        AppendClassChar(low, b);
                        if (high != low) { b.Append('-'); AppendClassChar(high, b); }
                    }
                    b.Append(c.Negated ? "])" : "-[/]]");
                    break;
                case AlternationNode a:
                    b.Append("(?:");
                    for (int i = 0; i < a.Options.Length; i++)
                    {
                        if (i > 0) b.Append('|');
                        AppendRegex(a.Options[i], b);
                    }
                    b.Append(')');
                    break;
            }
        }
    }

    private static void AppendLiteral(int codePoint, StringBuilder b)
    {
        if (codePoint < 0x80 && (char.IsAsciiLetterOrDigit((char)codePoint) || codePoint is '/' or '_' or '-' or ',' or '=' or '@' or '%' or '~' or '\'' or '"' or ':' or ';' or '<' or '>' or '!' or '&'))
        {
            b.Append((char)codePoint);
        }
        else if (codePoint > 0xFFFF)
        {
            string pair = char.ConvertFromUtf32(codePoint);
            b.Append($"\\u{(int)pair[0]:X4}\\u{(int)pair[1]:X4}");
        }
        else
        {
            b.Append($"\\u{codePoint:X4}");
        }
    }

    private static void AppendClassChar(int codePoint, StringBuilder b) => b.Append($"\\u{codePoint:X4}");

    /// <summary>
    /// The glob without alternations: every combination of brace options, or null if there would be more
    /// than <paramref name="limit"/> (the regex then handles the glob as a whole).
    /// </summary>
    internal List<List<GlobNode>>? Expand(int limit)
    {
        var results = new List<List<GlobNode>> { new() };
        foreach (var node in Nodes)
        {
            if (!ExpandInto(node, ref results, limit)) return null;
        }
        return results;
    }

    private static bool ExpandInto(GlobNode node, ref List<List<GlobNode>> prefixes, int limit)
    {
        if (node is not AlternationNode alternation)
        {
            foreach (var prefix in prefixes) prefix.Add(node);
            return true;
        }
        var next = new List<List<GlobNode>>();
        foreach (var option in alternation.Options)
        {
            var branch = prefixes.Select(p => new List<GlobNode>(p)).ToList();
            foreach (var inner in option)
            {
                if (!ExpandInto(inner, ref branch, limit)) return false;
            }
            next.AddRange(branch);
            if (next.Count > limit) return false;
        }
        prefixes = next;
        return true;
    }

    private sealed class Parser(string pattern, int[] p, int from, int end, bool braces)
    {
        private readonly int start = from;
        private int _i = from;
        public bool SawSlash;

        public List<GlobNode> ParseSequence(int depth)
        {
            var nodes = new List<GlobNode>();
            while (_i < end)
            {
                int c = p[_i];
                if (depth > 0 && (c == ',' || c == '}')) return nodes;
                switch (c)
                {
                    case '\\':
                        if (_i + 1 >= end) throw new GlobException(pattern, _i, "a '\\' escapes nothing");
                        AddLiteral(nodes, p[_i + 1]);
                        _i += 2;
                        break;
                    case '*':
                        nodes.Add(ParseStars(depth));
                        break;
                    case '?':
                        nodes.Add(new AnyCharNode());
                        _i++;
                        break;
                    case '[':
                        nodes.Add(ParseClass());
                        break;
                    case '{' when braces:
                        nodes.Add(ParseAlternation(depth));
                        break;
                    default:
                        AddLiteral(nodes, c);
                        _i++;
                        break;
                }
            }
            return nodes;
        }

        private void AddLiteral(List<GlobNode> nodes, int c)
        {
            if (c == '/') SawSlash = true;
            nodes.Add(new LiteralNode(c));
        }

        private GlobNode ParseStars(int depth)
        {
            int first = _i;
            while (_i < end && p[_i] == '*') _i++;
            if (_i - first == 1) return new StarNode();
            bool startsSegment = first == start || p[first - 1] == '/' || (depth > 0 && p[first - 1] is '{' or ',');
            if (startsSegment)
            {
                if (_i == end || (depth > 0 && p[_i] is ',' or '}')) return new GlobStarNode();
                if (p[_i] == '/')
                {
                    _i++;
                    SawSlash = true;
                    return new GlobStarSlashNode();
                }
            }
            return new StarNode(); // '**' inside a name is a plain '*', as in gitignore
        }

        private ClassNode ParseClass()
        {
            int open = _i;
            int j = _i + 1;
            bool negated = j < end && p[j] is '!' or '^';
            if (negated) j++;
            var ranges = new List<(int, int)>();
            bool first = true;
            while (true)
            {
                if (j >= end) throw new GlobException(pattern, open, "unclosed '['");
                int c = p[j];
                if (c == ']' && !first) break;
                first = false;
                if (c == '[' && j + 1 < end && p[j + 1] == ':')
                {
                    int close = FindPosixClassEnd(j + 2);
                    if (close > 0)
                    {
                        string name = string.Concat(p[(j + 2)..close].Select(char.ConvertFromUtf32));
                        ranges.AddRange(PosixClass(name) ?? throw new GlobException(pattern, j, $"unknown character class '[:{name}:]'"));
                        j = close + 2;
                        continue;
                    }
                }
                int low = ClassChar(ref j, open);
                int high = low;
                if (j + 1 < end && p[j] == '-' && p[j + 1] != ']')
                {
                    int dash = j;
                    j++;
                    high = ClassChar(ref j, open);
                    if (high < low) throw new GlobException(pattern, dash - 1, $"reversed range '{char.ConvertFromUtf32(low)}-{char.ConvertFromUtf32(high)}'");
                }
                if (high > 0xFFFF) throw new GlobException(pattern, j - 1, "a character class takes only characters up to U+FFFF");
                ranges.Add((low, high));
            }
            _i = j + 1;
            return new ClassNode(negated, ranges.ToArray());
        }

        private int ClassChar(ref int j, int open)
        {
            if (p[j] == '\\')
            {
                if (j + 1 >= end) throw new GlobException(pattern, open, "unclosed '['");
                j += 2;
                return p[j - 1];
            }
            return p[j++];
        }

        private int FindPosixClassEnd(int from)
        {
            for (int k = from; k + 1 < end; k++)
            {
                if (p[k] == ':' && p[k + 1] == ']') return k;
                if (!char.IsAsciiLetterLower((char)p[k])) return -1;
            }
            return -1;
        }

        private static (int, int)[]? PosixClass(string name) => name switch
        {
            "alpha" => [('A', 'Z'), ('a', 'z')],
            "digit" => [('0', '9')],
            "alnum" => [('0', '9'), ('A', 'Z'), ('a', 'z')],
            "upper" => [('A', 'Z')],
            "lower" => [('a', 'z')],
            "space" => [(' ', ' '), ('\t', '\r')],
            "xdigit" => [('0', '9'), ('A', 'F'), ('a', 'f')],
            "blank" => [(' ', ' '), ('\t', '\t')],
            "punct" => [('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
            _ => null,
        };

        private AlternationNode ParseAlternation(int depth)
        {
            int open = _i;
            if (depth >= MaxBraceDepth) throw new GlobException(pattern, open, $"braces nested deeper than {MaxBraceDepth}");
            _i++;
            var options = new List<List<GlobNode>>();
            while (true)
            {
                options.Add(ParseSequence(depth + 1));
                if (_i >= end) throw new GlobException(pattern, open, "unclosed '{'");
                if (p[_i] == '}') { _i++; break; }
                _i++; // ','
            }
            return new AlternationNode(options.ToArray());
        }
    }
}
