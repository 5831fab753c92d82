using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;

namespace Vega.Core.Patterns;

/// <summary>
/// A set of globs compiled once and matched against many paths in one pass, the way ripgrep's globset
/// does it: each glob is classified by shape (exact path, basename, extension, basename prefix or suffix,
/// path prefix or suffix, match-all) and looked up in a table for that shape; only globs of no simple shape
/// become regexes, and those are joined into one regex per target (basename or whole path). A path's
/// basename and extension are computed once for all globs. Thread-safe: walk workers share one set.
/// </summary>
/// <remarks>
/// Regexes use <see cref="RegexOptions.NonBacktracking"/>: matching time is linear in the path length
/// whatever the glob, and NativeAOT cannot compile regexes to IL anyway. Paths are bytes; a regex sees the
/// path decoded by <see cref="PathText"/> (Python's view of it), literal tables compare bytes directly.
/// </remarks>
public sealed class GlobSet
{
    private const int ExpansionLimit = 64;

    private readonly Glob[] _globs;
    private readonly bool _caseInsensitive;
    private readonly bool[] _directoryOnly;

    private readonly Dictionary<byte[], int[]> _exactPaths = new(ByteKeys.Instance);
    private readonly Dictionary<byte[], int[]> _basenames = new(ByteKeys.Instance);
    private readonly Dictionary<byte[], int[]> _extensions = new(ByteKeys.Instance);
    private readonly List<(byte[] Affix, int Glob)> _basenameSuffixes = new();
    private readonly List<(byte[] Affix, int Glob)> _basenamePrefixes = new();
    private readonly List<(byte[] Affix, int Glob)> _pathPrefixes = new();
    private readonly List<(byte[] Affix, int Glob)> _pathSuffixes = new();
    private readonly List<int> _matchAll = new();
    private readonly List<int> _basenameRegexGlobs = new();
    private readonly List<int> _pathRegexGlobs = new();

    private readonly List<int> _allBasenameGlobs = new();
    private readonly List<int> _allPathGlobs = new();
    private readonly Lazy<Regex>[] _regexes;
    // Joined regexes for "does any glob match": [target basename/path][directory or not].
    private readonly Lazy<Regex?>[,] _joined = new Lazy<Regex?>[2, 2];

    public GlobSet(IReadOnlyList<Glob> globs, bool caseInsensitive = false)
    {
        if (globs.Count == 0) throw new ArgumentException("a glob set needs at least one pattern");
        _globs = globs.ToArray();
        _caseInsensitive = caseInsensitive;
        _directoryOnly = _globs.Select(g => g.DirectoryOnly).ToArray();
        _regexes = new Lazy<Regex>[_globs.Length];
        for (int i = 0; i < _globs.Length; i++)
        {
            var glob = _globs[i];
            _regexes[i] = new Lazy<Regex>(() => NewRegex(glob.ToRegex()));
            (glob.HasSlash ? _allPathGlobs : _allBasenameGlobs).Add(i);
            Classify(i);
        }
        NeedsPath = _exactPaths.Count + _pathPrefixes.Count + _pathSuffixes.Count + _pathRegexGlobs.Count > 0;
        for (int target = 0; target < 2; target++)
        {
            for (int dir = 0; dir < 2; dir++)
            {
                var ids = (target == 0 ? _basenameRegexGlobs : _pathRegexGlobs).Where(g => dir == 1 || !_directoryOnly[g]).ToList();
                _joined[target, dir] = new Lazy<Regex?>(() => ids.Count == 0 ? null
                    : NewRegex(string.Join("|", ids.Select(g => "(?:" + _globs[g].ToRegex() + ")"))));
            }
        }
        foreach (int g in _basenameRegexGlobs.Concat(_pathRegexGlobs)) _ = _regexes[g].Value; // compile errors surface now
    }

