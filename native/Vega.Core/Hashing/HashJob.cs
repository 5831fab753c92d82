using Vega.Core.Files;

namespace Vega.Core.Hashing;

/// <summary>
/// Hashes the files of a source in parallel. Emits <see cref="TableKind"/> tables whose rows are: index
/// (the file's position in the source), bytes hashed, errno (0: hashed); texts: path, digest (empty on
/// error; lowercase hex). A source error (an unreadable directory) is a row with its errno. Progress: files hashed,
/// bytes hashed, errors, directories read.
/// </summary>
public sealed class HashJob : FileJob
{
    public const int TableKind = 20;
    private const int ChunkSize = 1 << 20;
    private const int RowsPerEmit = 4096;
    private const long EmitIntervalMs = 100;

    private readonly HashAlgorithmKind _algorithm;

    public HashJob(FileSource source, HashAlgorithmKind algorithm, int threads) : base(source, threads)
    {
        CheckAvailable(algorithm);
        _algorithm = algorithm;
        Start();
    }

    /// <summary>ArgumentException naming the problem if <paramref name="algorithm"/> cannot run here.</summary>
    public static void CheckAvailable(HashAlgorithmKind algorithm)
    {
        if (!Enum.IsDefined(algorithm)) throw new ArgumentException($"unknown hash algorithm {(int)algorithm}");
        try { Hasher.Create(algorithm); }
        catch (PlatformNotSupportedException e) { throw new ArgumentException(e.Message); }
    }

    protected override void Run(int worker)
    {
        var hasher = Hasher.Create(_algorithm);
        using var reader = new FileReader();
        var buffer = GC.AllocateUninitializedArray<byte>(ChunkSize);
        Span<byte> digest = stackalloc byte[Hasher.MaxDigestSize];
        var items = new List<FileItem>(16);
        var rows = new TableRows(TableKind, 3, 2);
        long lastEmit = Environment.TickCount64;
        while (Source.TryTake(items, 16))
        {
            foreach (var item in items)
            {
                Cancellation.ThrowIfCancellationRequested();
                long bytes = 0;
                int errno = item.Errno != 0 ? item.Errno : HashFile(reader, item, hasher, buffer, out bytes);
                if (errno == FileReader.Skip) continue;
                if (errno == 0)
                {
                    int size = hasher.Finish(digest);
                    rows.Add([item.Index, bytes, 0], item.Path, Hex(digest[..size]));
                    Interlocked.Increment(ref Progress0);
                }
                else
                {
                    rows.Add([item.Index, 0, errno], item.Path, []);
                    Interlocked.Increment(ref Progress2);
                }
            }
            items.Clear();
            Interlocked.Exchange(ref Progress3, Source.DirectoriesRead);
            if (rows.Count >= RowsPerEmit || (rows.Count > 0 && Environment.TickCount64 - lastEmit > EmitIntervalMs))
            {
                if (!Emit([rows.Take()])) return;
                lastEmit = Environment.TickCount64;
            }
        }
        if (rows.Count > 0) Emit([rows.Take()]);
    }

    /// <summary>Lowercase hex, the form every caller shows (and it never contains a NUL).</summary>
    internal static byte[] Hex(ReadOnlySpan<byte> digest) => System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(digest));

    /// <summary>Reads the whole file into the hasher (reset first): 0, an errno, or <see cref="FileReader.Skip"/>.</summary>
    private int HashFile(FileReader reader, in FileItem item, Hasher hasher, byte[] buffer, out long bytes)
    {
        bytes = 0;
        int errno = reader.Open(item, Source.IsTree, Source.NoFollow, out int fd, out var stat);
        if (errno != 0) return errno;
        try
        {
            hasher.Reset();
            while (true)
            {
                int n = FileReader.Read(fd, buffer);
                if (n < 0) return -n;
                if (n == 0) return 0;
                hasher.Append(buffer.AsSpan(0, n));
                bytes += n;
                Interlocked.Add(ref Progress1, n);
                // A short read that reaches the size the file had when opened is its end: the read that
                // would return 0 is skipped (most files fit in one read, so this saves a syscall per file).
                // Not for a reported size of 0: procfs files say 0 and return a page per read.
                if (n < buffer.Length && stat.Size > 0 && bytes >= (long)stat.Size) return 0;
                if (Cancellation.IsCancellationRequested) throw new OperationCanceledException();
            }
        }
        finally { FileReader.Close(fd); }
    }
}
