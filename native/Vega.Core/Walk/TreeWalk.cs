using System.Runtime.InteropServices;
using Vega.Core.Analysis;
using Vega.Core.Files;
using Vega.Core.Interop;

namespace Vega.Core.Walk;

/// <summary>
/// A parallel walk of a directory tree, running on its own worker threads.
/// Workers share one stack of directories to read. Each directory's group is appended to the output
/// stream before its subdirectories are scheduled, so a parent always precedes its children in the
/// stream (os.walk's top-down order) without buffering the tree. Output is handed over in batches
/// (bounded: workers wait while the consumer is behind), so memory stays bounded on any tree size.
/// </summary>
public sealed unsafe class TreeWalk : IJob
{
    private const int ReadBufferSize = 64 * 1024;
    private const int MaxReadyBatches = 4;
    private const int BlobLimit = 8 * 1024 * 1024;
    private const int DefaultBatchEntries = 32 * 1024;
    private const int PartialBatchWaitMs = 20;

    private sealed class DirNode(byte[] pathZ, long id, long parentId, int depth, int childIndex, DirNode? parent, bool viaLink)
    {
        public readonly byte[] PathZ = pathZ;
        public readonly long Id = id;
        public readonly long ParentId = parentId;
        public readonly int Depth = depth;
        public readonly int ChildIndex = childIndex;
        public readonly DirNode? Parent = parent; // kept only when following links, for loop detection
        public readonly bool ViaLink = viaLink;
        public long Dev, Ino;
        public long OwnBytes, OwnDiskBytes; // an analysis walk's directory sizes, for its subtree's rollup
        public IgnoreFiles? Ignores;
        public int OpenedFd = NotOpened; // >= 0: opened by openat from the parent; < 0 (not NotOpened): -errno
    }

    private const int NotOpened = int.MinValue;
    // Directories are opened with openat(parent fd, name) while the parent is open: it skips resolving
    // the whole path again (measured: ~15% of the kernel time of a walk). The fds of queued directories
    // are held until they are read, so their number is capped across all walks in the process; past
    // the cap a directory is opened by its path when its turn comes.
    private const int MaxHeldFds = 256;
    private static int s_heldFds;

    private readonly WalkOptions _options;
    private readonly int _batchEntries;
    private readonly bool _needLstat;
    private readonly bool _classifyLinks;
    private readonly bool _filtering;
    private readonly int _rootPrefixLength;

    // Both monitors come from JobMonitors and go back there once the workers have left (see Dispose).
    private readonly object _workLock = JobMonitors.Rent();
    private readonly Stack<DirNode> _work = new(); // guarded by _workLock
    private int _pending; // directories queued or being read; guarded by _workLock
    private long _nextId;

    private readonly object _output = JobMonitors.Rent();
    private readonly Queue<WalkBatch> _ready = new();
    private WalkBatch? _current; // created when a group is added to it
    private int _liveWorkers;
    private bool _finished;
    private int _disposed;

    private volatile bool _cancelled;
    private Exception? _fault;

    private long _directories, _entries, _bytes, _errors;
    private CountTotals _totals;
    private readonly HardLinks _countedLinks = new();

    private readonly TreeAnalysis? _analysis;
    private AnalysisReport? _report;

    private readonly Thread[] _threads;
    private readonly DirNode _root;

