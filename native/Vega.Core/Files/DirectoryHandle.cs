using System.Text;
using Microsoft.Win32.SafeHandles;
using Vega.Core.Interop;
using Vega.Core.Walk;

namespace Vega.Core.Files;

/// <summary>
/// An open directory that every operation works relative to (openat, renameat, unlinkat, linkat,
/// mkdirat): once it is open, a path renamed or swapped underneath cannot redirect a later step, and
/// the names it is given are single components that are never followed through a symlink. This is how
/// code that reads back names from files it does not trust (a store's manifest) stays inside its
/// directory: a name with a '/' or "..", or an entry that is a symlink, a FIFO or a device where a
/// regular file or a directory is expected, is refused (<see cref="InvalidDataException"/>) before
/// anything is read, written or deleted through it.
/// </summary>
public sealed unsafe class DirectoryHandle : IDisposable
{
    private int _fd;

    /// <summary>The directory's path as it was opened, for messages only.</summary>
    public string Path { get; }

    private DirectoryHandle(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>Opens the directory at <paramref name="path"/> (the caller's own path: symlinks in it are
    /// followed, as for any path a user gives), creating it and its parents first if <paramref name="create"/>.</summary>
    public static DirectoryHandle Open(string path, bool create)
    {
        if (path.Length == 0) throw new ArgumentException("the directory path is empty");
        if (path.Contains('\0')) throw new ArgumentException("the directory path contains a NUL character");
        if (create) Directory.CreateDirectory(path);
        byte[] pathZ = Encoding.UTF8.GetBytes(path + "\0");
        int fd = PosixDirectory.Open(pathZ, noFollow: false);
        if (fd < 0) throw new PosixException(-fd, Encoding.UTF8.GetBytes(path), $"{path}: {Libc.ErrorMessage(-fd)}");
        return new DirectoryHandle(fd, path);
    }

    /// <summary>A name is one path component: not empty, not "." or "..", no '/' and no NUL.</summary>
    public static bool IsPlainName(string name) =>
        name.Length is > 0 and <= 255 && name is not ("." or "..") && name.IndexOfAny(['/', '\0']) < 0;

    private byte[] NameZ(string name)
    {
        if (!IsPlainName(name)) throw new ArgumentException($"{Path}: '{name}' is not a plain file name");
        return Encoding.UTF8.GetBytes(name + "\0");
    }

    private int Fd
    {
        get
        {
            ObjectDisposedException.ThrowIf(_fd < 0, this);
            return _fd;
        }
    }

    private PosixException Error(int errno, string name, string what) =>
        new(errno, Encoding.UTF8.GetBytes(System.IO.Path.Join(Path, name)), $"{System.IO.Path.Join(Path, name)}: {what}: {Libc.ErrorMessage(errno)}");

    /// <summary>Opens the subdirectory <paramref name="name"/> (never through a symlink), creating it first if
    /// <paramref name="create"/>; null if it does not exist and is not to be created.</summary>
    public DirectoryHandle? OpenDirectory(string name, bool create)
    {
        byte[] nameZ = NameZ(name);
        fixed (byte* p = nameZ)
        {
            if (create && Libc.MkdirAt(Fd, p, 0x1ed) != 0 && Libc.LastError() != Libc.EEXIST)
                throw Error(Libc.LastError(), name, "cannot create the directory");
            int fd = PosixDirectory.OpenAt(Fd, p, noFollow: true);
            if (fd == -Libc.ENOENT && !create) return null;
            if (fd is -Libc.ELOOP or -Libc.ENOTDIR)
                throw new InvalidDataException($"{System.IO.Path.Join(Path, name)}: a symlink or a file where a directory belongs (refused)");
            if (fd < 0) throw Error(-fd, name, "cannot open the directory");
            return new DirectoryHandle(fd, System.IO.Path.Join(Path, name));
        }
    }

    /// <summary>
    /// Opens the regular file <paramref name="name"/> for reading, never through a symlink and without
    /// blocking on a FIFO; <see cref="FileNotFoundException"/> if it is missing, <see cref="InvalidDataException"/>
    /// if it is not a regular file.
    /// </summary>
    public SafeFileHandle OpenRead(string name)
    {
        byte[] nameZ = NameZ(name);
        int fd;
        fixed (byte* p = nameZ) fd = PosixDirectory.OpenFileAt(Fd, p, noFollow: true);
        if (fd == -Libc.ENOENT) throw new FileNotFoundException($"{System.IO.Path.Join(Path, name)}: missing", System.IO.Path.Join(Path, name));
        if (fd == -Libc.ELOOP) throw new InvalidDataException($"{System.IO.Path.Join(Path, name)}: a symlink, not a regular file (refused)");
        if (fd < 0) throw Error(-fd, name, "cannot open");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        StatxBuffer stat;
        int errno = PosixDirectory.StatFd(fd, &stat);
        if (errno != 0 || (stat.Mode & 0xF000) != 0x8000)
        {
            handle.Dispose();
            if (errno != 0) throw Error(errno, name, "cannot stat");
            throw new InvalidDataException($"{System.IO.Path.Join(Path, name)}: not a regular file (refused)");
        }
        return handle;
    }

    /// <summary>Reads the whole regular file <paramref name="name"/>, refusing one larger than <paramref name="maxLength"/>.</summary>
    public byte[] ReadAll(string name, long maxLength)
    {
        using var handle = OpenRead(name);
        long length = RandomAccess.GetLength(handle);
        if (length > maxLength) throw new InvalidDataException($"{System.IO.Path.Join(Path, name)}: {length} bytes, more than the {maxLength} such a file can have");
        var data = new byte[length];
        ReadExactly(handle, data, 0, System.IO.Path.Join(Path, name));
        return data;
    }

    /// <summary>Fills <paramref name="into"/> from <paramref name="offset"/> of a file another process may be shrinking: a short read is an <see cref="InvalidDataException"/> naming <paramref name="what"/>.</summary>
    public static void ReadExactly(SafeFileHandle file, Span<byte> into, long offset, string what)
    {
        for (int done = 0; done < into.Length;)
        {
            int n = RandomAccess.Read(file, into[done..], offset + done);
            if (n <= 0) throw new InvalidDataException($"{what}: shrank while being read");
            done += n;
        }
    }

    /// <summary>Creates the new file <paramref name="name"/> (fails if anything, a symlink included, has that name).</summary>
    public FileStream CreateNew(string name)
    {
        int fd = OpenFd(name, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, "cannot create");
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.ReadWrite, 1 << 20);
    }

    /// <summary>
    /// Opens (creating if missing) <paramref name="name"/> and takes an exclusive flock on it without waiting:
    /// the lock is held until disposed; null when another open file description holds it.
    /// </summary>
    public FileLock? TryLock(string name)
    {
        int fd = OpenFd(name, Libc.O_RDWR | Libc.O_CREAT | Libc.O_NOFOLLOW | Libc.O_CLOEXEC | Libc.O_NONBLOCK, "cannot open the lock file");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        StatxBuffer stat;
        if (PosixDirectory.StatFd(fd, &stat) != 0 || (stat.Mode & 0xF000) != 0x8000)
        {
            handle.Dispose();
            throw new InvalidDataException($"{System.IO.Path.Join(Path, name)}: not a regular file (refused)");
        }
        if (Libc.Flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) == 0) return new FileLock(handle);
        int errno = Libc.LastError();
        handle.Dispose();
        if (errno == Libc.EWOULDBLOCK) return null;
        throw Error(errno, name, "cannot lock");
    }

