using System.Text;

namespace Vega.Core.Patterns;

/// <summary>
/// The rules of one gitignore-format file (.gitignore, .ignore, .git/info/exclude), as git reads them:
/// blank lines and '#' comments skipped, trailing unescaped spaces trimmed, '!' negates, a leading or
/// middle '/' anchors the rule to the file's directory, a trailing '/' restricts it to directories, no
/// brace alternation, and among the rules that match a path the last one decides.
/// Lines that are not valid globs are skipped, as git skips them.
/// </summary>
public sealed class IgnoreRules
{
    private readonly GlobSet _globs;
    private readonly bool[] _negated;

    private IgnoreRules(GlobSet globs, bool[] negated)
    {
        _globs = globs;
        _negated = negated;
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
            try { return new IgnoreRules(new GlobSet(globs), negated.ToArray()); }
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

    /// <summary>The verdict of the last matching rule: Ignore, Keep (a '!' rule), or None if no rule matches.</summary>
    public IgnoreVerdict Match(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int> scratch)
    {
        _globs.Which(directory, name, isDirectory, scratch);
        if (scratch.Count == 0) return IgnoreVerdict.None;
        return _negated[scratch[^1]] ? IgnoreVerdict.Keep : IgnoreVerdict.Ignore;
    }

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
