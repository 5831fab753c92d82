using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Vega.Core.Hashing;

/// <summary>
/// XXH3 (64- and 128-bit, seed 0, default secret), written from the xxHash specification because
/// System.IO.Hashing, which has it, is not available to this build (not on the package mirror).
/// Inputs longer than one 1 KiB block are streamed: blocks are consumed only once a later byte is
/// known to exist, so the final partial block is always held back and finished exactly as the one-shot
/// algorithm finishes it. Cross-checked against the reference library (python3-xxhash) in the tests.
/// </summary>
public sealed class XxHash3 : Hasher
{
    private const int StripeLength = 64;
    private const int SecretSize = 192;
    private const int StripesPerBlock = (SecretSize - StripeLength) / 8;
    private const int BlockLength = StripeLength * StripesPerBlock;
    private const int MidSizeMax = 240;

    private readonly bool _wide;
    private readonly ulong[] _acc = new ulong[8];
    private readonly byte[] _pending = new byte[BlockLength];
    private readonly byte[] _previousTail = new byte[StripeLength];
    private int _pendingLength;
    private long _length;

    public XxHash3(bool wide) { _wide = wide; Reset(); }

    public override int DigestSize => _wide ? 16 : 8;

    public override void Reset()
    {
        InitAccumulators(_acc);
        _pendingLength = 0;
        _length = 0;
    }

    public override void Append(ReadOnlySpan<byte> data)
    {
        _length += data.Length;
        if (_pendingLength > 0)
        {
            int take = Math.Min(BlockLength - _pendingLength, data.Length);
            data[..take].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += take;
            data = data[take..];
            if (data.IsEmpty) return;
            ConsumeBlock(_pending);
            _pendingLength = 0;
        }
        while (data.Length > BlockLength)
        {
            ConsumeBlock(data[..BlockLength]);
            data = data[BlockLength..];
        }
        data.CopyTo(_pending);
        _pendingLength = data.Length;
    }

    public override int Finish(Span<byte> digest)
    {
        var tail = _pending.AsSpan(0, _pendingLength);
        if (_length <= BlockLength)
        {
            // Nothing consumed yet: the whole input is pending.
            if (_wide) WriteBigEndian(digest, Hash128(tail)); else BinaryPrimitives.WriteUInt64BigEndian(digest, Hash64(tail));
            return DigestSize;
        }
        Span<ulong> acc = stackalloc ulong[8];
        _acc.CopyTo(acc);
        Accumulate(acc, tail, (tail.Length - 1) / StripeLength);
        Span<byte> lastStripe = stackalloc byte[StripeLength];
        if (tail.Length >= StripeLength) tail[^StripeLength..].CopyTo(lastStripe);
        else
        {
            int fromPrevious = StripeLength - tail.Length;
            _previousTail.AsSpan(StripeLength - fromPrevious).CopyTo(lastStripe);
            tail.CopyTo(lastStripe[fromPrevious..]);
        }
        Accumulate512(acc, lastStripe, Secret[(SecretSize - StripeLength - 7)..]);
        if (_wide) WriteBigEndian(digest, FinishLong128(acc, (ulong)_length));
        else BinaryPrimitives.WriteUInt64BigEndian(digest, FinishLong64(acc, (ulong)_length));
        return DigestSize;
    }

    private void ConsumeBlock(ReadOnlySpan<byte> block)
    {
        Accumulate(_acc, block, StripesPerBlock);
        Scramble(_acc, Secret[(SecretSize - StripeLength)..]);
        block[^StripeLength..].CopyTo(_previousTail);
    }

