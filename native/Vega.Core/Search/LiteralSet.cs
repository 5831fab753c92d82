using System.Buffers;

namespace Vega.Core.Search;

/// <summary>
/// Matches a list of literal strings without a regex, whatever their number and length, with the
/// regex's semantics for their alternation: leftmost-first (the earliest start; at one start, the
/// earliest literal in the list), an empty literal matching at every position, and per literal either
/// exact or case-insensitive as .NET's regex is (<see cref="SearchText.Fold"/>).
/// <see cref="SearchValues{T}"/> finds where some literal starts (vectorized, Aho-Corasick for many);
/// a trie over the literals then picks the one that wins there.
/// </summary>
internal sealed class LiteralSet : TextMatcher
{
    /// <summary>Chars scanned between two polls of the cancel token (a few milliseconds at worst).</summary>
    private const int Window = 1 << 20;

    private readonly string[] _literals;
    private readonly bool[] _ignoreCase;
    private readonly bool _folds;
    private readonly SearchValues<string>? _values;
    private readonly int _maxLength;
    /// <summary>The first empty literal (it matches everywhere, so literals after it never win), or int.MaxValue.</summary>
    private readonly int _empty = int.MaxValue;
    // The trie of the search keys (the literals, folded when any ignores case): node 0 is the root.
    private readonly Dictionary<(int Node, char C), int> _children = new();
    /// <summary>The literals ending at a trie node, in list order.</summary>
    private readonly Dictionary<int, List<int>> _ending = new();

    public LiteralSet(IReadOnlyList<string> literals, IReadOnlyList<bool> ignoreCase)
    {
        _literals = literals.ToArray();
        _ignoreCase = ignoreCase.ToArray();
        _folds = _ignoreCase.Any(x => x);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        int nodes = 1;
        for (int id = 0; id < _literals.Length; id++)
        {
            string literal = _literals[id];
            if (literal.Length == 0)
            {
                _empty = id;
                break;
            }
            string key = _folds ? Folded(literal) : literal;
            keys.Add(key);
            _maxLength = Math.Max(_maxLength, key.Length);
            int node = 0;
            foreach (char c in key)
            {
                if (!_children.TryGetValue((node, c), out int child)) _children[(node, c)] = child = nodes++;
                node = child;
            }
            if (!_ending.TryGetValue(node, out var ids)) _ending[node] = ids = new List<int>(1);
            ids.Add(id);
        }
        if (keys.Count > 0) _values = SearchValues.Create(keys.ToArray(), StringComparison.Ordinal);
    }

    public override bool ReadsFolded => _folds;

    private static string Folded(string literal)
    {
        var folded = new char[literal.Length];
        SearchText.Fold(literal, folded);
        return new string(folded);
    }

    public override bool TryMatch(in SearchText text, int start, out int index, out int length)
    {
        index = start;
        if (_empty != int.MaxValue)
        {
            // The empty literal matches here, unless a literal before it in the list (all in the trie) does.
            Winner(text, start, out length);
            return true;
        }
        ReadOnlySpan<char> keys = text.Folded;
        for (int from = start; from < keys.Length && _values is not null;)
        {
            text.Cancel.ThrowIfCancellationRequested();
            // Literals starting in [from, from + Window) lie whole in this slice.
            int end = (int)Math.Min(keys.Length, (long)from + Window + _maxLength - 1);
            int found = keys[from..end].IndexOfAny(_values);
            if (found < 0)
            {
                if (end == keys.Length) break;
                from += Window;
                continue;
            }
            index = from + found;
            if (Winner(text, index, out length) != int.MaxValue) return true;
            from = index + 1; // only exact literals ended here and none matched exactly
        }
        length = 0;
        return false;
    }

    /// <summary>The earliest literal in the list matching at <paramref name="at"/> (int.MaxValue: none) and its length.</summary>
    private int Winner(in SearchText text, int at, out int length)
    {
        ReadOnlySpan<char> keys = text.Folded, chars = text.Chars;
        int winner = int.MaxValue;
        length = 0;
        int node = 0;
        for (int i = at; i < keys.Length && _children.TryGetValue((node, keys[i]), out node);)
        {
            i++;
            if (!_ending.TryGetValue(node, out var ids)) continue;
            foreach (int id in ids)
            {
                if (id >= winner) break;
                if (_ignoreCase[id] || chars[at..i].SequenceEqual(_literals[id]))
                {
                    winner = id;
                    length = i - at;
                    break;
                }
            }
        }
        return winner;
    }
}
