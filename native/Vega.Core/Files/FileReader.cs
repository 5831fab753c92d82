using Vega.Core.Interop;
using Vega.Core.Walk;

namespace Vega.Core.Files;

/// <summary>
/// Opens the files of a job (one reader per worker) and reads them in chunks with read(2) into the
/// caller's buffer. read() and not mmap: a file truncated under a mapping kills the process with SIGBUS,
/// and for the small files that dominate trees the map/unmap calls cost more than the copy.
/// Files are opened with openat() relative to their directory, which the reader keeps open while
/// consecutive files share it (sources list a directory's files together): resolving every full path
/// again was the largest kernel cost of hashing a tree of small files.
/// </summary>
internal sealed unsafe class FileReader : IDisposable
{
    /// <summary>Returned by <see cref="Open"/> for an entry of a tree that is not a regular file (a
    /// symlink to a directory, a file replaced meanwhile): left out silently, as the walk would have.</summary>
    public const int Skip = -1;

    private byte[] _directory = [];
    private int _directoryFd = Libc.AT_FDCWD;
    private int _directoryErrno;

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
        int errno = inDirectory ? UseDirectory(path.AsSpan(0, Math.Max(slash, 1))) : 0;
        if (errno == 0)
        {
            Span<byte> nameZ = name.Length < 1024 ? stackalloc byte[name.Length + 1] : new byte[name.Length + 1];
            name.CopyTo(nameZ);
            nameZ[^1] = 0;
            fixed (byte* p = nameZ) fd = PosixDirectory.OpenFileAt(inDirectory ? _directoryFd : Libc.AT_FDCWD, p, noFollow);
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

    /// <summary>Makes <paramref name="directory"/> the one files are opened in: 0, or the errno of opening it.</summary>
    private int UseDirectory(ReadOnlySpan<byte> directory)
    {
        if (directory.SequenceEqual(_directory)) return _directoryErrno;
        CloseDirectory();
        _directory = directory.ToArray();
        byte[] directoryZ = new byte[directory.Length + 1];
        directory.CopyTo(directoryZ);
        int fd = PosixDirectory.OpenHandle(directoryZ);
        if (fd < 0) return _directoryErrno = -fd;
        _directoryFd = fd;
        return 0;
    }

    private static int OpenByPath(byte[] path, bool noFollow)
    {
        byte[] pathZ = new byte[path.Length + 1];
        path.CopyTo(pathZ, 0);
        return PosixDirectory.OpenFile(pathZ, noFollow);
    }

    private void CloseDirectory()
    {
        if (_directoryFd != Libc.AT_FDCWD) Libc.Close(_directoryFd);
        _directoryFd = Libc.AT_FDCWD;
        _directoryErrno = 0;
        _directory = [];
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

    public void Dispose() => CloseDirectory();
}
