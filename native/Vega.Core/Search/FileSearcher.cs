using System.Text.RegularExpressions;

namespace Vega.Core.Search;

/// <summary>How a search treats each file; see docs/search.md.</summary>
public sealed record SearchOptions
{
    /// <summary>Only count matching lines per file (no line, span or context rows).</summary>
    public bool CountOnly { get; init; }
    /// <summary>Search files holding a NUL byte as text instead of skipping them.</summary>
    public bool Binary { get; init; }
    public int Before { get; init; }
    public int After { get; init; }
    /// <summary>Stop a file after this many matching lines (0: no limit).</summary>
    public long MaxCount { get; init; }
    /// <summary>Skip files larger than this many bytes (0: no limit).</summary>
    public long MaxFileSize { get; init; }

    public void Validate()
    {
        if (Before < 0 || After < 0) throw new ArgumentException("context line counts must be >= 0");
        if (MaxCount < 0) throw new ArgumentException("max_count must be >= 0");
        if (MaxFileSize < 0) throw new ArgumentException("max_filesize must be >= 0");
    }
}

/// <summary>Where a file's bytes come from: a count (0 at the end) or -errno per call.</summary>
internal interface IChunkSource
{
    int Read(Span<byte> buffer);
    /// <summary>True once a read has reached the size the file had when opened (the read returning 0 can be skipped).</summary>
    bool AtEnd { get; }
}

/// <summary>
/// Searches one file at a time for a worker, adding rows to its tables (vega.h VEGA_TABLE_SEARCH_*):
/// files (file id, index, matching lines, errno, flags; text: path), lines (file id, line number, byte
/// offset of the line, 1 for a match or 0 for context, first span row, span count; text: the line without
/// its newline, as bytes) and spans (start, end: byte offsets in the line).
///
/// A file is read in chunks into one buffer; each chunk's complete lines are decoded (<see cref="Utf8Text"/>)
/// and searched as one text by the regex, so the cost is the regex's scan, not a call per line. Lines
/// are found only around matches. A match that crosses a newline is not a line match: that line is then
/// searched alone. The unfinished last line and the lines kept for before-context move to the front of
/// the buffer for the next chunk; the buffer grows for a line longer than it, up to <see cref="MaxLineBytes"/>.
/// </summary>
internal sealed class FileSearcher
{
    public const int KindFiles = 23, KindLines = 24, KindSpans = 25;
    public const int FlagFinal = 1, FlagBinary = 2, FlagMaxCount = 4, FlagTooLarge = 8;
    /// <summary>errno of a file with a line longer than <see cref="MaxLineBytes"/> (vega.h VEGA_ERRNO_LINE_TOO_LONG).</summary>
    public const int ErrnoLineTooLong = -2;
    public const int MaxLineBytes = 128 << 20;
    private const int ChunkBytes = 1 << 20;
    /// <summary>Line rows after which a file's rows so far are handed over mid-file (results stream).</summary>
    public const int LinesPerEmit = 8192;

    private readonly Regex _regex;
    private readonly SearchOptions _options;
    private readonly Func<IReadOnlyList<ResultTable>, bool> _emit;
    private readonly TableRows _files = new(KindFiles, 5, 1);
    private readonly TableRows? _lines, _spans;
    private byte[] _bytes = GC.AllocateUninitializedArray<byte>(ChunkBytes);
    private char[] _chars = GC.AllocateUninitializedArray<char>(ChunkBytes);

    // The file being searched.
    private long _fileId, _index, _matched, _fileOffset, _lineAtStart, _emittedEnd;
    private byte[] _path = [];
    private int _afterPending;
    private bool _cancelled;
    // The region being searched: _bytes[0.._regionBytes) decoded into _chars[0.._regionChars).
    private int _regionChars;
    /// <summary>The char offset in the region of the first line not yet added (earlier ones were, as context or matches).</summary>
    private int _nextLine;
    private OffsetMap _offsets;
    private int _countedByte;
    private long _countedLine;

    /// <param name="emit">Hands rows over mid-file (a file with many matching lines); false: the job was cancelled.</param>
    public FileSearcher(SearchPattern pattern, SearchOptions options, Func<IReadOnlyList<ResultTable>, bool> emit)
    {
        _regex = pattern.Regex;
        _options = options;
        _emit = emit;
        if (!options.CountOnly)
        {
            _lines = new TableRows(KindLines, 6, 1);
            _spans = new TableRows(KindSpans, 2, 0);
        }
    }

    /// <summary>Rows (files and lines) not yet handed over.</summary>
    public int PendingRows => _files.Count + (_lines?.Count ?? 0);