    private TreeWalk(WalkOptions options, byte[] rootZ, in StatxBuffer rootStat)
    {
        _options = options;
        _batchEntries = options.BatchEntries > 0 ? options.BatchEntries : DefaultBatchEntries;
        _needLstat = options.Stat || options.Output is WalkOutput.Count or WalkOutput.Analyze;
        _classifyLinks = options.ClassifyLinks || options.FollowLinks;
        _filtering = options.Include is not null || options.Exclude is not null || options.Gitignore;
        _rootPrefixLength = rootZ.Length - 1 + (rootZ.Length > 1 && rootZ[^2] == (byte)'/' ? 0 : 1);

        // Filtered totals count only what is selected; unfiltered ones include the root, as du does.
        if (options.Output == WalkOutput.Count && !_filtering)
        {
            _totals.ApparentBytes = (long)rootStat.Size;
            _totals.DiskBytes = (long)rootStat.Blocks * 512;
        }
        if (options.Output == WalkOutput.Analyze) _analysis = new TreeAnalysis(options.TopN);
        var root = new DirNode(rootZ, _nextId++, -1, 0, -1, null, viaLink: true)
        {
            Dev = rootStat.Dev, Ino = (long)rootStat.Ino, Ignores = options.Gitignore ? IgnoreFiles.ForRoot(rootZ) : null,
            OwnBytes = (long)rootStat.Size, OwnDiskBytes = (long)rootStat.Blocks * 512,
        };
        _root = root;
        _work.Push(root);
        _pending = 1;

        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        _threads = new Thread[threads];
        _liveWorkers = threads;
        for (int i = 0; i < threads; i++)
        {
            // Shards are made here, not by the workers: a lock they contend for would need a sync entry.
            var shard = _analysis?.NewShard();
            _threads[i] = new Thread(() => Work(shard), 256 * 1024) { IsBackground = true, Name = "vega-walk" };
        }
        foreach (var thread in _threads) thread.Start();
    }

    /// <summary>
    /// Starts walking <paramref name="root"/> (raw path bytes). The root is checked before any thread
    /// starts, so a missing root, a file, or an unreadable directory fails here with its errno.
    /// </summary>
    public static TreeWalk Start(ReadOnlySpan<byte> root, WalkOptions options)
    {
        if (root.IndexOf((byte)0) >= 0) throw new ArgumentException("path contains a NUL byte");
        if (options.Threads < 0 || options.Threads > 1024) throw new ArgumentException("threads must be between 0 and 1024");
        if (options.MaxDepth < 0) throw new ArgumentException("max_depth must not be negative");
        byte[] rootZ = new byte[root.Length + 1];
        root.CopyTo(rootZ);

        int fd = PosixDirectory.Open(rootZ, noFollow: false);
        if (fd < 0) throw new PosixException(-fd, root.ToArray());
        StatxBuffer stat;
        int errno = PosixDirectory.StatFd(fd, &stat);
        Libc.Close(fd);
        if (errno != 0) throw new PosixException(errno, root.ToArray());
        return new TreeWalk(options, rootZ, stat);
    }

    public WalkProgress Progress => new(
        Interlocked.Read(ref _directories), Interlocked.Read(ref _entries),
        Interlocked.Read(ref _bytes), Interlocked.Read(ref _errors));

    /// <summary>Totals of a <see cref="WalkOutput.Count"/> walk; complete once the stream is finished.</summary>
    public CountTotals Totals
    {
        get { lock (_output) return _totals with { Errors = Interlocked.Read(ref _errors) }; }
    }

    /// <summary>
    /// Takes the next batch, waiting up to <paramref name="timeoutMs"/> (-1: forever). Returns true when
    /// the stream is finished (and <paramref name="batch"/> is null). A null batch with false means the
    /// wait timed out. Throws <see cref="OperationCanceledException"/> after <see cref="Cancel"/>.
    /// </summary>
    public bool TryTakeBatch(int timeoutMs, out WalkBatch? batch)
    {
        long deadline = timeoutMs < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMs;
        lock (_output)
        {
            while (true)
            {
                if (_fault is not null) throw new InvalidOperationException("the walk failed: " + _fault.Message, _fault);
                if (_cancelled) throw new OperationCanceledException();
                if (_ready.Count > 0)
                {
                    batch = _ready.Dequeue();
                    Monitor.PulseAll(_output);
                    return false;
                }
                if (_finished) { batch = null; return true; }
                long remaining = deadline - Environment.TickCount64;
                if (remaining <= 0) { batch = null; return false; }
                bool signalled = Monitor.Wait(_output, (int)Math.Min(remaining, PartialBatchWaitMs));
                if (!signalled && _ready.Count == 0 && _current is not null)
                {
                    // The consumer is ahead of the workers: hand over what is there rather than wait for a full batch.
                    batch = _current;
                    _current = null;
                    return false;
                }
            }
        }
    }

