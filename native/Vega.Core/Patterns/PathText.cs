using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Vega.Core.Patterns;

/// <summary>
/// Path bytes as text, the way Python's <c>os.fsdecode</c> sees them (UTF-8 with surrogateescape): each
/// byte that is not part of valid UTF-8 becomes the lone surrogate U+DC80+byte, and encoding maps it back.
/// Globs are parsed and regex-matched as this text, so a pattern written in Python matches the same
/// bytes natively as it would against Python's str of the path, non-UTF-8 names included.
/// </summary>
public static class PathText
{
    /// <summary>Decodes <paramref name="bytes"/> into <paramref name="chars"/> (at least bytes.Length long); returns the char count.</summary>
    public static int Decode(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        if (Ascii.IsValid(bytes))
        {
            Ascii.ToUtf16(bytes, chars, out int widened);
            return widened;
        }
        int written = 0;
        while (!bytes.IsEmpty)
        {
            var status = Utf8.ToUtf16(bytes, chars[written..], out int read, out int wrote, replaceInvalidSequences: false);
            bytes = bytes[read..];
            written += wrote;
            if (status == OperationStatus.Done) break;
            // InvalidData or NeedMoreData (a truncated sequence at the end): escape one byte, go on after it.
            chars[written++] = (char)(0xDC00 + bytes[0]);
            bytes = bytes[1..];
        }
        return written;
    }

    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        char[]? rented = null;
        Span<char> chars = bytes.Length <= 512 ? stackalloc char[bytes.Length] : (rented = ArrayPool<char>.Shared.Rent(bytes.Length));
        string text = new(chars[..Decode(bytes, chars)]);
        if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        return text;
    }

    /// <summary>Encodes one code point (a lone surrogate U+DC80..U+DCFF becomes its original byte).</summary>
    public static void Encode(int codePoint, List<byte> output)
    {
        if (codePoint is >= 0xDC80 and <= 0xDCFF)
        {
            output.Add((byte)(codePoint - 0xDC00));
            return;
        }
        if (codePoint is >= 0xD800 and <= 0xDFFF)
        {
            throw new ArgumentException($"a lone surrogate U+{codePoint:X4} is not a path character");
        }
        Span<byte> utf8 = stackalloc byte[4];
        int length = new Rune(codePoint).EncodeToUtf8(utf8);
        foreach (byte b in utf8[..length]) output.Add(b);
    }

    /// <summary>The code points of <paramref name="text"/>: surrogate pairs combined, lone surrogates kept.</summary>
    public static int[] CodePoints(string text)
    {
        var points = new List<int>(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                points.Add(char.ConvertToUtf32(c, text[++i]));
            }
            else
            {
                points.Add(c);
            }
        }
        return points.ToArray();
    }
}
