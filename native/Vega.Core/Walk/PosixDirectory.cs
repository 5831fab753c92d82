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

    /// <summary>A directory handle for openat() only (O_PATH: no read permission needed). Returns the fd, or -errno.</summary>
    public static int OpenHandle(ReadOnlySpan<byte> pathZ) =>
        OpenPath(pathZ, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);

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
        return errno == Libc.ENAMETOOLONG ? OpenLong(pathZ[..^1], flags) : -errno;
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

    private static int OpenLong(ReadOnlySpan<byte> path, int finalFlags)
    {
        const int hopFlags = Libc.O_PATH | Libc.O_CLOEXEC;
        Span<byte> hop = stackalloc byte[Libc.PATH_MAX];
        int position = 0;
        int fd = OpenHop(path[0] == (byte)'/' ? "/\0"u8 : ".\0"u8, Libc.AT_FDCWD, hopFlags | Libc.O_DIRECTORY, hop);
        while (fd >= 0)
        {
            while (position < path.Length && path[position] == (byte)'/') position++;
            ReadOnlySpan<byte> rest = path[position..];
            if (rest.Length < Libc.PATH_MAX - 1)
            {
                int last = OpenHop(rest, fd, finalFlags, hop);
                Libc.Close(fd);
                return last;
            }
            int cut = rest[..(Libc.PATH_MAX - 1)].LastIndexOf((byte)'/');
            if (cut <= 0) { Libc.Close(fd); return -Libc.ENAMETOOLONG; }
            int next = OpenHop(rest[..cut], fd, hopFlags | Libc.O_DIRECTORY, hop);
            Libc.Close(fd);
            fd = next;
            position += cut;
        }
        return fd;
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
