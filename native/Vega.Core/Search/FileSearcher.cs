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
/// A file is read in chunks into one buffer, and each chunk's complete lines are searched as one region:
/// through a byte-level literal prefilter when the pattern has one, else by the regex over the decoded
/// region (<see cref="Utf8Text"/>); lines are found only around matches (docs/search.md). The
/// unfinished last line and the lines kept for before-context move to the front of the buffer for the
/// next chunk; the buffer grows for a line longer than it, up to <see cref="MaxLineBytes"/>.
/// Every step over a long span of data (reading, decoding, literal scans, matching) polls the cancel
/// token at least every few milliseconds of work, so a huge line does not delay a cancel.
/// </summary>
internal sealed class FileSearcher
{
    public const int KindFiles = 23, KindLines = 24, KindSpans = 25;
    public const int FlagFinal = 1, FlagBinary = 2, FlagMaxCount = 4, FlagTooLarge = 8;
    /// <summary>errno of a file with a line longer than <see cref="MaxLineBytes"/> (vega.h VEGA_ERRNO_LINE_TOO_LONG).</summary>
    public const int ErrnoLineTooLong = -2;
    public const int MaxLineBytes = 128 << 20;
    private const int ChunkBytes = 1 << 20;
    /// <summary>Bytes read, decoded or scanned between two polls of the cancel token.</summary>
    private const int PollBytes = 4 << 20;
    /// <summary>Line rows after which a file's rows so far are handed over mid-file (results stream).</summary>
    public const int LinesPerEmit = 8192;

    private readonly TextMatcher _matcher;
    private readonly CancellationToken _cancel;
    /// <summary>Bytes every match contains (<see cref="SearchPattern.RequiredLiteral"/>), or null.</summary>
    private readonly byte[]? _literal;
    private readonly bool _literalIsPattern;
    private readonly SearchOptions _options;
    private readonly Func<IReadOnlyList<ResultTable>, bool> _emit;
    private readonly TableRows _files = new(KindFiles, 5, 1);
    private readonly TableRows? _lines, _spans;
    private byte[] _bytes = GC.AllocateUninitializedArray<byte>(ChunkBytes);
    private char[] _chars = GC.AllocateUninitializedArray<char>(ChunkBytes);
    /// <summary>_chars case-folded, for a matcher that reads it; else null.</summary>
    private char[]? _folded;

    // The file being searched.
    private long _fileId, _index, _matched, _fileOffset, _lineAtStart, _emittedEnd;
    private byte[] _path = [];
    private int _afterPending;
    private bool _cancelled;
    // The region being searched: _bytes[0.._regionEnd), of which lines before _nextLine were added.
    private int _regionEnd, _nextLine;
    private int _countedByte;
    private long _countedLine;