    public static GlobSet Parse(IEnumerable<string> patterns, bool caseInsensitive = false, GlobSyntax syntax = GlobSyntax.Default) =>
        new(patterns.Select(p => Glob.Parse(p, syntax)).ToList(), caseInsensitive);

    public int Count => _globs.Length;
    public Glob this[int index] => _globs[index];

    /// <summary>True if some glob needs the whole path (it contains '/'); otherwise the basename is enough.</summary>
    public bool NeedsPath { get; }

    /// <summary>Does any glob match the path? A trailing '/' marks a directory (and is not part of the match).</summary>
    public bool IsMatch(ReadOnlySpan<byte> path)
    {
        bool isDirectory = Split(path, out var directory, out var name);
        return Evaluate(directory, name, isDirectory, null);
    }

    /// <summary>Does any glob match <paramref name="directory"/> + <paramref name="name"/>? The directory part is
    /// empty or ends with '/'.</summary>
    public bool IsMatch(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory) =>
        Evaluate(directory, name, isDirectory, null);

    /// <summary>Indices of every glob that matches the path, ascending.</summary>
    public List<int> Which(ReadOnlySpan<byte> path)
    {
        bool isDirectory = Split(path, out var directory, out var name);
        var found = new List<int>();
        Which(directory, name, isDirectory, found);
        return found;
    }

    /// <summary>Adds the indices of every matching glob to <paramref name="found"/> (cleared first), ascending, no duplicates.</summary>
    public void Which(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int> found)
    {
        found.Clear();
        Evaluate(directory, name, isDirectory, found);
        if (found.Count < 2) return;
        found.Sort();
        int kept = 1;
        for (int i = 1; i < found.Count; i++)
        {
            if (found[i] != found[kept - 1]) found[kept++] = found[i];
        }
        found.RemoveRange(kept, found.Count - kept);
    }

    /// <summary>Splits a path into its directory part (empty or ending with '/') and name; true if it ended with '/'.</summary>
    public static bool Split(ReadOnlySpan<byte> path, out ReadOnlySpan<byte> directory, out ReadOnlySpan<byte> name)
    {
        bool isDirectory = false;
        while (path.Length > 1 && path[^1] == (byte)'/')
        {
            path = path[..^1];
            isDirectory = true;
        }
        int slash = path.LastIndexOf((byte)'/');
        directory = path[..(slash + 1)];
        name = path[(slash + 1)..];
        return isDirectory;
    }

    private Regex NewRegex(string body)
    {
        var options = RegexOptions.NonBacktracking | RegexOptions.Singleline | RegexOptions.CultureInvariant;
        if (_caseInsensitive) options |= RegexOptions.IgnoreCase;
        return new Regex(@"\A(?:" + body + @")\z", options);
    }

    private void Classify(int index)
    {
        var glob = _globs[index];
        var expanded = glob.Expand(ExpansionLimit);
        if (expanded is not null && expanded.All(nodes => AddSimple(nodes, index))) return;
        // At least one expansion has no simple shape: the glob is matched by its regex alone. Simple
        // shapes already added for other expansions stay; they only find what the regex would.
        (glob.HasSlash ? _pathRegexGlobs : _basenameRegexGlobs).Add(index);
    }

