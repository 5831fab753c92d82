using System.Runtime.InteropServices;

namespace Vega.Core.Analysis;

/// <summary>A count with byte sums, per key (an extension or a folder name).</summary>
public record struct KeyTotals(long Count, long Bytes, long DiskBytes);

/// <summary>Totals per byte-string key, updated with a span (no allocation unless the key is new).</summary>
internal sealed class KeyCounts
{
    private readonly Dictionary<byte[], KeyTotals> _totals = new(ByteKeys.Instance);
    private readonly Dictionary<byte[], KeyTotals>.AlternateLookup<ReadOnlySpan<byte>> _lookup;

    public KeyCounts() => _lookup = _totals.GetAlternateLookup<ReadOnlySpan<byte>>();

    public IEnumerable<KeyValuePair<byte[], KeyTotals>> Items => _totals;

    public int Count => _totals.Count;

    public void Add(ReadOnlySpan<byte> key, long count, long bytes, long diskBytes)
    {
        ref var totals = ref CollectionsMarshal.GetValueRefOrAddDefault(_lookup, key, out _);
        totals.Count += count;
        totals.Bytes += bytes;
        totals.DiskBytes += diskBytes;
    }

    public void AddAll(KeyCounts other)
    {
        foreach (var (key, t) in other._totals) Add(key, t.Count, t.Bytes, t.DiskBytes);
    }
}