    /// <summary>
    /// The report of a <see cref="WalkOutput.Analyze"/> walk, built on first call once the walk has finished.
    /// Throws <see cref="ArgumentException"/> before then, and after a cancel or a failure what
    /// <see cref="TryTakeBatch"/> throws.
    /// </summary>
    public AnalysisReport Report
    {
        get
        {
            if (_analysis is null) throw new ArgumentException("this walk is not an analysis");
            lock (_output)
            {
                if (_fault is not null) throw new InvalidOperationException("the walk failed: " + _fault.Message, _fault);
                if (_cancelled) throw new OperationCanceledException();
                if (!_finished) throw new ArgumentException("the analysis has not finished");
                return _report ??= _analysis.Build(Interlocked.Read(ref _nextId) + 1, _root.OwnBytes, _root.OwnDiskBytes);
            }
        }
    }

    public void ReadProgress(Span<long> counters)
    {
        var p = Progress;
        counters[0] = p.Directories;
        counters[1] = p.Entries;
        counters[2] = p.Bytes;
        counters[3] = p.Errors;
    }

    public void Cancel()
    {
        _cancelled = true;
        lock (_workLock) Monitor.PulseAll(_workLock);
        lock (_output) Monitor.PulseAll(_output);
    }

    /// <summary>
    /// Cancels if still running and waits briefly for the workers to leave. Once they have, the batches
    /// never handed over are freed and the monitors go back to their pool.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Cancel();
        bool left = true;
        foreach (var thread in _threads) left &= thread.Join(TimeSpan.FromSeconds(2));
        if (!left) return; // a worker is stuck in a system call: leave it all to the GC
        lock (_output) // a consumer on another thread may still be taking a batch
        {
            foreach (var batch in _ready) batch.Discard();
            _ready.Clear();
            _current?.Discard();
            _current = null;
        }
        JobMonitors.Return(_workLock);
        JobMonitors.Return(_output);
    }

    // A batch's blob is sized like the last full one, so it rarely grows (a regrowth may copy it).
    private int _blobHint = 64 * 1024;

    private void Work(AnalysisShard? shard)
    {
        var scratch = new Scratch(_options.Stat) { Shard = shard };
        var local = default(CountTotals);
        try
        {
            while (TakeDirectory(out var node))
            {
                List<DirNode> children = ReadDirectory(node, scratch, ref local);
                lock (_workLock)
                {
                    foreach (var child in children) _work.Push(child);
                    _pending += children.Count - 1;
                    if (children.Count > 0 || _pending == 0) Monitor.PulseAll(_workLock);
                    children.Clear(); // queued now: the fault path below must not close their fds
                }
            }
        }
        catch (Exception e)
        {
            CloseHeld(scratch.Children); // opened for a directory whose reading failed half way
            lock (_output) _fault ??= e;
            Cancel();
        }
        finally
        {
            scratch.Dispose();
            lock (_output)
            {
                _totals.Add(local);
                if (--_liveWorkers == 0)
                {
                    ReleaseQueued();
                    if (_current is not null) _ready.Enqueue(_current);
                    _current = null;
                    _finished = true;
                }
                Monitor.PulseAll(_output);
            }
        }
    }

    private bool TakeDirectory(out DirNode node)
    {
        lock (_workLock)
        {
            while (true)
            {
                if (_cancelled) break;
                if (_work.Count > 0) { node = _work.Pop(); return true; }
                if (_pending == 0) break;
                Monitor.Wait(_workLock);
            }
        }
        node = null!;
        return false;
    }

    private List<DirNode> ReadDirectory(DirNode node, Scratch s, ref CountTotals totals)
    {
        s.Reset();
        s.Shard?.BeginDirectory();
        // A real subdirectory is opened with O_NOFOLLOW: if it was swapped for a symlink since it was
        // listed, the walk does not escape into wherever that link points.
        int fd = node.OpenedFd;
        if (fd == NotOpened) fd = PosixDirectory.Open(node.PathZ, noFollow: !node.ViaLink);
        else if (fd >= 0) Interlocked.Decrement(ref s_heldFds);
        if (fd < 0)
        {
            ReportUnreadable(node, s, -fd);
            return s.Children;
        }

        int readErrno = 0;
        try
        {
            if (_options.FollowLinks && node.Id != 0)
            {
                StatxBuffer self;
                if (PosixDirectory.StatFd(fd, &self) == 0) { node.Dev = self.Dev; node.Ino = (long)self.Ino; }
            }
            s.SetPrefix(node.PathZ);
            s.Ignores = node.Ignores?.Enter(fd, s.Prefix[_rootPrefixLength..], node.Depth);
            s.Depth = node.Depth;
            readErrno = ReadEntries(fd, node, s, ref totals);
        }
        finally
        {
            Libc.Close(fd);
        }

        if (_cancelled) return s.Children;
        if (readErrno != 0)
        {
            CloseHeld(s.Children);
            s.Children.Clear();
            ReportUnreadable(node, s, readErrno);
            return s.Children;
        }

        Interlocked.Increment(ref _directories);
        Interlocked.Add(ref _entries, s.EntryCount);
        if (s.Shard is { } shard)
        {
            shard.EndDirectory(node.Id, node.ParentId, node.PathZ, node.Depth, s.EntryCount, node.OwnBytes, node.OwnDiskBytes, readable: true);
            Interlocked.Add(ref _bytes, shard.DirectoryBytes);
        }
        else if (_options.Output != WalkOutput.Count) EmitGroup(node, s);
        foreach (var (childPath, errno, childIndex) in s.Loops)
        {
            ReportError(s, childPath, errno, Interlocked.Increment(ref _nextId), node.Id, childIndex);
        }
        return s.Children;
    }

    /// <summary>A directory that could not be opened or read: an error, and for an analysis a folder with no content.</summary>
    private void ReportUnreadable(DirNode node, Scratch s, int errno)
    {
        // An analysis counts a directory removed since it was listed as vanished, like a file, not as an error.
        if (s.Shard is not null && errno == Libc.ENOENT) s.Shard.Vanished++;
        else ReportError(s, node.PathZ.AsSpan(0, node.PathZ.Length - 1), errno, node.Id, node.ParentId, node.ChildIndex);
        s.Shard?.EndDirectory(node.Id, node.ParentId, node.PathZ, node.Depth, 0, node.OwnBytes, node.OwnDiskBytes, readable: false);
    }

    /// <summary>An error goes into the output stream, or into the report of an analysis.</summary>
    private void ReportError(Scratch s, ReadOnlySpan<byte> path, int errno, long id, long parentId, int childIndex)
    {
        if (s.Shard is null)
        {
            EmitError(path, errno, id, parentId, childIndex);
            return;
        }
        Interlocked.Increment(ref _errors);
        s.Shard.AddError(path, errno);
    }

    /// <summary>Reads all entries of an open directory into the scratch; returns 0 or the errno of a failed read.</summary>
    private int ReadEntries(int fd, DirNode node, Scratch s, ref CountTotals totals)
    {
        byte* buffer = s.ReadBuffer;
        while (!_cancelled)
        {
            nint read = Libc.GetDents64(fd, buffer, ReadBufferSize);
            if (read == 0) return 0;
            if (read < 0)
            {
                int errno = PosixDirectory.LastErrno();
                if (errno == Libc.EINTR) continue;
                return errno;
            }
            for (nint offset = 0; offset < read;)
            {
                // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                byte* record = buffer + offset;
                offset += *(ushort*)(record + 16);
                byte* nameZ = record + 19;
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(nameZ);
                if (name.Length <= 2 && name[0] == (byte)'.' && (name.Length == 1 || name[1] == (byte)'.')) continue;
                AddEntry(fd, node, nameZ, name, record[18], s, ref totals);
            }
        }
        return 0;
    }

    private void AddEntry(int fd, DirNode node, byte* nameZ, ReadOnlySpan<byte> name, byte dType, Scratch s, ref CountTotals totals)
    {
        s.EntryCount++;
        EntryKind kind = EntryKinds.FromDType(dType);
        StatxBuffer stat = default;
        int statErrno = -1;
        if (_needLstat || kind == EntryKind.Unknown)
        {
            statErrno = PosixDirectory.StatAt(fd, nameZ, follow: false, &stat);
            if (statErrno == 0) kind = EntryKinds.FromMode(stat.Mode);
        }
        bool haveStat = statErrno == 0;

        bool isDir = kind == EntryKind.Directory;
        bool viaLink = false;
        long dev = 0, ino = 0;
        if (kind == EntryKind.Symlink && _classifyLinks)
        {
            StatxBuffer target;
            if (PosixDirectory.StatAt(fd, nameZ, follow: true, &target) == 0 && (target.Mode & 0xF000) == 0x4000)
            {
                isDir = true;
                viaLink = true;
                dev = target.Dev;
                ino = (long)target.Ino;
            }
        }

        bool listed = true;
        if (_filtering)
        {
            var selection = Select(s, name, isDir, isDir && (!viaLink || _options.FollowLinks));
            if (selection == Selection.Skip) return;
            listed = selection == Selection.List;
        }
        bool descend = isDir && (!viaLink || _options.FollowLinks) && (_options.MaxDepth == 0 || node.Depth + 1 < _options.MaxDepth);
        long ownBytes = 0, ownDiskBytes = 0;

        if (s.Shard is { } shard)
        {
            if (!haveStat)
            {
                // Gone since it was listed: it is not part of the tree any more. Other failures are errors.
                if (statErrno == Libc.ENOENT) shard.Vanished++;
                else ReportError(s, [.. s.Prefix, .. name], statErrno, -1, node.Id, -1);
                return;
            }
            shard.AddEntry(kind, stat, s.Prefix, name, node.Depth + 1, descend && kind == EntryKind.Directory, out ownBytes, out ownDiskBytes);
        }
        else if (listed && _options.Output == WalkOutput.Count)
        {
            if (haveStat) CountEntry(kind, stat, ref totals);
        }
        else if (listed)
        {
            var part = isDir ? s.Dirs : s.Others;
            if (_options.Output == WalkOutput.Paths) part.Blob.AddRange(s.Prefix);
            part.Blob.AddRange(name);
            part.Blob.Add(0);
            part.Kinds.Add((byte)kind);
            if (_options.Stat) AddStat(part, haveStat, stat);
        }

        if (!isDir) return;
        int childIndex = listed ? s.DirCount++ : -1;
        if (!descend) return;

        byte[] childZ = s.ChildPath(name);
        if (viaLink && IsAncestor(node, dev, ino))
        {
            s.Loops.Add((childZ.AsMemory(0, childZ.Length - 1).ToArray(), Libc.ELOOP, childIndex));
            return;
        }
        s.Children.Add(new DirNode(childZ, Interlocked.Increment(ref _nextId), node.Id, node.Depth + 1, childIndex,
            _options.FollowLinks ? node : null, viaLink)
        {
            Dev = dev, Ino = ino, OpenedFd = OpenChild(fd, nameZ, viaLink), Ignores = s.Ignores,
            OwnBytes = ownBytes, OwnDiskBytes = ownDiskBytes,
        });
    }

    private enum Selection { List, Hide, Skip }

    /// <summary>
    /// What the filters make of an entry: Skip (left out; a directory is not descended), Hide (a directory
    /// that is descended but not listed) or List.
    /// </summary>
    private Selection Select(Scratch s, ReadOnlySpan<byte> name, bool isDir, bool matchAsDirectory)
    {
        var directory = s.Prefix[_rootPrefixLength..];
        if (_options.Exclude?.IsMatch(directory, name, matchAsDirectory) == true) return Selection.Skip;
        if (_options.Gitignore)
        {
            if (isDir && name.SequenceEqual(".git"u8)) return Selection.Skip;
            if (s.Ignores!.IsIgnored(directory, name, matchAsDirectory, s.Depth, s.MatchScratch)) return Selection.Skip;
        }
        if (_options.Include is { } include && !include.IsMatch(directory, name, matchAsDirectory))
        {
            if (!isDir) return Selection.Skip;
            return _options.Output is WalkOutput.Names or WalkOutput.Analyze ? Selection.List : Selection.Hide;
        }
        return Selection.List;
    }

    private static int OpenChild(int parentFd, byte* nameZ, bool viaLink)
    {
        if (Interlocked.Increment(ref s_heldFds) > MaxHeldFds)
        {
            Interlocked.Decrement(ref s_heldFds);
            return NotOpened;
        }
        int fd = PosixDirectory.OpenAt(parentFd, nameZ, noFollow: !viaLink);
        if (fd >= 0) return fd;
        Interlocked.Decrement(ref s_heldFds);
        // Out of descriptors is not the directory's fault: try again by path when its turn comes.
        return fd is -Libc.EMFILE or -Libc.ENFILE ? NotOpened : fd;
    }

    /// <summary>Closes the held fds of directories that will not be read (the walk was cancelled).</summary>
    private void ReleaseQueued()
    {
        lock (_workLock)
        {
            CloseHeld(_work);
            _work.Clear();
        }
    }

    private static void CloseHeld(IEnumerable<DirNode> nodes)
    {
        foreach (var node in nodes)
        {
            if (node.OpenedFd < 0) continue;
            Libc.Close(node.OpenedFd);
            node.OpenedFd = NotOpened;
            Interlocked.Decrement(ref s_heldFds);
        }
    }

    private static bool IsAncestor(DirNode node, long dev, long ino)
    {
        for (DirNode? a = node; a is not null; a = a.Parent)
        {
            if (a.Dev == dev && a.Ino == ino) return true;
        }
        return false;
    }

    private void AddStat(Scratch.Part part, bool haveStat, in StatxBuffer stat)
    {
        if (!haveStat)
        {
            for (int i = 0; i < WalkBatch.StatFields; i++) part.Stats.Add(-1);
            return;
        }
        part.Stats.Add((long)stat.Size);
        part.Stats.Add(stat.MtimeNs);
        part.Stats.Add(stat.Mode);
        part.Stats.Add((long)stat.Ino);
        part.Stats.Add(stat.Dev);
        part.Stats.Add(stat.NLink);
        part.StatBytes += (long)stat.Size;
    }

    private void CountEntry(EntryKind kind, in StatxBuffer stat, ref CountTotals totals)
    {
        switch (kind)
        {
            case EntryKind.File: totals.Files++; break;
            case EntryKind.Directory: totals.Directories++; break;
            case EntryKind.Symlink: totals.Symlinks++; break;
            default: totals.Others++; break;
        }
        if (kind != EntryKind.Directory && !_countedLinks.FirstSight(stat)) return;
        totals.ApparentBytes += (long)stat.Size;
        totals.DiskBytes += (long)stat.Blocks * 512;
    }

    private void EmitGroup(DirNode node, Scratch s)
    {
        int dirs = s.Dirs.Kinds.Count;
        int entries = dirs + s.Others.Kinds.Count;
        Interlocked.Add(ref _bytes, s.Dirs.StatBytes + s.Others.StatBytes);
        lock (_output)
        {
            if (!WaitForRoom()) return;
            var b = _current ??= NewBatch();
            b.GroupData.Add(node.Id);
            b.GroupData.Add(node.ParentId);
            b.GroupData.Add(dirs);
            b.GroupData.Add(entries);
            b.GroupData.Add(0);
            b.GroupData.Add(node.ChildIndex);
            // In Paths output the entries carry full paths, so the directory's own path is left out:
            // a batch without errors is then exactly the list of entry paths.
            if (_options.Output != WalkOutput.Paths) b.BlobData.AddRange(node.PathZ);
            foreach (var part in (ReadOnlySpan<Scratch.Part>)[s.Dirs, s.Others])
            {
                b.BlobData.AddRange(part.Blob.Span);
                b.KindData.AddRange(part.Kinds.Span);
                if (_options.Stat) b.StatData.AddRange(part.Stats.Span);
            }
            SealIfFull();
        }
    }

    private void EmitError(ReadOnlySpan<byte> path, int errno, long id, long parentId, int childIndex)
    {
        Interlocked.Increment(ref _errors);
        lock (_output)
        {
            if (!WaitForRoom()) return;
            var b = _current ??= NewBatch();
            b.GroupData.Add(id);
            b.GroupData.Add(parentId);
            b.GroupData.Add(0);
            b.GroupData.Add(0);
            b.GroupData.Add(errno);
            b.GroupData.Add(childIndex);
            b.BlobData.AddRange(path);
            b.BlobData.Add(0);
            SealIfFull();
        }
    }

    /// <summary>Under the output lock: waits while the consumer is behind. False if cancelled.</summary>
    private bool WaitForRoom()
    {
        while (_ready.Count >= MaxReadyBatches && !_cancelled) Monitor.Wait(_output);
        return !_cancelled;
    }

    private WalkBatch NewBatch() => new(_batchEntries, _blobHint, _options.Stat);

    private void SealIfFull()
    {
        var b = _current!;
        if (b.EntryCount >= _batchEntries || b.BlobData.Count >= BlobLimit || b.GroupCount >= _batchEntries)
        {
            _blobHint = Math.Min(BlobLimit, Math.Max(_blobHint, b.BlobData.Count + b.BlobData.Count / 8));
            _ready.Enqueue(b);
            _current = null;
            Monitor.PulseAll(_output);
        }
    }

    /// <summary>Per-worker buffers, reused for every directory the worker reads.</summary>
    private sealed class Scratch : IDisposable
    {
        public sealed class Part(bool stat)
        {
            public GrowableBuffer<byte> Blob = new(4096);
            public GrowableBuffer<byte> Kinds = new(256);
            public GrowableBuffer<long> Stats = new(stat ? 256 * WalkBatch.StatFields : 0);
            public long StatBytes;

            public void Reset() { Blob.Clear(); Kinds.Clear(); Stats.Clear(); StatBytes = 0; }
        }

        public readonly Part Dirs;
        public readonly Part Others;
        public readonly List<DirNode> Children = new();
        public readonly List<(byte[] Path, int Errno, int ChildIndex)> Loops = new();
        public readonly List<int> MatchScratch = new();
        public IgnoreFiles? Ignores;
        public int Depth; // of the directory being read
        public AnalysisShard? Shard;
        public readonly byte* ReadBuffer = (byte*)NativeMemory.Alloc(ReadBufferSize);
        public int DirCount;
        public int EntryCount;
        private GrowableBuffer<byte> _prefix = new(256);

        public Scratch(bool stat) { Dirs = new Part(stat); Others = new Part(stat); }

        /// <summary>The directory path followed by '/', unless it already ends with one (as "/" does).</summary>
        public ReadOnlySpan<byte> Prefix => _prefix.Span;

        public void SetPrefix(byte[] pathZ)
        {
            _prefix.Clear();
            var path = pathZ.AsSpan(0, pathZ.Length - 1);
            _prefix.AddRange(path);
            if (path.Length == 0 || path[^1] != (byte)'/') _prefix.Add((byte)'/');
        }

        public byte[] ChildPath(ReadOnlySpan<byte> name)
        {
            var prefix = _prefix.Span;
            byte[] path = new byte[prefix.Length + name.Length + 1];
            prefix.CopyTo(path);
            name.CopyTo(path.AsSpan(prefix.Length));
            return path;
        }

        public void Reset()
        {
            Dirs.Reset();
            Others.Reset();
            Children.Clear();
            Loops.Clear();
            DirCount = 0;
            EntryCount = 0;
        }

        public void Dispose() => NativeMemory.Free(ReadBuffer);
    }
}