    /// <summary>Adds one brace-free expansion to the table of its shape; false if it has none.</summary>
    private bool AddSimple(List<GlobNode> nodes, int index)
    {
        bool hasSlash = _globs[index].HasSlash;
        if (hasSlash && nodes.Count > 0 && nodes[0] is GlobStarSlashNode && !nodes.Skip(1).Any(IsSlashNode))
        {
            nodes = nodes.Skip(1).ToList(); // "**/x" with no other '/' is the basename glob "x"
            hasSlash = false;
        }
        if (nodes.Count == 1 && nodes[0] is GlobStarNode || !hasSlash && nodes.Count == 1 && nodes[0] is StarNode)
        {
            _matchAll.Add(index);
            return true;
        }
        int stars = nodes.Count(n => n is StarNode);
        int literals = nodes.Count(n => n is LiteralNode);
        if (!hasSlash)
        {
            if (literals == nodes.Count) return AddKey(_basenames, Literal(nodes), index);
            if (stars == 1 && literals == nodes.Count - 1 && nodes.Count > 1)
            {
                if (nodes[0] is StarNode)
                {
                    byte[]? suffix = Literal(nodes.Skip(1));
                    if (suffix is null) return false;
                    if (suffix.Length > 1 && suffix[0] == (byte)'.' && suffix.AsSpan(1).IndexOf((byte)'.') < 0)
                    {
                        return AddKey(_extensions, suffix[1..], index);
                    }
                    _basenameSuffixes.Add((suffix, index));
                    return true;
                }
                if (nodes[^1] is StarNode)
                {
                    byte[]? prefix = Literal(nodes.Take(nodes.Count - 1));
                    if (prefix is null) return false;
                    _basenamePrefixes.Add((prefix, index));
                    return true;
                }
            }
            return false;
        }
        if (literals == nodes.Count) return AddKey(_exactPaths, Literal(nodes), index);
        if (nodes[^1] is GlobStarNode && literals == nodes.Count - 1 && nodes[^2] is LiteralNode { CodePoint: '/' })
        {
            byte[]? prefix = Literal(nodes.Take(nodes.Count - 1));
            if (prefix is null) return false;
            _pathPrefixes.Add((prefix, index));
            return true;
        }
        if (nodes[0] is GlobStarSlashNode && literals == nodes.Count - 1)
        {
            byte[]? suffix = Literal(nodes.Skip(1));
            if (suffix is null) return false;
            _pathSuffixes.Add((suffix, index));
            return true;
        }
        return false;
    }

    private static bool IsSlashNode(GlobNode node) => node is LiteralNode { CodePoint: '/' } or GlobStarSlashNode or GlobStarNode;

    private bool AddKey(Dictionary<byte[], int[]> table, byte[]? key, int index)
    {
        if (key is null) return false;
        table[key] = table.TryGetValue(key, out var ids) ? [.. ids, index] : [index];
        return true;
    }

    /// <summary>The bytes of literal nodes (ASCII-lowercased when matching ignores case), or null if they
    /// cannot be compared as bytes (a non-ASCII letter whose case must be folded).</summary>
    private byte[]? Literal(IEnumerable<GlobNode> nodes)
    {
        var bytes = new List<byte>();
        foreach (var node in nodes)
        {
            int c = ((LiteralNode)node).CodePoint;
            if (_caseInsensitive && c >= 0x80) return null;
            PathText.Encode(_caseInsensitive ? char.ToLowerInvariant((char)c) : c, bytes);
        }
        return bytes.ToArray();
    }

