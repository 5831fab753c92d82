using Vega.Core.Interop;
using Vega.Core.Walk;

namespace Vega.Core.Files;

/// <summary>
/// Opens the files of a job (one reader per worker) and reads them in chunks with read(2) into the
/// caller's buffer. read() and not mmap: a file truncated under a mapping kills the process with SIGBUS,
/// and for the small files that dominate trees the map/unmap calls cost more than the copy.
/// Files are opened with openat() relative to a handle on their directory. The reader keeps handles on
/// the last directories it used, each a prefix of the last one, and opens a new directory relative to
/// the deepest of them that contains it, its parent first (so that siblings share it): a tree's stream of
/// files moves from a directory to its children and siblings, so each new directory costs one or two
/// lookups. Resolving every full path again was the largest kernel cost of hashing a tree of small files,
/// and on a deep tree it grew with the depth: O(depth^2) lookups, plus PATH_MAX hops past 4096 bytes.
/// </summary>
internal sealed unsafe class FileReader : IDisposable
{
    /// <summary>Returned by <see cref="Open"/> for an entry of a tree that is not a regular file (a
    /// symlink to a directory, a file replaced meanwhile): left out silently, as the walk would have.</summary>
    public const int Skip = -1;

    private const int MaxHeld = 4;
    // Handles on directories, outermost first: each one's path is _path[..Length].
    private readonly (int Length, int Fd)[] _held = new (int, int)[MaxHeld];
    private int _heldCount;
    private byte[] _path = new byte[256];
    private int _pathLength;
    private bool _pathFailed; // _path could not be opened, with _pathErrno
    private int _pathErrno;

    /// <summary>
    /// Opens <paramref name="item"/> and checks that it is a regular file: 0 with <paramref name="fd"/>
    /// open, or an errno (EISDIR for a directory, EINVAL for another kind), or <see cref="Skip"/>.
    /// </summary>
    public int Open(in FileItem item, bool fromTree, bool noFollow, out int fd, out StatxBuffer stat)
    {
        stat = default;
        byte[] path = item.Path;
        int slash = path.AsSpan().LastIndexOf((byte)'/');
        bool inDirectory = slash >= 0 && slash < path.Length - 1; // "name" and "dir/" go to the kernel whole
        ReadOnlySpan<byte> name = inDirectory ? path.AsSpan(slash + 1) : path;
        int directoryFd = Libc.AT_FDCWD;
        int errno = inDirectory ? UseDirectory(path.AsSpan(0, Math.Max(slash, 1)), out directoryFd) : 0;
        if (errno == 0)
        {
            Span<byte> nameZ = name.Length < 1024 ? stackalloc byte[name.Length + 1] : new byte[name.Length + 1];
            name.CopyTo(nameZ);
            nameZ[^1] = 0;
            fixed (byte* p = nameZ) fd = PosixDirectory.OpenFileAt(directoryFd, p, noFollow);
            if (fd == -Libc.ENAMETOOLONG) fd = OpenByPath(path, noFollow);
        }
        else fd = -errno;
        if (fd < 0)
        {
            errno = -fd;
            fd = -1;
            // A tree's file that vanished between listing and opening is gone, not an error (as in an
            // analysis); a followed symlink whose target is missing is dangling, which is reported.
            return fromTree && errno == Libc.ENOENT && !item.ViaLink ? Skip : errno;
        }
        StatxBuffer s;
        int statErrno = PosixDirectory.StatFd(fd, &s);
        stat = s;
        int kind = s.Mode & 0xF000;
        if (statErrno == 0 && kind == 0x8000) return 0;
        Libc.Close(fd);
        fd = -1;
        if (statErrno != 0) return statErrno;
        if (fromTree) return Skip;
        return kind == 0x4000 ? Libc.EISDIR : Libc.EINVAL;
    }

