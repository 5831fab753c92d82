namespace Vega.Core.Analysis;

/// <summary>A row of a ranked table: a path (or name) with the values the table reports for it.</summary>
public sealed record RankedRow(long Score, byte[] Path, long[] Values);

/// <summary>
/// The best <c>capacity</c> rows seen: highest score first, ties broken by path bytes ascending, so the
/// result does not depend on the order in which parallel workers saw the rows.
/// </summary>
internal sealed class RankedRows(int capacity)
{
    private readonly List<RankedRow> _rows = new(Math.Min(capacity, 64) + 1); // grows with the rows kept, not with top_n

    public IReadOnlyList<RankedRow> Rows => _rows;

    /// <summary>Whether a row with this score and the path <paramref name="prefix"/> + <paramref name="name"/> would be kept (checked before building it).</summary>
    public bool Accepts(long score, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> name)
    {
        if (_rows.Count < capacity) return true;
        if (capacity == 0) return false;
        var worst = _rows[^1];
        return score > worst.Score || (score == worst.Score && ComparePath(prefix, name, worst.Path) < 0);
    }

    public void Add(RankedRow row)
    {
        int at = _rows.Count;
        while (at > 0 && Better(row, _rows[at - 1])) at--;
        if (at >= capacity) return;
        _rows.Insert(at, row);
        if (_rows.Count > capacity) _rows.RemoveAt(_rows.Count - 1);
    }

    public void Offer(RankedRow row)
    {
        if (Accepts(row.Score, row.Path, default)) Add(row);
    }

    private static bool Better(RankedRow a, RankedRow b) =>
        a.Score > b.Score || (a.Score == b.Score && a.Path.AsSpan().SequenceCompareTo(b.Path) < 0);

    /// <summary>Compares the concatenation <paramref name="prefix"/> + <paramref name="name"/> with <paramref name="path"/>, without building it.</summary>
    internal static int ComparePath(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> name, ReadOnlySpan<byte> path)
    {
        int shared = Math.Min(prefix.Length, path.Length);
        int order = prefix[..shared].SequenceCompareTo(path[..shared]);
        if (order != 0) return order;
        if (prefix.Length > path.Length) return 1;
        return name.SequenceCompareTo(path[prefix.Length..]);
    }
}