    private bool Evaluate(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int>? found)
    {
        int length = directory.Length + name.Length;
        byte[]? rented = null;
        Span<byte> buffer = length <= 1024 ? stackalloc byte[length] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            if (_caseInsensitive)
            {
                // Byte tables hold ASCII-lowercased keys; a path with other bytes goes to the regexes,
                // which fold case the Unicode way.
                if (!Ascii.IsValid(directory) || !Ascii.IsValid(name)) return EvaluateAllByRegex(directory, name, isDirectory, found);
                Ascii.ToLower(directory, buffer, out _);
                Ascii.ToLower(name, buffer[directory.Length..], out _);
            }
            else
            {
                directory.CopyTo(buffer);
                name.CopyTo(buffer[directory.Length..]);
            }
            var path = buffer[..length];
            var basename = path[directory.Length..];
            bool tables = EvaluateTables(path, basename, isDirectory, found);
            if (tables && found is null) return true;
            return EvaluateRegexes(directory, name, isDirectory, found) || tables;
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private bool EvaluateTables(ReadOnlySpan<byte> path, ReadOnlySpan<byte> basename, bool isDirectory, List<int>? found)
    {
        bool any = false;
        if (Add(_matchAll, isDirectory, found, ref any) && found is null) return true;
        if (_basenames.Count > 0 && _basenames.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(basename, out var ids)
            && Add(ids, isDirectory, found, ref any) && found is null) return true;
        if (_extensions.Count > 0)
        {
            int dot = basename.LastIndexOf((byte)'.');
            if (dot >= 0 && _extensions.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(basename[(dot + 1)..], out ids)
                && Add(ids, isDirectory, found, ref any) && found is null) return true;
        }
        foreach (var (suffix, glob) in _basenameSuffixes)
        {
            if (basename.EndsWith(suffix) && Add(glob, isDirectory, found, ref any) && found is null) return true;
        }
        foreach (var (prefix, glob) in _basenamePrefixes)
        {
            if (basename.StartsWith(prefix) && Add(glob, isDirectory, found, ref any) && found is null) return true;
        }
        if (!NeedsPath) return any;
        if (_exactPaths.Count > 0 && _exactPaths.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(path, out ids)
            && Add(ids, isDirectory, found, ref any) && found is null) return true;
        foreach (var (prefix, glob) in _pathPrefixes)
        {
            if (path.Length > prefix.Length && path.StartsWith(prefix) && Add(glob, isDirectory, found, ref any) && found is null) return true;
        }
        foreach (var (suffix, glob) in _pathSuffixes)
        {
            bool hit = path.EndsWith(suffix) && (path.Length == suffix.Length || path[^(suffix.Length + 1)] == (byte)'/');
            if (hit && Add(glob, isDirectory, found, ref any) && found is null) return true;
        }
        return any;
    }

    private bool Add(int glob, bool isDirectory, List<int>? found, ref bool any)
    {
        if (_directoryOnly[glob] && !isDirectory) return false;
        found?.Add(glob);
        any = true;
        return true;
    }

    private bool Add(IEnumerable<int> globs, bool isDirectory, List<int>? found, ref bool any)
    {
        bool added = false;
        foreach (int glob in globs) added |= Add(glob, isDirectory, found, ref any);
        return added;
    }

    private bool EvaluateRegexes(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int>? found)
    {
        bool any = false;
        if (_basenameRegexGlobs.Count > 0)
        {
            any |= MatchRegexes(0, _basenameRegexGlobs, [], name, isDirectory, found);
            if (any && found is null) return true;
        }
        if (_pathRegexGlobs.Count > 0) any |= MatchRegexes(1, _pathRegexGlobs, directory, name, isDirectory, found);
        return any;
    }

    private bool MatchRegexes(int target, List<int> globs, ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int>? found)
    {
        int length = directory.Length + name.Length;
        char[]? rented = null;
        Span<char> text = length <= 1024 ? stackalloc char[length] : (rented = ArrayPool<char>.Shared.Rent(length));
        try
        {
            int written = PathText.Decode(directory, text);
            written += PathText.Decode(name, text[written..]);
            var chars = text[..written];
            if (found is null) return _joined[target, isDirectory ? 1 : 0].Value?.IsMatch(chars) ?? false;
            bool any = false;
            foreach (int glob in globs)
            {
                if ((!_directoryOnly[glob] || isDirectory) && _regexes[glob].Value.IsMatch(chars))
                {
                    found.Add(glob);
                    any = true;
                }
            }
            return any;
        }
        finally
        {
            if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        }
    }

    /// <summary>Case-insensitive matching of a non-ASCII path: every glob by its Unicode-folding regex.</summary>
    private bool EvaluateAllByRegex(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int>? found)
    {
        var sink = found ?? new List<int>();
        bool any = MatchRegexes(0, _allBasenameGlobs, [], name, isDirectory, sink);
        if (any && found is null) return true;
        any |= MatchRegexes(1, _allPathGlobs, directory, name, isDirectory, sink);
        return any;
    }
}
