using System.Text;

namespace Vega.Core.Patterns;

/// <summary>
/// The rules of one gitignore-format file (.gitignore, .ignore, .git/info/exclude), as git reads them:
/// blank lines and '#' comments skipped, trailing unescaped spaces trimmed, '!' negates, a leading or
/// middle '/' anchors the rule to the file's directory, a trailing '/' restricts it to directories, no
/// brace alternation, and among the rules that match a path the last one decides.
/// Lines that are not valid globs are skipped, as git skips them.
/// </summary>
/// <remarks>
/// Rules without a '/' match a name alone, at any depth; rules with one match the path from the file's
/// directory, and most (those without <c>**</c>) only paths of a fixed number of components. The two kinds
/// are kept apart so that an entry deep below the file costs a lookup of its name, not a match of its
/// whole path (on a deep tree, that made gitignore walks quadratic).
/// </remarks>
public sealed class IgnoreRules
{
    /// <summary>Some of the rules, as one glob set; Rules[i] is the position in the file of the set's glob i.</summary>
    private sealed record Part(GlobSet Globs, int[] Rules);

    private readonly Part? _names;
    private readonly Part? _paths;
    private readonly bool[] _negated;
    private readonly string _nameRules; // the name rules as written, to compare files

    /// <summary>The fewest and most path components the path rules match (int.MaxValue: no limit).</summary>
    private readonly int _minDepth, _maxDepth;

    private IgnoreRules(List<Glob> globs, List<bool> negated)
    {
        _negated = negated.ToArray();
        var names = new List<int>();
        var paths = new List<int>();
        _minDepth = int.MaxValue;
        for (int i = 0; i < globs.Count; i++)
        {
            if (!globs[i].HasSlash || IsAnyDepthName(globs[i]))
            {
                names.Add(i);
                continue;
            }
            paths.Add(i);
            var (min, max) = Components(globs[i]);
            _minDepth = Math.Min(_minDepth, min);
            _maxDepth = Math.Max(_maxDepth, max);
        }
        _names = NewPart(globs, names);
        _paths = NewPart(globs, paths);
        _nameRules = string.Join("\n", names.Select(i => (_negated[i] ? "!" : "") + globs[i].Pattern));
    }

    /// <summary>The rules of a file's content, or null if it has none.</summary>
    public static IgnoreRules? Parse(ReadOnlySpan<byte> content)
    {
        var globs = new List<Glob>();
        var negated = new List<bool>();
        foreach (var rawLine in content.Split((byte)'\n'))
        {
            var line = content[rawLine];
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            line = TrimTrailingSpaces(line);
            if (line.IsEmpty || line[0] == (byte)'#') continue;
            bool negate = line[0] == (byte)'!';
            if (negate) line = line[1..];
            else if (line.Length > 1 && line[0] == (byte)'\\' && line[1] is (byte)'!' or (byte)'#') line = line[1..];
            if (line.IsEmpty) continue;
            try
            {
                globs.Add(Glob.Parse(PathText.Decode(line), GlobSyntax.NoBraces | GlobSyntax.AnchorLeadingSlash));
                negated.Add(negate);
            }
            catch (GlobException)
            {
                // git ignores a rule it cannot parse; so do we.
            }
        }
        while (globs.Count > 0)
        {
            try { return new IgnoreRules(globs, negated); }
            catch (GlobException e)
            {
                // A rule too complex to match (a regex over the size limit) is skipped like one git cannot parse.
                int bad = globs.FindIndex(g => g.Pattern == e.Pattern);
                if (bad < 0) throw;
                globs.RemoveAt(bad);
                negated.RemoveAt(bad);
            }
        }
        return null;
    }

    public static IgnoreRules? Parse(string content) => Parse(Encoding.UTF8.GetBytes(content));

    /// <summary>Some rule matches a name alone, at any depth.</summary>
    internal bool HasNameRules => _names is not null;

    /// <summary>The most path components a path rule can match: none matches deeper (0 without path rules).</summary>
    internal int PathDepthLimit => _paths is null ? 0 : _maxDepth;

    /// <summary>Both files have the same rules for names.</summary>
    internal bool SameNameRules(IgnoreRules other) => _nameRules == other._nameRules;

    /// <summary>The verdict of the last matching rule: Ignore, Keep (a '!' rule), or None if no rule matches.</summary>
    public IgnoreVerdict Match(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int> scratch) =>
        Match([], directory, name, isDirectory, directory.Count((byte)'/') + 1, scratch);

    /// <summary>
    /// <see cref="Match(ReadOnlySpan{byte}, ReadOnlySpan{byte}, bool, List{int})"/> for the path
    /// <paramref name="prefix"/> + <paramref name="directory"/> + <paramref name="name"/>, from the file's
    /// directory, which has <paramref name="depth"/> components.
    /// </summary>
    internal IgnoreVerdict Match(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name,
                                 bool isDirectory, int depth, List<int> scratch)
    {
        int last = _names is null ? -1 : Last(_names, [], name, isDirectory, scratch);
        if (_paths is not null && depth >= _minDepth && depth <= _maxDepth)
        {
            if (prefix.IsEmpty) last = Math.Max(last, Last(_paths, directory, name, isDirectory, scratch));
            else last = Math.Max(last, Last(_paths, [.. prefix, .. directory], name, isDirectory, scratch));
        }
        if (last < 0) return IgnoreVerdict.None;
        return _negated[last] ? IgnoreVerdict.Keep : IgnoreVerdict.Ignore;
    }

    /// <summary>The position in the file of the last rule of <paramref name="part"/> that matches, or -1.</summary>
    private static int Last(Part part, ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int> scratch)
    {
        part.Globs.Which(directory, name, isDirectory, scratch);
        return scratch.Count == 0 ? -1 : part.Rules[scratch[^1]];
    }

    private static Part? NewPart(List<Glob> globs, List<int> rules) =>
        rules.Count == 0 ? null : new Part(new GlobSet(rules.Select(i => globs[i]).ToList()), rules.ToArray());

    /// <summary>
    /// How many path components a glob's matches have: '*', '?' and classes never match '/', so without
    /// <c>**</c> that is its slashes + 1; <c>**</c> adds any number.
    /// </summary>
    private static (int Min, int Max) Components(Glob glob)
    {
        int slashes = glob.Nodes.Count(n => n is LiteralNode { CodePoint: '/' });
        bool unbounded = glob.Nodes.Any(n => n is GlobStarSlashNode or GlobStarNode or AlternationNode);
        return (slashes + 1, unbounded ? int.MaxValue : slashes + 1);
    }

    /// <summary><c>**/x</c> with no other '/': the name x at any depth.</summary>
    private static bool IsAnyDepthName(Glob glob) =>
        glob.Nodes is [GlobStarSlashNode, .. var rest] && !rest.Any(n => n is LiteralNode { CodePoint: '/' } or GlobStarSlashNode or GlobStarNode);

    private static ReadOnlySpan<byte> TrimTrailingSpaces(ReadOnlySpan<byte> line)
    {
        int end = line.Length;
        while (end > 0 && line[end - 1] == (byte)' ')
        {
            int backslashes = 0;
            for (int i = end - 2; i >= 0 && line[i] == (byte)'\\'; i--) backslashes++;
            if (backslashes % 2 == 1) break; // "\ " keeps the space
            end--;
        }
        return line[..end];
    }
}

public enum IgnoreVerdict { None, Ignore, Keep }
