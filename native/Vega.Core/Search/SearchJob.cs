using Vega.Core.Files;

namespace Vega.Core.Search;

/// <summary>
/// Searches the files of a source in parallel, one <see cref="FileSearcher"/> per worker. Emits sets of
/// VEGA_TABLE_SEARCH_* tables (files; and unless counting: lines, spans); a file's rows come in line
/// order. Progress: files searched, bytes read, errors, directories read.
/// </summary>
public sealed class SearchJob : FileJob
{
    private const long EmitIntervalMs = 100;

    private readonly SearchPattern _pattern;
    private readonly SearchOptions _options;
    private long _nextFileId;

    public SearchJob(FileSource source, SearchPattern pattern, SearchOptions options, int threads) : base(source, threads)
    {
        options.Validate();
        _pattern = pattern;
        _options = options;
        Start();
    }

    /// <summary>
    /// Searches one buffer (data that is not a local file) as a file with index 0 and the given path, and
    /// returns every row in one set.
    /// </summary>
    public static unsafe IReadOnlyList<ResultTable> SearchBuffer(SearchPattern pattern, SearchOptions options, byte* data, long length, byte[] path,
                                                                 CancellationToken cancel = default)
    {
        options.Validate();
        var collected = new List<IReadOnlyList<ResultTable>>();
        var searcher = new FileSearcher(pattern, options, tables => { collected.Add(tables); return true; }, cancel);
        if (options.MaxFileSize > 0 && length > options.MaxFileSize)
            searcher.AddUnsearched(0, 0, path, 0, FileSearcher.FlagTooLarge);
        else searcher.Search(new MemoryChunks(data, length), 0, 0, path);
        collected.Add(searcher.Take());
        return Merge(collected);
    }

    protected override void Run(int worker)
    {
        var searcher = new FileSearcher(_pattern, _options, Emit, Cancellation);
        using var reader = new FileReader();
        var items = new List<FileItem>(16);
        long lastEmit = Environment.TickCount64, lastBytes = 0;
        while (Source.TryTake(items, 16))
        {
            foreach (var item in items)
            {
                Cancellation.ThrowIfCancellationRequested();
                long fileId = Interlocked.Increment(ref _nextFileId);
                int errno = item.Errno;
                if (errno == 0)
                {
                    errno = reader.Open(item, Source.IsTree, Source.NoFollow, out int fd, out var stat);
                    if (errno == FileReader.Skip) continue;
                    if (errno == 0)
                    {
                        try
                        {
                            if (_options.MaxFileSize > 0 && (long)stat.Size > _options.MaxFileSize)
                                searcher.AddUnsearched(fileId, item.Index, item.Path, 0, FileSearcher.FlagTooLarge);
                            else if (searcher.Search(new FdChunks(fd, (long)stat.Size), fileId, item.Index, item.Path) < 0)
                                return;
                        }
                        finally { FileReader.Close(fd); }
                        Interlocked.Increment(ref Progress0);
                        continue;
                    }
                }
                searcher.AddUnsearched(fileId, item.Index, item.Path, errno, 0);
                Interlocked.Increment(ref Progress2);
            }
            items.Clear();
            Interlocked.Add(ref Progress1, searcher.BytesRead - lastBytes);
            lastBytes = searcher.BytesRead;
            Interlocked.Exchange(ref Progress3, Source.DirectoriesRead);
            if (searcher.PendingRows >= FileSearcher.LinesPerEmit ||
                (searcher.PendingRows > 0 && Environment.TickCount64 - lastEmit > EmitIntervalMs))
            {
                if (!Emit(searcher.Take())) return;
                lastEmit = Environment.TickCount64;
            }
        }
        if (searcher.PendingRows > 0) Emit(searcher.Take());
    }

    /// <summary>Several sets of the same tables as one set.</summary>
    private static IReadOnlyList<ResultTable> Merge(List<IReadOnlyList<ResultTable>> sets)
    {
        if (sets.Count == 1) return sets[0];
        var merged = new List<ResultTable>();
        for (int t = 0; t < sets[0].Count; t++)
        {
            var first = sets[0][t];
            var values = new List<long>();
            var texts = first.Texts is null ? null : new List<byte[]>();
            long spanBase = 0;
            foreach (var set in sets)
            {
                var table = set[t];
                if (table.Kind == FileSearcher.KindLines)
                {
                    // First-span columns index the set's own span table: shift them past the earlier sets' spans.
                    for (int row = 0; row < table.Rows; row++)
                    {
                        var columns = table.Values.AsSpan(row * table.Columns, table.Columns).ToArray();
                        columns[4] += spanBase;
                        values.AddRange(columns);
                    }
                    spanBase += set[t + 1].Rows;
                }
                else if (table.Kind == FileSearcher.KindFiles)
                {
                    // One set: the interim rows of a file streamed mid-way are dropped, its final row stays.
                    for (int row = 0; row < table.Rows; row++)
                    {
                        if ((table.Values[row * table.Columns + 4] & FileSearcher.FlagFinal) == 0) continue;
                        values.AddRange(table.Values.AsSpan(row * table.Columns, table.Columns).ToArray());
                        texts!.Add(table.Texts![row]);
                    }
                    continue;
                }
                else values.AddRange(table.Values);
                if (texts is not null) texts.AddRange(table.Texts!);
            }
            merged.Add(first with { Values = values.ToArray(), Texts = texts });
        }
        return merged;
    }
}

/// <summary>A file's bytes through read(2), ending early once a short read reaches the size it had when opened.</summary>
internal sealed class FdChunks(int fd, long size) : IChunkSource
{
    private long _read;

    public bool AtEnd { get; private set; }

    public int Read(Span<byte> buffer)
    {
        int n = FileReader.Read(fd, buffer);
        if (n <= 0) return n;
        _read += n;
        // Not for a size of 0: procfs files say 0 and return data.
        AtEnd = n < buffer.Length && size > 0 && _read >= size;
        return n;
    }
}

/// <summary>A caller's buffer, pinned for the duration of the search.</summary>
internal sealed unsafe class MemoryChunks(byte* data, long length) : IChunkSource
{
    private long _offset;

    public bool AtEnd => _offset >= length;

    public int Read(Span<byte> buffer)
    {
        int n = (int)Math.Min(buffer.Length, length - _offset);
        new ReadOnlySpan<byte>(data + _offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }
}
