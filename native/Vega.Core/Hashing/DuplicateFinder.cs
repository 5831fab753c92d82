using Vega.Core.Files;
using Vega.Core.Interop;
using Vega.Core.Walk;

namespace Vega.Core.Hashing;

/// <summary>
/// Finds files with identical content in stages, each reading less than a full hash of everything:
/// (1) sizes (from the walk, or stat for a list); only sizes shared by two different files go on;
/// (2) XXH3-128 of the first <see cref="PartialBytes"/> bytes; (3) the chosen digest of the whole file,
/// for those still tied. Hard links (same device and inode) are one file: they appear in a group but
/// are not counted as wasted space, and links alone never form a group. A file whose size changed
/// between the stages is reported as an error (<see cref="Changed"/>), never grouped.
/// Emits one set at the end: a <see cref="GroupsKind"/> table (rows: group, size, device, inode;
/// texts: path, digest in hex) ordered by wasted bytes, then an <see cref="ErrorsKind"/> table (rows: errno;
/// text: path). Progress: stage (1-3, 4 when done), files examined, bytes hashed, errors.
/// </summary>
public sealed class DuplicateFinder : FileJob
{
    public const int GroupsKind = 21;
    public const int ErrorsKind = 22;
    /// <summary>The errno of a file that changed while the job read it (not a real errno).</summary>
    public const int Changed = -1;
    public const int PartialBytes = 4096;

    private readonly HashAlgorithmKind _algorithm;
    private readonly long _minSize;
    private readonly List<Candidate>[] _found;
    private readonly List<(byte[] Path, int Errno)>[] _errors;
    private Candidate[] _work = [];
    private readonly List<Candidate> _settled = new();
    private int _nextWork;

    private sealed class Candidate(byte[] path, long size, long device, long inode)
    {
        public readonly byte[] Path = path;
        public long Size = size;
        public readonly long Device = device, Inode = inode;
        public UInt128 Partial;
        public byte[]? Digest;
        public int Errno;
        public List<Candidate>? Links; // other paths to the same inode
    }

    public DuplicateFinder(FileSource source, HashAlgorithmKind algorithm, long minSize, int threads)
        : base(source, threads)
    {
        HashJob.CheckAvailable(algorithm);
        _algorithm = algorithm;
        _minSize = Math.Max(minSize, 0);
        _found = new List<Candidate>[WorkerCount];
        _errors = new List<(byte[], int)>[WorkerCount];
        Start();
    }

    protected override void Run(int worker)
    {
        var found = _found[worker] = new List<Candidate>();
        var errors = _errors[worker] = new List<(byte[], int)>();
        Interlocked.CompareExchange(ref Progress0, 1, 0);
        Collect(found, errors);
        WaitForAllWorkers();

        if (worker == 0) _work = SameSizeCandidates();
        WaitForAllWorkers();
        Interlocked.Exchange(ref Progress0, 2);
        HashAll(HashAlgorithmKind.Xxh3_128, PartialBytes, errors);
        WaitForAllWorkers();

        if (worker == 0) _work = StillTied();
        WaitForAllWorkers();
        Interlocked.Exchange(ref Progress0, 3);
        HashAll(_algorithm, long.MaxValue, errors);
        WaitForAllWorkers();

        if (worker == 0)
        {
            Emit(Results());
            Interlocked.Exchange(ref Progress0, 4);
        }
    }

    private unsafe void Collect(List<Candidate> found, List<(byte[], int)> errors)
    {
        var items = new List<FileItem>(64);
        using var reader = new FileReader();
        while (Source.TryTake(items, 64))
        {
            foreach (var item in items)
            {
                Cancellation.ThrowIfCancellationRequested();
                Interlocked.Increment(ref Progress1);
                if (item.Errno != 0) { AddError(errors, item.Path, item.Errno); continue; }
                long size = item.Size, device = item.Device, inode = item.Inode;
                if (size < 0)
                {
                    int errno = reader.Open(item, Source.IsTree, Source.NoFollow, out int fd, out var stat);
                    if (errno == FileReader.Skip) continue;
                    if (errno != 0) { AddError(errors, item.Path, errno); continue; }
                    FileReader.Close(fd);
                    (size, device, inode) = ((long)stat.Size, stat.Dev, (long)stat.Ino);
                }
                if (size >= _minSize) found.Add(new Candidate(item.Path, size, device, inode));
            }
            items.Clear();
        }
    }

    private void AddError(List<(byte[], int)> errors, byte[] path, int errno)
    {
        errors.Add((path, errno));
        Interlocked.Increment(ref Progress3);
    }

