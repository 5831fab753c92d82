using Vega.Core.Walk;

namespace Vega.Core.Files;

/// <summary>
/// One file to work on. <see cref="Index"/> is its position in the caller's list, or for a tree the
/// order in which the walk found it. <see cref="Size"/>, <see cref="Device"/> and <see cref="Inode"/>
/// are -1 when the source did not stat it. <see cref="Errno"/> != 0 means the source itself failed
/// there (an unreadable directory, a link loop): <see cref="Path"/> names it and there is nothing to open.
/// <see cref="ViaLink"/>: a tree's symlink, followed (a missing target is then an error, not a vanished file).
/// </summary>
public readonly record struct FileItem(byte[] Path, long Index, long Size, long Device, long Inode, int Errno = 0, bool ViaLink = false);

/// <summary>
/// Where a file job's files come from: a list of paths, or the regular files of a tree walked with
/// the walk's options (filters, gitignore, depth, symlinks). Many workers take from it at once. A
/// source feeds one job.
/// </summary>
public abstract class FileSource : IDisposable
{
    private int _claimed;

    /// <summary>Open files without following a final symlink (tree sources that do not follow links).</summary>
    public abstract bool NoFollow { get; }

    /// <summary>Files come from a walk: an entry that is gone or no longer a regular file is left out, not an error.</summary>
    public abstract bool IsTree { get; }

    /// <summary>Takes up to <paramref name="max"/> items into <paramref name="into"/>; false once exhausted.
    /// Blocks while a tree walk has nothing ready. Throws OperationCanceledException once cancelled.</summary>
    public abstract bool TryTake(List<FileItem> into, int max);

    /// <summary>Directories read so far (0 for a list).</summary>
    public virtual long DirectoriesRead => 0;

    public virtual void Cancel() { }

    public virtual void Dispose() { }

    /// <summary>Marks the source as used by a job; a second claim is an error.</summary>
    public void Claim()
    {
        if (Interlocked.Exchange(ref _claimed, 1) != 0) throw new ArgumentException("this file source already feeds a job");
    }

    public static FileSource FromList(IReadOnlyList<byte[]> paths)
    {
        foreach (var path in paths)
            if (path.Length == 0 || path.AsSpan().IndexOf((byte)0) >= 0) throw new ArgumentException("a path is empty or contains a NUL byte");
        return new ListSource(paths);
    }

    /// <summary>
    /// Starts walking <paramref name="root"/> now (so a bad root fails here); see <see cref="TreeWalk.Start"/>.
    /// With <see cref="WalkOptions.Stat"/> the items carry size, device and inode from lstat; without it
    /// the walk classifies entries by d_type alone (a statx per entry saved: jobs that open every
    /// file learn its size from the open file anyway).
    /// </summary>
    public static FileSource FromTree(ReadOnlySpan<byte> root, WalkOptions options) =>
        new TreeSource(TreeWalk.Start(root, options with { Output = WalkOutput.Paths }), options.FollowLinks);

    private sealed class ListSource(IReadOnlyList<byte[]> paths) : FileSource
    {
        private int _next;
        private volatile bool _cancelled;

        public override bool NoFollow => false;

        public override bool IsTree => false;

        public override bool TryTake(List<FileItem> into, int max)
        {
            if (_cancelled) throw new OperationCanceledException();
            int start = Interlocked.Add(ref _next, max) - max;
            int end = Math.Min(start + max, paths.Count);
            for (int i = start; i < end; i++) into.Add(new FileItem(paths[i], i, -1, -1, -1));
            return start < paths.Count;
        }

        public override void Cancel() => _cancelled = true;
    }

    private sealed class TreeSource(TreeWalk walk, bool followLinks) : FileSource
    {
        private readonly object _lock = JobMonitors.Rent(); // workers wait on it while one of them waits for the walk
        private readonly Queue<FileItem> _ready = new();
        private long _found;
        private bool _finished;
        private int _disposed;

        public override bool NoFollow => !followLinks;

        public override bool IsTree => true;

        public override long DirectoriesRead => walk.Progress.Directories;

        public override bool TryTake(List<FileItem> into, int max)
        {
            lock (_lock)
            {
                while (_ready.Count == 0 && !_finished)
                {
                    _finished = walk.TryTakeBatch(-1, out var batch);
                    if (batch is not null) Unpack(batch);
                }
                while (into.Count < max && _ready.TryDequeue(out var item)) into.Add(item);
                return into.Count > 0 || !_finished;
            }
        }

        /// <summary>A Paths batch: per group, its entries' full paths (or for an error group, its path).</summary>
        private void Unpack(WalkBatch batch)
        {
            var groups = batch.Groups;
            var kinds = batch.Kinds;
            var stats = batch.Stats;
            var blob = batch.Blob;
            int entry = 0, position = 0;
            for (int g = 0; g < batch.GroupCount; g++)
            {
                int entries = (int)groups[g * WalkBatch.GroupFields + 3];
                int errno = (int)groups[g * WalkBatch.GroupFields + 4];
                if (errno != 0)
                {
                    int end = position + blob[position..].IndexOf((byte)0);
                    _ready.Enqueue(new FileItem(blob[position..end].ToArray(), _found++, -1, -1, -1, errno));
                    position = end + 1;
                    continue;
                }
                for (int e = 0; e < entries; e++, entry++)
                {
                    int end = position + blob[position..].IndexOf((byte)0);
                    var kind = (EntryKind)kinds[entry];
                    if (kind == EntryKind.File || (kind == EntryKind.Symlink && followLinks))
                    {
                        // A symlink's lstat sizes describe the link: the file's own are read when it is opened.
                        var stat = batch.HasStat && kind == EntryKind.File ? stats.Slice(entry * WalkBatch.StatFields, WalkBatch.StatFields) : default;
                        bool own = !stat.IsEmpty && stat[0] >= 0;
                        _ready.Enqueue(new FileItem(blob[position..end].ToArray(), _found++,
                            own ? stat[0] : -1, own ? stat[4] : -1, own ? stat[3] : -1, ViaLink: kind == EntryKind.Symlink));
                    }
                    position = end + 1;
                }
            }
        }

        public override void Cancel() => walk.Cancel();

        public override void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            walk.Dispose();
            JobMonitors.Return(_lock);
        }
    }
}