    /// <summary>XXH3_64bits(input) with seed 0.</summary>
    public static ulong Hash64(ReadOnlySpan<byte> input)
    {
        var s = Secret;
        int len = input.Length;
        if (len <= 16)
        {
            if (len > 8)
            {
                ulong inputLo = Read64(input) ^ (Read64(s[24..]) ^ Read64(s[32..]));
                ulong inputHi = Read64(input[(len - 8)..]) ^ (Read64(s[40..]) ^ Read64(s[48..]));
                ulong acc = (ulong)len + BinaryPrimitives.ReverseEndianness(inputLo) + inputHi + MulFold64(inputLo, inputHi);
                return Avalanche(acc);
            }
            if (len >= 4)
            {
                ulong input64 = Read32(input[(len - 4)..]) + ((ulong)Read32(input) << 32);
                ulong keyed = input64 ^ (Read64(s[8..]) ^ Read64(s[16..]));
                return RrMxMx(keyed, (ulong)len);
            }
            if (len > 0)
            {
                uint combined = ((uint)input[0] << 16) | ((uint)input[len >> 1] << 24) | input[len - 1] | ((uint)len << 8);
                ulong keyed = combined ^ (ulong)(Read32(s) ^ Read32(s[4..]));
                return Xxh64Avalanche(keyed);
            }
            return Xxh64Avalanche(Read64(s[56..]) ^ Read64(s[64..]));
        }
        if (len <= 128)
        {
            ulong acc = (ulong)len * XxHash64.Prime1;
            if (len > 32)
            {
                if (len > 64)
                {
                    if (len > 96)
                    {
                        acc += Mix16(input[48..], s[96..]);
                        acc += Mix16(input[(len - 64)..], s[112..]);
                    }
                    acc += Mix16(input[32..], s[64..]);
                    acc += Mix16(input[(len - 48)..], s[80..]);
                }
                acc += Mix16(input[16..], s[32..]);
                acc += Mix16(input[(len - 32)..], s[48..]);
            }
            acc += Mix16(input, s);
            acc += Mix16(input[(len - 16)..], s[16..]);
            return Avalanche(acc);
        }
        if (len <= MidSizeMax)
        {
            ulong acc = (ulong)len * XxHash64.Prime1;
            int rounds = len / 16;
            for (int i = 0; i < 8; i++) acc += Mix16(input[(16 * i)..], s[(16 * i)..]);
            acc = Avalanche(acc);
            for (int i = 8; i < rounds; i++) acc += Mix16(input[(16 * i)..], s[(16 * (i - 8) + 3)..]);
            acc += Mix16(input[(len - 16)..], s[(136 - 17)..]);
            return Avalanche(acc);
        }
        Span<ulong> accs = stackalloc ulong[8];
        HashLong(accs, input);
        return FinishLong64(accs, (ulong)len);
    }