    /// <summary>Bytes read in all files so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>The tables of the rows so far; the builders start empty again.</summary>
    public IReadOnlyList<ResultTable> Take() =>
        _lines is null ? [_files.Take()] : [_files.Take(), _lines.Take(), _spans!.Take()];

    /// <summary>Adds the row of a file that was not searched: an errno, or flags (<see cref="FlagTooLarge"/>).</summary>
    public void AddUnsearched(long fileId, long index, byte[] path, int errno, int flags) =>
        _files.Add([fileId, index, 0, errno, FlagFinal | flags], path);

    /// <summary>
    /// Searches one file and adds its rows; a file with no match and no error adds none. Returns the
    /// number of matching lines, or -1 if the job was cancelled while handing rows over.
    /// </summary>
    public long Search(IChunkSource source, long fileId, long index, byte[] path)
    {
        _fileId = fileId;
        _index = index;
        _path = path;
        _matched = _fileOffset = _emittedEnd = 0;
        _lineAtStart = 1;
        _afterPending = 0;
        _cancelled = false;
        int errno = 0, flags = 0;
        int filled = 0, searchFrom = 0;
        bool atEnd = false;
        while (!atEnd && !_cancelled)
        {
            if (filled == _bytes.Length && !Grow())
            {
                errno = ErrnoLineTooLong;
                break;
            }
            int n = source.Read(_bytes.AsSpan(filled));
            if (n < 0)
            {
                errno = -n;
                break;
            }
            if (!_options.Binary && _bytes.AsSpan(filled, n).Contains((byte)0))
            {
                flags |= FlagBinary;
                break;
            }
            filled += n;
            BytesRead += n;
            atEnd = n == 0 || source.AtEnd;
            int end = filled;
            if (!atEnd)
            {
                int newline = _bytes.AsSpan(searchFrom, filled - searchFrom).LastIndexOf((byte)'\n');
                if (newline < 0) continue;
                end = searchFrom + newline + 1;
            }
            if (!SearchRegion(searchFrom, end, atEnd)) break;
            int keep = _lines is null || _options.Before == 0 ? end : StartOfLastLines(end, _options.Before);
            if (_lines is not null) _lineAtStart += _bytes.AsSpan(0, keep).Count((byte)'\n');
            _bytes.AsSpan(keep, filled - keep).CopyTo(_bytes);
            _fileOffset += keep;
            filled -= keep;
            searchFrom = end - keep;
        }
        if (_bytes.Length > ChunkBytes) Shrink();
        if (_cancelled) return -1;
        if (_options.MaxCount > 0 && _matched >= _options.MaxCount) flags |= FlagMaxCount;
        if (_matched > 0 || errno != 0 || flags != 0) _files.Add([fileId, index, _matched, errno, FlagFinal | flags], path);
        return _matched;
    }

    /// <summary>
    /// Searches the lines of _bytes[from..end) (the bytes before <paramref name="from"/> are kept lines, for
    /// context). <paramref name="final"/>: the region ends the file (its last line may lack a newline).
    /// False when the file needs no more reading (max_count reached and no after-context pending, or cancelled).
    /// </summary>
    private bool SearchRegion(int from, int end, bool final)
    {
        int charFrom = Utf8Text.Decode(_bytes.AsSpan(0, from), _chars, out bool headOneToOne);
        _regionChars = charFrom + Utf8Text.Decode(_bytes.AsSpan(from, end - from), _chars.AsSpan(charFrom), out bool tailOneToOne);
        _offsets.Reset(headOneToOne && tailOneToOne);
        _countedByte = 0;
        _countedLine = _lineAtStart;
        ReadOnlySpan<char> text = _chars.AsSpan(0, _regionChars);
        if (_lines is not null) _nextLine = FirstLineNotAdded(text);
        int position = charFrom;
        while (position <= text.Length && !MaxCountReached())
        {
            int matchAt = -1, matchEnd = 0;
            foreach (var match in _regex.EnumerateMatches(text, position))
            {
                matchAt = match.Index;
                matchEnd = match.Index + match.Length;
                break;
            }
            // An empty match after the region's final newline is not on a line.
            if (matchAt < 0 || (matchAt == text.Length && (text.Length == 0 || text[^1] == '\n'))) break;
            int lineStart = text[..matchAt].LastIndexOf('\n') + 1;
            int lineEnd = LineEnd(text, matchAt);
            if (matchEnd > lineEnd && !_regex.IsMatch(text[lineStart..lineEnd]))
            {
                position = lineEnd + 1;
                continue;
            }
            _matched++;
            if (_lines is not null && !AddMatchLine(text, lineStart, lineEnd)) return false;
            position = lineEnd + 1;
        }
        if (_lines is not null && _afterPending > 0 && !AddAfterContext(text, text.Length)) return false;
        return !(MaxCountReached() && _afterPending == 0) || final;
    }