    /// <summary>
    /// An exclusive flock, released explicitly before its file is closed: a child process forked meanwhile
    /// (by any thread, until it execs) holds a copy of the descriptor, and closing ours alone would leave the
    /// lock held until that copy goes, so a store closed and reopened at once would find itself "in use".
    /// </summary>
    public sealed class FileLock(SafeFileHandle handle) : IDisposable
    {
        public void Dispose()
        {
            if (handle.IsClosed) return;
            Libc.Flock((int)handle.DangerousGetHandle(), Libc.LOCK_UN);
            handle.Dispose();
        }
    }

    private int OpenFd(string name, int flags, string what)
    {
        byte[] nameZ = NameZ(name);
        int fd;
        fixed (byte* p = nameZ)
        {
            do fd = Libc.OpenAt(Fd, p, flags, 0x1a4);
            while (fd < 0 && Libc.LastError() == Libc.EINTR);
        }
        if (fd < 0)
        {
            int errno = Libc.LastError();
            if (errno == Libc.ELOOP) throw new InvalidDataException($"{System.IO.Path.Join(Path, name)}: {what}: a symlink where a file belongs (refused)");
            throw Error(errno, name, what);
        }
        return fd;
    }

    /// <summary>What is at <paramref name="name"/> (without following a symlink): the st_mode file type bits, or 0 if nothing.</summary>
    public int Kind(string name) => KindOf(NameZ(name));

    private int KindOf(byte[] nameZ)
    {
        StatxBuffer stat;
        int errno;
        fixed (byte* p = nameZ) errno = PosixDirectory.StatAt(Fd, p, follow: false, &stat);
        if (errno == Libc.ENOENT) return 0;
        if (errno != 0) throw Error(errno, Encoding.UTF8.GetString(nameZ.AsSpan(0, nameZ.Length - 1)), "cannot stat");
        return stat.Mode & 0xF000;
    }

    /// <summary>The st_mode file type bits of a regular file and of a directory, as <see cref="Kind"/> returns them.</summary>
    public const int RegularFile = 0x8000, DirectoryKind = 0x4000;

