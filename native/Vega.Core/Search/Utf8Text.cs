using System.Buffers;
using System.Text.Unicode;

namespace Vega.Core.Search;

/// <summary>
/// Text for the regex engine, which reads UTF-16: valid UTF-8 decodes as usual and every byte that is
/// not part of valid UTF-8 becomes U+DC00 + the byte (U+DC80..U+DCFF, as Python's "surrogateescape" does), so any file can
/// be searched and every char still maps back to the bytes it came from.
/// </summary>
internal static class Utf8Text
{
    /// <summary>
    /// Decodes <paramref name="bytes"/> into <paramref name="chars"/> (at least as long) and returns the
    /// count. <paramref name="oneToOne"/> is true when every byte became one char (ASCII, or only escapes),
    /// so char and byte offsets are equal.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> bytes, Span<char> chars, out bool oneToOne)
    {
        int read = 0, written = 0;
        while (true)
        {
            var status = Utf8.ToUtf16(bytes[read..], chars[written..], out int r, out int w, replaceInvalidSequences: false);
            read += r;
            written += w;
            if (status == OperationStatus.Done) break;
            chars[written++] = (char)(0xDC00 + bytes[read++]);
        }
        oneToOne = written == bytes.Length;
        return written;
    }

    /// <summary>How many UTF-8 bytes the char at <paramref name="index"/> came from, and how many chars it is (2 for a surrogate pair).</summary>
    public static int Width(ReadOnlySpan<char> text, int index, out int chars)
    {
        char c = text[index];
        chars = 1;
        if (c < 0x80) return 1;
        if (c < 0x800) return 2;
        if (char.IsHighSurrogate(c) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
        {
            chars = 2;
            return 4;
        }
        return c is >= '\uDC80' and <= '\uDCFF' ? 1 : 3;
    }
}

/// <summary>
/// Maps char offsets of decoded text back to byte offsets, walking forward from the last answer so a
/// region's lookups cost one pass in total. Offsets inside a surrogate pair map to the end of its bytes.
/// </summary>
internal struct OffsetMap
{
    private bool _oneToOne;
    private int _char, _byte;

    public void Reset(bool oneToOne)
    {
        _oneToOne = oneToOne;
        _char = _byte = 0;
    }

    public int ToByte(ReadOnlySpan<char> text, int charOffset)
    {
        if (_oneToOne) return charOffset;
        if (charOffset < _char) _char = _byte = 0;
        while (_char < charOffset)
        {
            _byte += Utf8Text.Width(text, _char, out int chars);
            _char += chars;
        }
        return _byte;
    }
}