    private bool MaxCountReached() => _options.MaxCount > 0 && _matched >= _options.MaxCount;

    private static int LineEnd(ReadOnlySpan<char> text, int from)
    {
        int newline = text[from..].IndexOf('\n');
        return newline < 0 ? text.Length : from + newline;
    }

    private bool AddMatchLine(ReadOnlySpan<char> text, int lineStart, int lineEnd)
    {
        if (!AddAfterContext(text, lineStart)) return false;
        int first = lineStart;
        for (int k = 0; k < _options.Before && first > _nextLine; k++) first = text[..(first - 1)].LastIndexOf('\n') + 1;
        for (int start = Math.Max(first, _nextLine); start < lineStart;)
        {
            int end = LineEnd(text, start);
            if (!AddLine(text, start, end, false)) return false;
            start = end + 1;
        }
        if (!AddLine(text, lineStart, lineEnd, true)) return false;
        _afterPending = _options.After;
        return true;
    }

    /// <summary>Adds pending after-context lines that start before <paramref name="limit"/>.</summary>
    private bool AddAfterContext(ReadOnlySpan<char> text, int limit)
    {
        int start = _nextLine;
        while (_afterPending > 0 && start < limit && start < text.Length)
        {
            int end = LineEnd(text, start);
            if (!AddLine(text, start, end, false)) return false;
            _afterPending--;
            start = end + 1;
        }
        return true;
    }

    /// <summary>The char offset of the first line of a new region not added yet (kept lines may have been).</summary>
    private int FirstLineNotAdded(ReadOnlySpan<char> text)
    {
        long relative = _emittedEnd - _fileOffset;
        if (relative <= 0) return 0;
        int start = 0;
        while (start < text.Length && _offsets.ToByte(text, start) < relative) start = LineEnd(text, start) + 1;
        return start;
    }

    /// <summary>Adds the line text[start..end) unless it was already added (as context of an earlier match).</summary>
    private bool AddLine(ReadOnlySpan<char> text, int start, int end, bool isMatch)
    {
        if (start < _nextLine) return true;
        int byteStart = _offsets.ToByte(text, start);
        long absolute = _fileOffset + byteStart;
        int firstSpan = _spans!.Count, spanCount = 0;
        if (isMatch)
        {
            foreach (var match in _regex.EnumerateMatches(text[start..end]))
            {
                int spanStart = _offsets.ToByte(text, start + match.Index) - byteStart;
                int spanEnd = _offsets.ToByte(text, start + match.Index + match.Length) - byteStart;
                _spans.Add([spanStart, spanEnd]);
                spanCount++;
            }
        }
        int byteEnd = _offsets.ToByte(text, end);
        _countedLine += _bytes.AsSpan(_countedByte, byteStart - _countedByte).Count((byte)'\n');
        _countedByte = byteStart;
        _lines!.Add([_fileId, _countedLine, absolute, isMatch ? 1 : 0, firstSpan, spanCount], _bytes.AsSpan(byteStart, byteEnd - byteStart).ToArray());
        _emittedEnd = _fileOffset + byteEnd + 1;
        _nextLine = end + 1;
        if (_lines.Count >= LinesPerEmit)
        {
            _files.Add([_fileId, _index, _matched, 0, 0], _path);
            if (!_emit(Take())) _cancelled = true;
        }
        return !_cancelled;
    }

    /// <summary>The byte offset where the last <paramref name="count"/> lines before <paramref name="end"/> (a line start) begin.</summary>
    private int StartOfLastLines(int end, int count)
    {
        int start = end;
        for (int k = 0; k < count && start > 0; k++) start = _bytes.AsSpan(0, start - 1).LastIndexOf((byte)'\n') + 1;
        return start;
    }

    private bool Grow()
    {
        if (_bytes.Length >= MaxLineBytes) return false;
        int size = Math.Min(_bytes.Length * 2, MaxLineBytes);
        var bytes = GC.AllocateUninitializedArray<byte>(size);
        _bytes.CopyTo(bytes, 0);
        _bytes = bytes;
        _chars = GC.AllocateUninitializedArray<char>(size);
        return true;
    }

    private void Shrink()
    {
        _bytes = GC.AllocateUninitializedArray<byte>(ChunkBytes);
        _chars = GC.AllocateUninitializedArray<char>(ChunkBytes);
    }
}
