using System.Buffers.Binary;
using System.Numerics;

namespace Vega.Core.Hashing;

/// <summary>
/// XXH64 with seed 0, written from the xxHash specification (System.IO.Hashing is not available to
/// this build). Streams: whole 32-byte stripes are consumed as they arrive, at most 31 bytes wait.
/// </summary>
public sealed class XxHash64 : Hasher
{
    internal const ulong Prime1 = 0x9E3779B185EBCA87;
    internal const ulong Prime2 = 0xC2B2AE3D27D4EB4F;
    internal const ulong Prime3 = 0x165667B19E3779F9;
    internal const ulong Prime4 = 0x85EBCA77C2B2AE63;
    internal const ulong Prime5 = 0x27D4EB2F165667C5;
    internal const uint Prime32_1 = 0x9E3779B1;
    internal const uint Prime32_2 = 0x85EBCA77;
    internal const uint Prime32_3 = 0xC2B2AE3D;

    private ulong _v1, _v2, _v3, _v4;
    private readonly byte[] _pending = new byte[32];
    private int _pendingLength;
    private long _length;

    public XxHash64() => Reset();

    public override int DigestSize => 8;

    public override void Reset()
    {
        _v1 = unchecked(Prime1 + Prime2);
        _v2 = Prime2;
        _v3 = 0;
        _v4 = unchecked(0 - Prime1);
        _pendingLength = 0;
        _length = 0;
    }

    public override void Append(ReadOnlySpan<byte> data)
    {
        _length += data.Length;
        if (_pendingLength > 0)
        {
            int take = Math.Min(32 - _pendingLength, data.Length);
            data[..take].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += take;
            data = data[take..];
            if (_pendingLength < 32) return;
            ConsumeStripe(_pending);
            _pendingLength = 0;
        }
        while (data.Length >= 32)
        {
            ConsumeStripe(data);
            data = data[32..];
        }
        data.CopyTo(_pending);
        _pendingLength = data.Length;
    }

    private void ConsumeStripe(ReadOnlySpan<byte> s)
    {
        _v1 = Round(_v1, Read64(s));
        _v2 = Round(_v2, Read64(s[8..]));
        _v3 = Round(_v3, Read64(s[16..]));
        _v4 = Round(_v4, Read64(s[24..]));
    }

    public override int Finish(Span<byte> digest)
    {
        ulong h;
        if (_length >= 32)
        {
            h = BitOperations.RotateLeft(_v1, 1) + BitOperations.RotateLeft(_v2, 7)
                + BitOperations.RotateLeft(_v3, 12) + BitOperations.RotateLeft(_v4, 18);
            h = MergeRound(h, _v1);
            h = MergeRound(h, _v2);
            h = MergeRound(h, _v3);
            h = MergeRound(h, _v4);
        }
        else h = Prime5;
        h += (ulong)_length;
        ReadOnlySpan<byte> rest = _pending.AsSpan(0, _pendingLength);
        while (rest.Length >= 8)
        {
            h ^= Round(0, Read64(rest));
            h = BitOperations.RotateLeft(h, 27) * Prime1 + Prime4;
            rest = rest[8..];
        }
        if (rest.Length >= 4)
        {
            h ^= BinaryPrimitives.ReadUInt32LittleEndian(rest) * Prime1;
            h = BitOperations.RotateLeft(h, 23) * Prime2 + Prime3;
            rest = rest[4..];
        }
        foreach (byte b in rest)
        {
            h ^= b * Prime5;
            h = BitOperations.RotateLeft(h, 11) * Prime1;
        }
        BinaryPrimitives.WriteUInt64BigEndian(digest, Avalanche(h));
        return 8;
    }

    internal static ulong Avalanche(ulong h)
    {
        h ^= h >> 33;
        h *= Prime2;
        h ^= h >> 29;
        h *= Prime3;
        return h ^ (h >> 32);
    }

    private static ulong Round(ulong acc, ulong input) => BitOperations.RotateLeft(acc + input * Prime2, 31) * Prime1;

    private static ulong MergeRound(ulong acc, ulong value) => (acc ^ Round(0, value)) * Prime1 + Prime4;

    private static ulong Read64(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt64LittleEndian(s);
}
