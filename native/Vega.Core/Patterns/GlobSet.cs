using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
    // Span lookups into the tables above, made once (making one checks the comparer's type).
    private readonly Dictionary<byte[], int[]>.AlternateLookup<ReadOnlySpan<byte>> _exactPathLookup, _basenameLookup, _extensionLookup;
    private readonly List<(byte[] Affix, int Glob)> _basenameSuffixes = new();
    private readonly List<(byte[] Affix, int Glob)> _basenamePrefixes = new();
    private readonly List<(byte[] Affix, int Glob)> _pathPrefixes = new();
    private readonly List<(byte[] Affix, int Glob)> _pathSuffixes = new();
    private readonly List<int> _matchAll = new();
    // Regex globs by target (0: basename, 1: whole path), split by whether they have a literal gate.
    private readonly List<int>[] _gatedRegexGlobs = [new(), new()];
    private readonly List<int>[] _ungatedRegexGlobs = [new(), new()];
    private readonly (byte[] Prefix, byte[] Suffix)[] _gates;

    private readonly List<int> _allBasenameGlobs = new();
    private readonly List<int> _allPathGlobs = new();
    private readonly Lazy<Regex>[] _regexes;
    // Joined regexes for "does any glob match": [target basename/path][directory or not]; null: none to join,
    // or too many for one regex (each glob's own regex is tried then).
    private readonly Lazy<Regex?>[,] _joined = new Lazy<Regex?>[2, 2];

    public GlobSet(IReadOnlyList<Glob> globs, bool caseInsensitive = false)
    {
        if (globs.Count == 0) throw new ArgumentException("a glob set needs at least one pattern");
        _globs = globs.ToArray();
        _caseInsensitive = caseInsensitive;
        _directoryOnly = _globs.Select(g => g.DirectoryOnly).ToArray();
        _regexes = new Lazy<Regex>[_globs.Length];
        _gates = new (byte[], byte[])[_globs.Length];
        _exactPathLookup = _exactPaths.GetAlternateLookup<ReadOnlySpan<byte>>();
        _basenameLookup = _basenames.GetAlternateLookup<ReadOnlySpan<byte>>();
        _extensionLookup = _extensions.GetAlternateLookup<ReadOnlySpan<byte>>();
        for (int i = 0; i < _globs.Length; i++)
        {
            var glob = _globs[i];
            _regexes[i] = new Lazy<Regex>(() => NewRegex(glob.ToRegex()) ??
                throw new GlobException(glob.Pattern, 0, "too long or complex: more than the linear-time regex engine's size limit"));
            (glob.HasSlash ? _allPathGlobs : _allBasenameGlobs).Add(i);
            Classify(i);
        }
        NeedsPath = _exactPaths.Count + _pathPrefixes.Count + _pathSuffixes.Count + _gatedRegexGlobs[1].Count + _ungatedRegexGlobs[1].Count > 0;
        HasRegexes = _gatedRegexGlobs.Concat(_ungatedRegexGlobs).Any(list => list.Count > 0);
        for (int target = 0; target < 2; target++)
        {
            for (int dir = 0; dir < 2; dir++)
            {
                var ids = _ungatedRegexGlobs[target].Where(g => dir == 1 || !_directoryOnly[g]).ToList();
                _joined[target, dir] = new Lazy<Regex?>(() => ids.Count == 0 ? null
                    : NewRegex(string.Join("|", ids.Select(g => "(?:" + _globs[g].ToRegex() + ")"))));
            }
        }
        foreach (int g in _gatedRegexGlobs.Concat(_ungatedRegexGlobs).SelectMany(list => list)) _ = _regexes[g].Value; // compile errors surface now
    }

    public static GlobSet Parse(IEnumerable<string> patterns, bool caseInsensitive = false, GlobSyntax syntax = GlobSyntax.Default) =>
        new(patterns.Select(p => Glob.Parse(p, syntax)).ToList(), caseInsensitive);

    public int Count => _globs.Length;
    public Glob this[int index] => _globs[index];

    private bool HasRegexes { get; }

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

    /// <summary>The regex matching a whole text against <paramref name="body"/>, or null if it is too large for NonBacktracking.</summary>
    private Regex? NewRegex(string body)
    {
        var options = RegexOptions.NonBacktracking | RegexOptions.Singleline | RegexOptions.CultureInvariant;
        if (_caseInsensitive) options |= RegexOptions.IgnoreCase;
        try { return new Regex(@"\A(?:" + body + @")\z", options); }
        catch (NotSupportedException) { return null; } // its size limit: nothing else in a glob's regex is unsupported
    }

    private void Classify(int index)
    {
        var glob = _globs[index];
        var expanded = glob.Expand(ExpansionLimit);
        if (expanded is not null && expanded.All(nodes => AddSimple(nodes, index))) return;
        // At least one expansion has no simple shape: the glob is matched by its regex alone. Simple
        // shapes already added for other expansions stay; they only find what the regex would.
        int target = glob.HasSlash ? 1 : 0;
        _gates[index] = Gates(glob);
        bool gated = _gates[index].Prefix.Length + _gates[index].Suffix.Length > 0;
        (gated ? _gatedRegexGlobs : _ungatedRegexGlobs)[target].Add(index);
    }

    /// <summary>The literal text a glob's matches must start and end with (none when folding case).</summary>
    private (byte[] Prefix, byte[] Suffix) Gates(Glob glob)
    {
        if (_caseInsensitive) return ([], []);
        var nodes = glob.Nodes;
        int leading = nodes.TakeWhile(n => n is LiteralNode).Count();
        int trailing = leading == nodes.Count ? 0 : nodes.AsEnumerable().Reverse().TakeWhile(n => n is LiteralNode).Count();
        return (Literal(nodes.Take(leading)) ?? [], Literal(nodes.Skip(nodes.Count - trailing)) ?? []);
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
        if (!_caseInsensitive)
        {
            // The common case needs no copy: the basename alone, or a path whose parts are adjacent in memory.
            if (!NeedsPath) return EvaluateParts(name, name, directory, name, isDirectory, found);
            if (Unsafe.AreSame(ref Unsafe.Add(ref MemoryMarshal.GetReference(directory), directory.Length), ref MemoryMarshal.GetReference(name)))
            {
                var whole = MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetReference(directory), directory.Length + name.Length);
                return EvaluateParts(whole, name, directory, name, isDirectory, found);
            }
        }
        int length = directory.Length + name.Length;
        byte[]? rented = null;
        Span<byte> buffer = length <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(length));
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
            return EvaluateParts(path, path[directory.Length..], directory, name, isDirectory, found);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Tables on the (case-folded) path and basename, then regexes on the original parts.</summary>
    private bool EvaluateParts(ReadOnlySpan<byte> path, ReadOnlySpan<byte> basename, ReadOnlySpan<byte> directory,
                               ReadOnlySpan<byte> name, bool isDirectory, List<int>? found)
    {
        bool tables = EvaluateTables(path, basename, isDirectory, found);
        if (tables && found is null) return true;
        if (!HasRegexes) return tables;
        return EvaluateRegexes(directory, name, isDirectory, found) || tables;
    }

    private bool EvaluateTables(ReadOnlySpan<byte> path, ReadOnlySpan<byte> basename, bool isDirectory, List<int>? found)
    {
        bool any = false;
        if (Add(CollectionsMarshal.AsSpan(_matchAll), isDirectory, found, ref any) && found is null) return true;
        if (_basenames.Count > 0 && _basenameLookup.TryGetValue(basename, out var ids)
            && Add(ids, isDirectory, found, ref any) && found is null) return true;
        if (_extensions.Count > 0)
        {
            int dot = basename.LastIndexOf((byte)'.');
            if (dot >= 0 && _extensionLookup.TryGetValue(basename[(dot + 1)..], out ids)
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
        if (_exactPaths.Count > 0 && _exactPathLookup.TryGetValue(path, out ids)
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

    private bool Add(ReadOnlySpan<int> globs, bool isDirectory, List<int>? found, ref bool any)
    {
        bool added = false;
        foreach (int glob in globs) added |= Add(glob, isDirectory, found, ref any);
        return added;
    }

    /// <summary>
    /// Regex globs, basename ones then path ones. A glob whose pattern starts or ends with literal text is
    /// tried only on paths that start or end with it (most are rejected without running a regex); the
    /// others are tried together, as one joined regex, when any match will do.
    /// </summary>
    private bool EvaluateRegexes(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int>? found)
    {
        bool any = false;
        for (int target = 0; target < 2; target++)
        {
            var dir = target == 0 ? default : directory;
            var text = new DecodedPath();
            foreach (int glob in CollectionsMarshal.AsSpan(_gatedRegexGlobs[target]))
            {
                if (_directoryOnly[glob] && !isDirectory) continue;
                var (prefix, suffix) = _gates[glob];
                if (!StartsWith(dir, name, prefix) || !EndsWith(dir, name, suffix)) continue;
                if (!_regexes[glob].Value.IsMatch(text.Get(dir, name))) continue;
                if (found is null) return true;
                found.Add(glob);
                any = true;
            }
            var ungated = _ungatedRegexGlobs[target];
            if (ungated.Count == 0) continue;
            if (found is null)
            {
                var joined = _joined[target, isDirectory ? 1 : 0].Value;
                if (joined is not null ? joined.IsMatch(text.Get(dir, name)) : MatchEach(ungated, text.Get(dir, name), isDirectory, null)) return true;
                continue;
            }
            any |= MatchEach(ungated, text.Get(dir, name), isDirectory, found);
        }
        return any;
    }

    /// <summary>Adds the globs matching <paramref name="text"/> to <paramref name="found"/>; without it, stops at the first.</summary>
    private bool MatchEach(List<int> globs, ReadOnlySpan<char> text, bool isDirectory, List<int>? found)
    {
        bool any = false;
        foreach (int glob in CollectionsMarshal.AsSpan(globs))
        {
            if ((!_directoryOnly[glob] || isDirectory) && _regexes[glob].Value.IsMatch(text))
            {
                if (found is null) return true;
                found.Add(glob);
                any = true;
            }
        }
        return any;
    }

    private static bool StartsWith(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, byte[] prefix)
    {
        if (prefix.Length <= directory.Length) return directory.StartsWith(prefix);
        return directory.SequenceEqual(prefix.AsSpan(0, directory.Length)) && name.StartsWith(prefix.AsSpan(directory.Length));
    }

    private static bool EndsWith(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, byte[] suffix)
    {
        if (suffix.Length <= name.Length) return name.EndsWith(suffix);
        int inDirectory = suffix.Length - name.Length;
        return name.SequenceEqual(suffix.AsSpan(inDirectory)) && directory.EndsWith(suffix.AsSpan(0, inDirectory));
    }

    [ThreadStatic] private static char[]? t_decoded;

    /// <summary>The path decoded for regexes (<see cref="PathText"/>), once, on first need, into a per-thread
    /// buffer (so only one DecodedPath per thread may be in use at a time).</summary>
    private struct DecodedPath
    {
        private int _length;

        public ReadOnlySpan<char> Get(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name)
        {
            int needed = directory.Length + name.Length;
            if (_length == 0 && needed > 0)
            {
                if (t_decoded is null || t_decoded.Length < needed) t_decoded = new char[Math.Max(256, needed * 2)];
                _length = PathText.Decode(directory, t_decoded);
                _length += PathText.Decode(name, t_decoded.AsSpan(_length));
            }
            return t_decoded.AsSpan(0, _length);
        }
    }

    /// <summary>Case-insensitive matching of a non-ASCII path: every glob by its Unicode-folding regex.</summary>
    private bool EvaluateAllByRegex(ReadOnlySpan<byte> directory, ReadOnlySpan<byte> name, bool isDirectory, List<int>? found)
    {
        var sink = found ?? new List<int>();
        bool any = MatchEach(_allBasenameGlobs, new DecodedPath().Get(default, name), isDirectory, sink);
        if (any && found is null) return true;
        return MatchEach(_allPathGlobs, new DecodedPath().Get(directory, name), isDirectory, sink) || any;
    }
}