    /// <param name="emit">Hands rows over mid-file (a file with many matching lines); false: the job was cancelled.</param>
    /// <param name="cancel">The job's cancel: <see cref="Search"/> then throws OperationCanceledException.</param>
    public FileSearcher(SearchPattern pattern, SearchOptions options, Func<IReadOnlyList<ResultTable>, bool> emit,
                        CancellationToken cancel = default)
    {
        _matcher = pattern.Matcher;
        _cancel = cancel;
        if (_matcher.ReadsFolded) _folded = GC.AllocateUninitializedArray<char>(ChunkBytes);
        _literal = pattern.RequiredLiteral;
        _literalIsPattern = pattern.LiteralIsPattern;
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
    /// number of matching lines, or -1 if the job was cancelled while handing rows over; throws
    /// OperationCanceledException if it was cancelled meanwhile.
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
            _cancel.ThrowIfCancellationRequested();
            if (filled == _bytes.Length && !Grow())
            {
                errno = ErrnoLineTooLong;
                break;
            }
            int n = source.Read(_bytes.AsSpan(filled, Math.Min(_bytes.Length - filled, PollBytes)));
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
            int unscanned = filled;
            filled += n;
            BytesRead += n;
            atEnd = n == 0 || source.AtEnd;
            int end = filled;
            if (!atEnd)
            {
                // Only the new bytes: the ones before them (since searchFrom) hold no newline.
                int newline = _bytes.AsSpan(unscanned, filled - unscanned).LastIndexOf((byte)'\n');
                if (newline < 0) continue;
                end = unscanned + newline + 1;
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
        _regionEnd = end;
        _countedByte = 0;
        _countedLine = _lineAtStart;
        _nextLine = (int)Math.Clamp(_emittedEnd - _fileOffset, 0, from);
        bool more = end - from > PollBytes && _cancel.CanBeCanceled
            ? OnPoolThread(() => _literal is not null ? FindByLiteral(from, end) : FindByMatcher(from, end))
            : _literal is not null ? FindByLiteral(from, end) : FindByMatcher(from, end);
        if (!more) return false;
        if (_lines is not null && _afterPending > 0 && !AddAfterContext(end)) return false;
        return !(MaxCountReached() && _afterPending == 0) || final;
    }

    /// <summary>
    /// Decodes the region and lets the matcher scan it as one text; a match's line is then found around it.
    /// A match that crosses a newline (a regex's) is not a line match: that line is searched alone.
    /// </summary>
    private bool FindByMatcher(int from, int end)
    {
        var region = Decode(from, end, out bool oneToOne);
        ReadOnlySpan<char> text = region.Chars;
        var offsets = new OffsetMap();
        offsets.Reset(oneToOne);
        int position = 0;
        while (position <= text.Length && !MaxCountReached())
        {
            if (!_matcher.TryMatch(region, position, out int matchAt, out int matchLength)) break;
            // An empty match after the region's final newline is not on a line.
            if (matchAt == text.Length && (text.Length == 0 || text[^1] == '\n')) break;
            int lineStart = text[..matchAt].LastIndexOf('\n') + 1;
            int newline = text[matchAt..].IndexOf('\n');
            int lineEnd = newline < 0 ? text.Length : matchAt + newline;
            position = lineEnd + 1;
            var line = region.Slice(lineStart, lineEnd);
            if (matchAt + matchLength > lineEnd && !_matcher.IsMatch(line)) continue;
            _matched++;
            if (_lines is null) continue;
            int byteStart = from + offsets.ToByte(text, lineStart);
            int byteEnd = from + offsets.ToByte(text, lineEnd);
            if (!AddMatchLine(byteStart, byteEnd, line)) return false;
        }
        return true;
    }

    /// <summary>
    /// Finds lines holding the literal every match contains (vectorized IndexOf over the bytes, no
    /// decoding), and runs the matcher only on those lines, unless the literal is the whole pattern.
    /// </summary>
    private bool FindByLiteral(int from, int end)
    {
        int position = from;
        while (position < end && !MaxCountReached())
        {
            int found = IndexOfLiteral(_bytes.AsSpan(0, end), position);
            if (found < 0) break;
            int lineStart = position + _bytes.AsSpan(position, found - position).LastIndexOf((byte)'\n') + 1;
            int newline = _bytes.AsSpan(found, end - found).IndexOf((byte)'\n');
            int lineEnd = newline < 0 ? end : found + newline;
            position = lineEnd + 1;
            SearchText line = default;
            if (!_literalIsPattern)
            {
                line = Decode(lineStart, lineEnd, out _);
                if (!_matcher.IsMatch(line)) continue;
            }
            _matched++;
            if (_lines is not null && !AddMatchLine(lineStart, lineEnd, line)) return false;
        }
        return true;
    }

    /// <summary>The first occurrence of the literal in <paramref name="bytes"/> at or after <paramref name="from"/>, scanned in slices.</summary>
    private int IndexOfLiteral(ReadOnlySpan<byte> bytes, int from)
    {
        ReadOnlySpan<byte> literal = _literal;
        for (; from < bytes.Length; from += PollBytes)
        {
            _cancel.ThrowIfCancellationRequested();
            // Occurrences starting in [from, from + PollBytes) lie whole in this slice.
            int end = (int)Math.Min(bytes.Length, (long)from + PollBytes + literal.Length - 1);
            int found = bytes[from..end].IndexOf(literal);
            if (found >= 0) return from + found;
        }
        return -1;
    }

    /// <summary>
    /// Decodes _bytes[from..end) into _chars (and folds it into _folded when the matcher reads that), in
    /// slices cut before a UTF-8 lead byte so they decode as the whole would. <paramref name="oneToOne"/>:
    /// every byte became one char.
    /// </summary>
    private SearchText Decode(int from, int end, out bool oneToOne)
    {
        int written = 0;
        for (int at = from; at < end;)
        {
            _cancel.ThrowIfCancellationRequested();
            int cut = Math.Min(end, at + PollBytes);
            if (cut < end) cut = UnitStart(cut, at);
            int length = Utf8Text.Decode(_bytes.AsSpan(at, cut - at), _chars.AsSpan(written), out _);
            if (_folded is not null) SearchText.Fold(_chars.AsSpan(written, length), _folded.AsSpan(written));
            written += length;
            at = cut;
        }
        oneToOne = written == end - from;
        return new SearchText(_chars, _folded, 0, written, _cancel);
    }

    /// <summary>
    /// A place at or up to 3 bytes before <paramref name="cut"/> (not before <paramref name="floor"/>) where
    /// the decoding of _bytes starts a char: a byte that is not a UTF-8 continuation byte, or the cut itself
    /// when none is that near (the continuation bytes there belong to no valid sequence).
    /// </summary>
    private int UnitStart(int cut, int floor)
    {
        for (int at = cut; at > floor && at >= cut - 3; at--)
            if ((_bytes[at] & 0xC0) != 0x80) return at;
        return cut;
    }

    /// <summary>
    /// Runs the search of a huge region (a line of megabytes) on a pool thread while this one waits for it or
    /// for a cancel: one regex call over such a line cannot poll. A cancelled search is abandoned; it stops
    /// at its own next poll, and nothing reads this searcher again.
    /// </summary>
    private bool OnPoolThread(Func<bool> search)
    {
        var running = Task.Run(search);
        try { running.Wait(_cancel); }
        catch (AggregateException) { } // the search's own exception: rethrown as it is just below
        return running.GetAwaiter().GetResult();
    }

    private bool MaxCountReached() => _options.MaxCount > 0 && _matched >= _options.MaxCount;

    /// <summary>The end (its newline, or the region's end) of the line starting at byte <paramref name="start"/>.</summary>
    private int LineEnd(int start)
    {
        int newline = _bytes.AsSpan(start, _regionEnd - start).IndexOf((byte)'\n');
        return newline < 0 ? _regionEnd : start + newline;
    }

    /// <summary>Adds a matching line (bytes [start, end); <paramref name="text"/> is it decoded, unless the
    /// pattern is a plain literal) after its pending and before-context lines.</summary>
    private bool AddMatchLine(int start, int end, in SearchText text)
    {
        if (!AddAfterContext(start)) return false;
        int first = start;
        for (int k = 0; k < _options.Before && first > _nextLine; k++)
            first = _bytes.AsSpan(0, first - 1).LastIndexOf((byte)'\n') + 1;
        for (int line = Math.Max(first, _nextLine); line < start;)
        {
            int lineEnd = LineEnd(line);
            if (!AddLine(line, lineEnd, false, default)) return false;
            line = lineEnd + 1;
        }
        if (!AddLine(start, end, true, text)) return false;
        _afterPending = _options.After;
        return true;
    }

    /// <summary>Adds pending after-context lines that start before byte <paramref name="limit"/>.</summary>
    private bool AddAfterContext(int limit)
    {
        for (int line = _nextLine; _afterPending > 0 && line < limit && line < _regionEnd;)
        {
            int lineEnd = LineEnd(line);
            if (!AddLine(line, lineEnd, false, default)) return false;
            _afterPending--;
            line = lineEnd + 1;
        }
        return true;
    }

    /// <summary>Adds the line _bytes[start..end) with its match spans, unless it was already added (as context).</summary>
    private bool AddLine(int start, int end, bool isMatch, in SearchText text)
    {
        if (start < _nextLine) return true;
        int firstSpan = _spans!.Count;
        if (isMatch) AddSpans(_bytes.AsSpan(start, end - start), text);
        _countedLine += _bytes.AsSpan(_countedByte, start - _countedByte).Count((byte)'\n');
        _countedByte = start;
        _lines!.Add([_fileId, _countedLine, _fileOffset + start, isMatch ? 1 : 0, firstSpan, _spans.Count - firstSpan],
                    _bytes.AsSpan(start, end - start).ToArray());
        _emittedEnd = _fileOffset + end + 1;
        _nextLine = end + 1;
        if (_lines.Count >= LinesPerEmit)
        {
            _files.Add([_fileId, _index, _matched, 0, 0], _path);
            if (!_emit(Take())) _cancelled = true;
        }
        return !_cancelled;
    }

    /// <summary>The byte spans of every match in a line: by IndexOf for a plain literal, else by the matcher over
    /// <paramref name="text"/>. After an empty match the next one starts a char later (.NET's rule).</summary>
    private void AddSpans(ReadOnlySpan<byte> line, in SearchText text)
    {
        if (_literalIsPattern)
        {
            for (int at = 0; ;)
            {
                int found = line[at..].IndexOf(_literal);
                if (found < 0) return;
                at += found;
                _spans!.Add([at, at + _literal!.Length]);
                at += _literal.Length;
                _cancel.ThrowIfCancellationRequested();
            }
        }
        ReadOnlySpan<char> chars = text.Chars;
        var offsets = new OffsetMap();
        offsets.Reset(chars.Length == line.Length);
        for (int at = 0; at <= chars.Length && _matcher.TryMatch(text, at, out int index, out int length);)
        {
            _cancel.ThrowIfCancellationRequested();
            at = length == 0 ? index + 1 : index + length;
            int spanStart = offsets.ToByte(chars, index);
            int spanEnd = offsets.ToByte(chars, index + length);
            // The regex reads UTF-16: "." can match the second half of a surrogate pair alone, which is
            // no byte of its own (the first half's span already covers the character).
            if (spanStart == spanEnd && length > 0) continue;
            _spans!.Add([spanStart, spanEnd]);
        }
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
        if (_folded is not null) _folded = GC.AllocateUninitializedArray<char>(size);
        return true;
    }

    private void Shrink()
    {
        _bytes = GC.AllocateUninitializedArray<byte>(ChunkBytes);
        _chars = GC.AllocateUninitializedArray<char>(ChunkBytes);
        if (_folded is not null) _folded = GC.AllocateUninitializedArray<char>(ChunkBytes);
    }
}