    /// <summary>A handle on <paramref name="directory"/> in <paramref name="fd"/>: 0, or the errno of opening it.</summary>
    private int UseDirectory(ReadOnlySpan<byte> directory, out int fd)
    {
        fd = Libc.AT_FDCWD;
        while (directory.Length > 1 && directory[^1] == (byte)'/') directory = directory[..^1];
        if (_pathFailed && directory.SequenceEqual(_path.AsSpan(0, _pathLength))) return _pathErrno;
        int errno = Resolve(directory, out fd);
        if (errno is Libc.EMFILE or Libc.ENFILE && _heldCount > 0)
        {
            Release(0); // out of descriptors: ours may be what is missing
            errno = Resolve(directory, out fd);
        }
        _pathFailed = errno != 0;
        _pathErrno = errno;
        return errno;
    }

    private int Resolve(ReadOnlySpan<byte> directory, out int fd)
    {
        int common = directory.CommonPrefixLength(_path.AsSpan(0, _pathLength));
        int deepest = _heldCount - 1;
        while (deepest >= 0 && !IsDirectoryPrefix(directory, common, _held[deepest].Length)) deepest--;
        Release(deepest + 1);
        SetPath(directory);
        fd = deepest >= 0 ? _held[deepest].Fd : Libc.AT_FDCWD;
        int start = deepest >= 0 ? _held[deepest].Length : 0;
        if (start == directory.Length) return 0;
        // Relative to a held directory the rest is relative ("a//b": leading slashes go); from scratch it
        // is the path as given, absolute or relative to the working directory.
        while (start > 0 && start < directory.Length && directory[start] == (byte)'/') start++;
        var rest = directory[start..];
        int lastSlash = rest.LastIndexOf((byte)'/');
        if (lastSlash >= 0)
        {
            int parentLength = start + Math.Max(lastSlash, 1); // "/name": the parent is "/"
            if (parentLength < directory.Length && Hold(parentLength, fd, directory[start..parentLength], out fd) is var e and not 0) return e;
            start = parentLength;
            while (start < directory.Length && directory[start] == (byte)'/') start++;
        }
        return Hold(directory.Length, fd, directory[start..], out fd);
    }

    /// <summary>Is directory[..length], which it shares with _path up to <paramref name="common"/>, a whole directory of it?</summary>
    private static bool IsDirectoryPrefix(ReadOnlySpan<byte> directory, int common, int length) =>
        length <= common && (length == directory.Length || directory[length] == (byte)'/' || directory[length - 1] == (byte)'/');

    /// <summary>Opens <paramref name="relative"/> from <paramref name="from"/> and holds it as _path[..length].</summary>
    private int Hold(int length, int from, ReadOnlySpan<byte> relative, out int fd)
    {
        fd = PosixDirectory.OpenHandleAt(from, relative);
        if (fd < 0) return -fd;
        if (_heldCount == MaxHeld)
        {
            Libc.Close(_held[0].Fd);
            Array.Copy(_held, 1, _held, 0, MaxHeld - 1);
            _heldCount--;
        }
        _held[_heldCount++] = (length, fd);
        return 0;
    }

    private void SetPath(ReadOnlySpan<byte> directory)
    {
        if (_path.Length < directory.Length) Array.Resize(ref _path, Math.Max(directory.Length, _path.Length * 2));
        directory.CopyTo(_path);
        _pathLength = directory.Length;
    }

    /// <summary>Closes the handles from index <paramref name="keep"/> on.</summary>
    private void Release(int keep)
    {
        while (_heldCount > keep) Libc.Close(_held[--_heldCount].Fd);
    }

    private static int OpenByPath(byte[] path, bool noFollow)
    {
        byte[] pathZ = new byte[path.Length + 1];
        path.CopyTo(pathZ, 0);
        return PosixDirectory.OpenFile(pathZ, noFollow);
    }


    /// <summary>Reads up to buffer.Length bytes: the count (0 at the end), or -errno.</summary>
    public static int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = Libc.Read(fd, p, (nuint)buffer.Length);
                if (n >= 0) return (int)n;
                int errno = PosixDirectory.LastErrno();
                if (errno != Libc.EINTR) return -errno;
            }
        }
    }

    public static void Close(int fd) => Libc.Close(fd);

    public void Dispose() => Release(0);
}
