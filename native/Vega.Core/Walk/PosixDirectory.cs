using Vega.Core.Interop;

namespace Vega.Core.Walk;

internal static unsafe class PosixDirectory
{
    /// <summary>
    /// Opens a directory for reading. <paramref name="pathZ"/> ends with a NUL. Paths longer than
    /// PATH_MAX are opened in PATH_MAX-sized hops with openat, so deep trees are read whole rather than
    /// failing with ENAMETOOLONG as os.walk does. Returns the fd, or -errno.
    /// </summary>
    public static int Open(ReadOnlySpan<byte> pathZ, bool noFollow) =>
        OpenPath(pathZ, Libc.O_DIRECTORY | Libc.O_CLOEXEC | (noFollow ? Libc.O_NOFOLLOW : 0));

    /// <summary>
    /// Opens any file for reading, without blocking on a FIFO or a device (O_NONBLOCK, which does not
    /// affect regular files): the caller checks its kind with <see cref="StatFd"/>. Returns the fd, or -errno.
    /// </summary>
    public static int OpenFile(ReadOnlySpan<byte> pathZ, bool noFollow) =>
        OpenPath(pathZ, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NONBLOCK | (noFollow ? Libc.O_NOFOLLOW : 0));

    /// <summary>
    /// A handle for openat() only (O_PATH: no read permission needed) on the directory <paramref name="path"/>
    /// (no NUL), relative to the open directory <paramref name="dirFd"/> unless absolute, of any length.
    /// Returns the fd, or -errno.
    /// </summary>
    public static int OpenHandleAt(int dirFd, ReadOnlySpan<byte> path) =>
        OpenLong(dirFd, path, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);

    /// <summary>Opens the file <paramref name="nameZ"/> of an open directory like <see cref="OpenFile"/>.</summary>
    public static int OpenFileAt(int dirFd, byte* nameZ, bool noFollow)
    {
        int flags = Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NONBLOCK | (noFollow ? Libc.O_NOFOLLOW : 0);
        int fd;
        do fd = Libc.OpenAt(dirFd, nameZ, flags, 0);
        while (fd < 0 && LastErrno() == Libc.EINTR);
        return fd >= 0 ? fd : -LastErrno();
    }

    private static int OpenPath(ReadOnlySpan<byte> pathZ, int flags)
    {
        int fd;
        fixed (byte* p = pathZ)
        {
            do fd = Libc.OpenAt(Libc.AT_FDCWD, p, flags, 0);
            while (fd < 0 && LastErrno() == Libc.EINTR);
        }
        if (fd >= 0) return fd;
        int errno = LastErrno();
        return errno == Libc.ENAMETOOLONG ? OpenLong(Libc.AT_FDCWD, pathZ[..^1], flags) : -errno;
    }

    /// <summary>Opens the directory <paramref name="nameZ"/> inside an open directory; returns the fd, or -errno.</summary>
    public static int OpenAt(int dirFd, byte* nameZ, bool noFollow)
    {
        int flags = Libc.O_DIRECTORY | Libc.O_CLOEXEC | (noFollow ? Libc.O_NOFOLLOW : 0);
        int fd;
        do fd = Libc.OpenAt(dirFd, nameZ, flags, 0);
        while (fd < 0 && LastErrno() == Libc.EINTR);
        return fd >= 0 ? fd : -LastErrno();
    }

    /// <summary>Opens <paramref name="path"/> (no NUL) relative to <paramref name="startFd"/> (not closed here),
    /// in hops shorter than PATH_MAX when it is longer.</summary>
    private static int OpenLong(int startFd, ReadOnlySpan<byte> path, int finalFlags)
    {
        int hopFlags = Libc.O_PATH | Libc.O_CLOEXEC | Libc.O_DIRECTORY;
        Span<byte> hop = stackalloc byte[Libc.PATH_MAX];
        int fd = startFd;
        while (true)
        {
            if (path.Length < Libc.PATH_MAX - 1)
            {
                int last = OpenHop(path.IsEmpty ? "."u8 : path, fd, finalFlags, hop);
                if (fd != startFd) Libc.Close(fd);
                return last;
            }
            int cut = path[..(Libc.PATH_MAX - 1)].LastIndexOf((byte)'/');
            int next = cut <= 0 ? -Libc.ENAMETOOLONG : OpenHop(path[..cut], fd, hopFlags, hop);
            if (fd != startFd) Libc.Close(fd);
            if (next < 0) return next;
            fd = next;
            path = path[cut..].TrimStart((byte)'/');
        }
    }

    private static int OpenHop(ReadOnlySpan<byte> relative, int dirFd, int flags, Span<byte> scratch)
    {
        int length = relative.IndexOf((byte)0) is var nul and >= 0 ? nul : relative.Length;
        relative[..length].CopyTo(scratch);
        scratch[length] = 0;
        fixed (byte* p = scratch)
        {
            int fd;
            do fd = Libc.OpenAt(dirFd, p, flags, 0);
            while (fd < 0 && LastErrno() == Libc.EINTR);
            return fd >= 0 ? fd : -LastErrno();
        }
    }

    /// <summary>statx relative to an open directory; returns 0 or errno.</summary>
    public static int StatAt(int dirFd, byte* nameZ, bool follow, StatxBuffer* buffer)
    {
        int flags = follow ? 0 : Libc.AT_SYMLINK_NOFOLLOW;
        return Libc.Statx(dirFd, nameZ, flags, Libc.STATX_BASIC_STATS, buffer) == 0 ? 0 : LastErrno();
    }

    /// <summary>statx of an open file descriptor itself.</summary>
    public static int StatFd(int fd, StatxBuffer* buffer)
    {
        byte empty = 0;
        return Libc.Statx(fd, &empty, Libc.AT_EMPTY_PATH, Libc.STATX_BASIC_STATS, buffer) == 0 ? 0 : LastErrno();
    }

    public static int LastErrno() => System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
}
