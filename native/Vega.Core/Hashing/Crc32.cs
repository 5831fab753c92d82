using System.Buffers.Binary;

namespace Vega.Core.Hashing;

/// <summary>
/// CRC-32 as zlib computes it (reflected polynomial 0xEDB88320), slicing by 8 bytes. Written here
/// because System.IO.Hashing is not available to this build; the digest is the value big-endian, so its
/// hex form equals <c>format(zlib.crc32(data), "08x")</c>.
/// </summary>
public sealed class Crc32 : Hasher
{
    private static readonly uint[] s_table = BuildTable();
    private uint _crc;

    public Crc32() => Reset();

    public override int DigestSize => 4;

    public override void Reset() => _crc = 0xFFFFFFFF;

    public override void Append(ReadOnlySpan<byte> data)
    {
        uint crc = _crc;
        var t = s_table;
        while (data.Length >= 8)
        {
            uint low = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            uint high = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[7 * 256 + (low & 0xFF)] ^ t[6 * 256 + ((low >> 8) & 0xFF)]
                ^ t[5 * 256 + ((low >> 16) & 0xFF)] ^ t[4 * 256 + (low >> 24)]
                ^ t[3 * 256 + (high & 0xFF)] ^ t[2 * 256 + ((high >> 8) & 0xFF)]
                ^ t[1 * 256 + ((high >> 16) & 0xFF)] ^ t[high >> 24];
            data = data[8..];
        }
        foreach (byte b in data) crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8);
        _crc = crc;
    }

    public override int Finish(Span<byte> digest)
    {
        BinaryPrimitives.WriteUInt32BigEndian(digest, ~_crc);
        return 4;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        for (int i = 0; i < 256; i++)
            for (int slice = 1; slice < 8; slice++)
                table[slice * 256 + i] = (table[(slice - 1) * 256 + i] >> 8) ^ table[table[(slice - 1) * 256 + i] & 0xFF];
        return table;
    }
}