    /// <summary>Renames <paramref name="from"/> to <paramref name="to"/> within this directory (replacing <paramref name="to"/>).</summary>
    public void Rename(string from, string to)
    {
        byte[] fromZ = NameZ(from), toZ = NameZ(to);
        fixed (byte* f = fromZ, t = toZ)
            if (Libc.RenameAt(Fd, f, Fd, t) != 0) throw Error(Libc.LastError(), from, $"cannot rename to {to}");
    }

    /// <summary>Removes the entry <paramref name="name"/> (a symlink itself, never its target); true if it existed.</summary>
    public bool Delete(string name) => Unlink(NameZ(name), 0);

    private bool Unlink(byte[] nameZ, int flags)
    {
        fixed (byte* p = nameZ)
        {
            if (Libc.UnlinkAt(Fd, p, flags) == 0) return true;
            int errno = Libc.LastError();
            if (errno == Libc.ENOENT) return false;
            throw Error(errno, Encoding.UTF8.GetString(nameZ.AsSpan(0, nameZ.Length - 1)), "cannot remove");
        }
    }

    /// <summary>Removes <paramref name="name"/>: a directory with everything in it, never following a symlink out
    /// of it; anything else (a symlink included) as the entry itself.</summary>
    public void DeleteTree(string name)
    {
        int kind = Kind(name);
        if (kind != DirectoryKind)
        {
            if (kind != 0) Delete(name);
            return;
        }
        using (var child = OpenDirectory(name, create: false))
        {
            if (child is null) return;
            foreach (var entry in child.Entries())
            {
                if (entry.IsDirectory) child.DeleteTree(entry.Name);
                else child.Unlink(entry.NameZ, 0);
            }
        }
        Unlink(NameZ(name), Libc.AT_REMOVEDIR);
    }

    /// <summary>Hard-links this directory's <paramref name="name"/> as <paramref name="target"/>'s <paramref name="targetName"/>.</summary>
    public void Link(string name, DirectoryHandle target, string targetName)
    {
        byte[] fromZ = NameZ(name), toZ = target.NameZ(targetName);
        fixed (byte* f = fromZ, t = toZ)
            if (Libc.LinkAt(Fd, f, target.Fd, t, 0) != 0)
                throw Error(Libc.LastError(), name, $"cannot hard-link it as {System.IO.Path.Join(target.Path, targetName)}");
    }

    /// <summary>Makes renames and creations in this directory durable.</summary>
    public void Fsync()
    {
        if (Libc.Fsync(Fd) != 0) throw Error(Libc.LastError(), ".", "cannot fsync the directory");
    }

    /// <summary>An entry of the directory: its name decoded from UTF-8 (a name that is not valid UTF-8 comes
    /// back with U+FFFD and so never equals a name the caller builds), its raw bytes with a NUL, and whether it
    /// is a real directory (not a symlink to one).</summary>
    public readonly record struct Entry(string Name, byte[] NameZ, bool IsDirectory);

    /// <summary>The directory's entries, not "." and "..".</summary>
    public List<Entry> Entries()
    {
        int fd;
        fixed (byte* dot = ".\0"u8) fd = Libc.OpenAt(Fd, dot, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw Error(Libc.LastError(), ".", "cannot list the directory");
        var entries = new List<Entry>();
        try
        {
            byte[] buffer = new byte[32 * 1024];
            fixed (byte* start = buffer)
            {
                while (true)
                {
                    nint read = Libc.GetDents64(fd, start, (nuint)buffer.Length);
                    if (read < 0)
                    {
                        if (Libc.LastError() == Libc.EINTR) continue;
                        throw Error(Libc.LastError(), ".", "cannot list the directory");
                    }
                    if (read == 0) break;
                    for (nint at = 0; at < read;)
                    {
                        ushort length = *(ushort*)(start + at + 16);
                        byte type = start[at + 18];
                        var nameBytes = new ReadOnlySpan<byte>(start + at + 19, length - 19);
                        nameBytes = nameBytes[..nameBytes.IndexOf((byte)0)];
                        at += length;
                        if (nameBytes.SequenceEqual("."u8) || nameBytes.SequenceEqual(".."u8)) continue;
                        byte[] nameZ = new byte[nameBytes.Length + 1];
                        nameBytes.CopyTo(nameZ);
                        bool isDirectory = type == 4 || (type == 0 && KindOf(nameZ) == DirectoryKind);
                        entries.Add(new Entry(Encoding.UTF8.GetString(nameBytes), nameZ, isDirectory));
                    }
                }
            }
        }
        finally { Libc.Close(fd); }
        return entries;
    }

    public void Dispose()
    {
        if (_fd >= 0) Libc.Close(_fd);
        _fd = -1;
    }
}