    /// <summary>XXH3_128bits(input) with seed 0.</summary>
    public static UInt128 Hash128(ReadOnlySpan<byte> input)
    {
        var s = Secret;
        int len = input.Length;
        if (len <= 16)
        {
            if (len > 8)
            {
                ulong bitflipL = Read64(s[32..]) ^ Read64(s[40..]);
                ulong bitflipH = Read64(s[48..]) ^ Read64(s[56..]);
                ulong inputLo = Read64(input);
                ulong inputHi = Read64(input[(len - 8)..]);
                ulong mHigh = Math.BigMul(inputLo ^ inputHi ^ bitflipL, XxHash64.Prime1, out ulong mLow);
                mLow += (ulong)(len - 1) << 54;
                inputHi ^= bitflipH;
                mHigh += inputHi + (ulong)(uint)inputHi * (XxHash64.Prime32_2 - 1);
                mLow ^= BinaryPrimitives.ReverseEndianness(mHigh);
                ulong hHigh = Math.BigMul(mLow, XxHash64.Prime2, out ulong hLow);
                hHigh += mHigh * XxHash64.Prime2;
                return new UInt128(Avalanche(hHigh), Avalanche(hLow));
            }
            if (len >= 4)
            {
                ulong input64 = Read32(input) + ((ulong)Read32(input[(len - 4)..]) << 32);
                ulong keyed = input64 ^ (Read64(s[16..]) ^ Read64(s[24..]));
                ulong high = Math.BigMul(keyed, XxHash64.Prime1 + ((ulong)len << 2), out ulong low);
                high += low << 1;
                low ^= high >> 3;
                low ^= low >> 35;
                low *= PrimeMx2;
                low ^= low >> 28;
                return new UInt128(Avalanche(high), low);
            }
            if (len > 0)
            {
                uint combinedL = ((uint)input[0] << 16) | ((uint)input[len >> 1] << 24) | input[len - 1] | ((uint)len << 8);
                uint combinedH = BitOperations.RotateLeft(BinaryPrimitives.ReverseEndianness(combinedL), 13);
                ulong keyedL = combinedL ^ (ulong)(Read32(s) ^ Read32(s[4..]));
                ulong keyedH = combinedH ^ (ulong)(Read32(s[8..]) ^ Read32(s[12..]));
                return new UInt128(Xxh64Avalanche(keyedH), Xxh64Avalanche(keyedL));
            }
            return new UInt128(Xxh64Avalanche(Read64(s[80..]) ^ Read64(s[88..])), Xxh64Avalanche(Read64(s[64..]) ^ Read64(s[72..])));
        }
        if (len <= MidSizeMax)
        {
            ulong accLow = (ulong)len * XxHash64.Prime1, accHigh = 0;
            if (len <= 128)
            {
                if (len > 32)
                {
                    if (len > 64)
                    {
                        if (len > 96) Mix32(ref accLow, ref accHigh, input[48..], input[(len - 64)..], s[96..]);
                        Mix32(ref accLow, ref accHigh, input[32..], input[(len - 48)..], s[64..]);
                    }
                    Mix32(ref accLow, ref accHigh, input[16..], input[(len - 32)..], s[32..]);
                }
                Mix32(ref accLow, ref accHigh, input, input[(len - 16)..], s);
            }
            else
            {
                for (int i = 32; i < 160; i += 32) Mix32(ref accLow, ref accHigh, input[(i - 32)..], input[(i - 16)..], s[(i - 32)..]);
                accLow = Avalanche(accLow);
                accHigh = Avalanche(accHigh);
                for (int i = 160; i <= len; i += 32) Mix32(ref accLow, ref accHigh, input[(i - 32)..], input[(i - 16)..], s[(3 + i - 160)..]);
                Mix32(ref accLow, ref accHigh, input[(len - 16)..], input[(len - 32)..], s[(136 - 17 - 16)..]);
            }
            ulong low = accLow + accHigh;
            ulong high = accLow * XxHash64.Prime1 + accHigh * XxHash64.Prime4 + (ulong)len * XxHash64.Prime2;
            return new UInt128(0 - Avalanche(high), Avalanche(low));
        }
        Span<ulong> accs = stackalloc ulong[8];
        HashLong(accs, input);
        return FinishLong128(accs, (ulong)len);
    }

    private static void HashLong(Span<ulong> acc, ReadOnlySpan<byte> input)
    {
        InitAccumulators(acc);
        int blocks = (input.Length - 1) / BlockLength;
        var s = Secret;
        for (int n = 0; n < blocks; n++)
        {
            Accumulate(acc, input.Slice(n * BlockLength, BlockLength), StripesPerBlock);
            Scramble(acc, s[(SecretSize - StripeLength)..]);
        }
        var last = input[(blocks * BlockLength)..];
        Accumulate(acc, last, (last.Length - 1) / StripeLength);
        Accumulate512(acc, input[^StripeLength..], s[(SecretSize - StripeLength - 7)..]);
    }

    private static ulong FinishLong64(ReadOnlySpan<ulong> acc, ulong length) =>
        MergeAccumulators(acc, Secret[11..], length * XxHash64.Prime1);

    private static UInt128 FinishLong128(ReadOnlySpan<ulong> acc, ulong length) =>
        new(MergeAccumulators(acc, Secret[(SecretSize - StripeLength - 11)..], ~(length * XxHash64.Prime2)),
            MergeAccumulators(acc, Secret[11..], length * XxHash64.Prime1));

    private static void InitAccumulators(Span<ulong> acc)
    {
        acc[0] = XxHash64.Prime32_3; acc[1] = XxHash64.Prime1; acc[2] = XxHash64.Prime2; acc[3] = XxHash64.Prime3;
        acc[4] = XxHash64.Prime4; acc[5] = XxHash64.Prime32_2; acc[6] = XxHash64.Prime5; acc[7] = XxHash64.Prime32_1;
    }

