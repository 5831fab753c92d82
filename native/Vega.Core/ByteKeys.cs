namespace Vega.Core;

/// <summary>Compares byte-string keys, and lets a dictionary of them be searched with a span (no allocation per lookup).</summary>
internal sealed class ByteKeys : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly ByteKeys Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
    public int GetHashCode(byte[] key) => Hash(key);
    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);
    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    // A multiply-xorshift hash of 8-byte words: much cheaper than HashCode on short keys. Keys can come
    // from file names in a tree someone else made, so it starts from a per-process random seed: colliding
    // names cannot be prepared in advance.
    private static readonly ulong s_seed = (ulong)Random.Shared.NextInt64();

    private static int Hash(ReadOnlySpan<byte> key)
    {
        ulong hash = ((ulong)key.Length ^ s_seed) * 0x9E3779B97F4A7C15UL;
        while (key.Length >= 8)
        {
            hash = (hash ^ System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(key)) * 0xBF58476D1CE4E5B9UL;
            hash ^= hash >> 31;
            key = key[8..];
        }
        ulong tail = 0;
        for (int i = 0; i < key.Length; i++) tail |= (ulong)key[i] << (8 * i);
        hash = (hash ^ tail) * 0x94D049BB133111EBUL;
        return (int)(hash ^ (hash >> 32));
    }
}