    /// <summary>One candidate per inode among sizes that two different inodes share; links ride along.</summary>
    private Candidate[] SameSizeCandidates()
    {
        var work = new List<Candidate>();
        foreach (var sameSize in _found.SelectMany(f => f).GroupBy(c => c.Size))
        {
            var inodes = new List<Candidate>();
            foreach (var sameInode in sameSize.GroupBy(c => (c.Device, c.Inode)))
            {
                var ordered = sameInode.OrderBy(c => c.Path, ByteOrder.Instance).ToList();
                ordered[0].Links = ordered.Count > 1 ? ordered.Skip(1).ToList() : null;
                inodes.Add(ordered[0]);
            }
            if (inodes.Count > 1) work.AddRange(inodes);
        }
        return [.. work];
    }

    /// <summary>Candidates whose (size, partial hash) is shared; small files are settled by the partial hash alone.</summary>
    private Candidate[] StillTied()
    {
        var tied = new List<Candidate>();
        foreach (var group in _work.Where(c => c.Errno == 0).GroupBy(c => (c.Size, c.Partial)))
        {
            if (group.Count() < 2) continue;
            foreach (var c in group)
            {
                // The partial hash covered all of a small file: with the same algorithm it is the full digest.
                if (c.Size <= PartialBytes && _algorithm == HashAlgorithmKind.Xxh3_128)
                {
                    c.Digest = Big(c.Partial);
                    _settled.Add(c);
                }
                else tied.Add(c);
            }
        }
        _nextWork = 0;
        return [.. tied];
    }

    private void HashAll(HashAlgorithmKind algorithm, long limit, List<(byte[], int)> errors)
    {
        var hasher = Hasher.Create(algorithm);
        using var reader = new FileReader();
        var buffer = GC.AllocateUninitializedArray<byte>(limit == long.MaxValue ? 1 << 20 : PartialBytes);
        Span<byte> digest = stackalloc byte[Hasher.MaxDigestSize];
        while (true)
        {
            int i = Interlocked.Increment(ref _nextWork) - 1;
            if (i >= _work.Length) break;
            Cancellation.ThrowIfCancellationRequested();
            var c = _work[i];
            int errno = HashPrefix(reader, c, hasher, buffer, limit);
            if (errno != 0)
            {
                c.Errno = errno;
                AddError(errors, c.Path, errno);
                continue;
            }
            int size = hasher.Finish(digest);
            if (limit == long.MaxValue) c.Digest = digest[..size].ToArray();
            else c.Partial = new UInt128(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(digest),
                                          System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(digest[8..]));
        }
    }

    /// <summary>Hashes the first min(size, limit) bytes; the file must still have the size it was listed with.</summary>
    private int HashPrefix(FileReader reader, Candidate c, Hasher hasher, byte[] buffer, long limit)
    {
        var item = new FileItem(c.Path, 0, c.Size, c.Device, c.Inode);
        int errno = reader.Open(item, fromTree: false, Source.NoFollow, out int fd, out var stat);
        if (errno != 0) return errno;
        try
        {
            if ((long)stat.Size != c.Size || stat.Dev != c.Device || (long)stat.Ino != c.Inode) return Changed;
            hasher.Reset();
            long want = Math.Min(c.Size, limit), read = 0;
            while (read < want)
            {
                int n = FileReader.Read(fd, buffer.AsSpan(0, (int)Math.Min(buffer.Length, want - read)));
                if (n < 0) return -n;
                if (n == 0) return Changed;
                hasher.Append(buffer.AsSpan(0, n));
                read += n;
                Interlocked.Add(ref Progress2, n);
                Cancellation.ThrowIfCancellationRequested();
            }
            return 0;
        }
        finally { FileReader.Close(fd); }
    }

    private ResultTable[] Results()
    {
        var groups = _settled.Concat(_work.Where(c => c.Errno == 0 && c.Digest is not null))
            .GroupBy(c => (c.Size, Convert.ToHexString(c.Digest!)))
            .Where(g => g.Count() > 1)
            .Select(g => g.SelectMany(c => c.Links is null ? [c] : c.Links.Prepend(c)).OrderBy(c => c.Path, ByteOrder.Instance).ToList())
            .OrderByDescending(g => g[0].Size * (g.Select(c => (c.Device, c.Inode)).Distinct().Count() - 1))
            .ThenBy(g => g[0].Path, ByteOrder.Instance)
            .ToList();
        var rows = new TableRows(GroupsKind, 4, 2);
        for (int g = 0; g < groups.Count; g++)
        {
            byte[] digest = groups[g].First(c => c.Digest is not null).Digest!;
            foreach (var c in groups[g]) rows.Add([g, c.Size, c.Device, c.Inode], c.Path, HashJob.Hex(digest));
        }
        var errorRows = new TableRows(ErrorsKind, 1, 1);
        foreach (var (path, errno) in _errors.Where(e => e is not null).SelectMany(e => e).OrderBy(e => e.Path, ByteOrder.Instance))
            errorRows.Add([errno], path);
        return [rows.Take(), errorRows.Take()];
    }

    private static byte[] Big(UInt128 value)
    {
        var bytes = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, value);
        return bytes;
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