    private static void Accumulate(Span<ulong> acc, ReadOnlySpan<byte> input, int stripes)
    {
        var s = Secret;
        for (int n = 0; n < stripes; n++) Accumulate512(acc, input.Slice(n * StripeLength, StripeLength), s[(n * 8)..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate512(Span<ulong> acc, ReadOnlySpan<byte> stripe, ReadOnlySpan<byte> secret)
    {
        if (Avx2.IsSupported)
        {
            ref byte data = ref Unsafe.AsRef(in stripe[0]);
            ref byte key = ref Unsafe.AsRef(in secret[0]);
            ref ulong a = ref acc[0];
            for (int i = 0; i < 2; i++)
            {
                var d = Vector256.LoadUnsafe(ref data, (nuint)(32 * i)).AsUInt64();
                var k = d ^ Vector256.LoadUnsafe(ref key, (nuint)(32 * i)).AsUInt64();
                var product = Avx2.Multiply(k.AsUInt32(), Avx2.ShiftRightLogical(k, 32).AsUInt32());
                var swapped = Avx2.Shuffle(d.AsUInt32(), 0b01_00_11_10).AsUInt64();
                var sum = Vector256.LoadUnsafe(ref a, (nuint)(4 * i)) + swapped + product;
                sum.StoreUnsafe(ref a, (nuint)(4 * i));
            }
            return;
        }
        for (int i = 0; i < 8; i++)
        {
            ulong dataValue = Read64(stripe[(8 * i)..]);
            ulong dataKey = dataValue ^ Read64(secret[(8 * i)..]);
            acc[i ^ 1] += dataValue;
            acc[i] += (ulong)(uint)dataKey * (dataKey >> 32);
        }
    }

    private static void Scramble(Span<ulong> acc, ReadOnlySpan<byte> secret)
    {
        for (int i = 0; i < 8; i++)
        {
            ulong a = acc[i];
            a ^= a >> 47;
            a ^= Read64(secret[(8 * i)..]);
            acc[i] = a * XxHash64.Prime32_1;
        }
    }

    private static ulong MergeAccumulators(ReadOnlySpan<ulong> acc, ReadOnlySpan<byte> secret, ulong start)
    {
        ulong result = start;
        for (int i = 0; i < 4; i++)
            result += MulFold64(acc[2 * i] ^ Read64(secret[(16 * i)..]), acc[2 * i + 1] ^ Read64(secret[(16 * i + 8)..]));
        return Avalanche(result);
    }

    private static ulong Mix16(ReadOnlySpan<byte> input, ReadOnlySpan<byte> secret) =>
        MulFold64(Read64(input) ^ Read64(secret), Read64(input[8..]) ^ Read64(secret[8..]));

    private static void Mix32(ref ulong low, ref ulong high, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> secret)
    {
        low += Mix16(a, secret);
        low ^= Read64(b) + Read64(b[8..]);
        high += Mix16(b, secret[16..]);
        high ^= Read64(a) + Read64(a[8..]);
    }

    private const ulong PrimeMx1 = 0x165667919E3779F9;
    private const ulong PrimeMx2 = 0x9FB21C651E98DF25;

    private static ulong MulFold64(ulong a, ulong b)
    {
        ulong high = Math.BigMul(a, b, out ulong low);
        return low ^ high;
    }

    private static ulong Avalanche(ulong h)
    {
        h ^= h >> 37;
        h *= PrimeMx1;
        return h ^ (h >> 32);
    }

    private static ulong RrMxMx(ulong h, ulong length)
    {
        h ^= BitOperations.RotateLeft(h, 49) ^ BitOperations.RotateLeft(h, 24);
        h *= PrimeMx2;
        h ^= (h >> 35) + length;
        h *= PrimeMx2;
        return h ^ (h >> 28);
    }

    private static ulong Xxh64Avalanche(ulong h) => XxHash64.Avalanche(h);

    private static void WriteBigEndian(Span<byte> digest, UInt128 value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(digest, (ulong)(value >> 64));
        BinaryPrimitives.WriteUInt64BigEndian(digest[8..], (ulong)value);
    }

    private static ulong Read64(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt64LittleEndian(s);
    private static uint Read32(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt32LittleEndian(s);

    private static ReadOnlySpan<byte> Secret =>
    [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
        0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
        0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
        0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
        0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
        0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
        0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
        0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
        0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
        0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
        0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
        0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ];
}
