using System.Runtime.InteropServices;
using System.Text;

namespace Vega.Core.Tests;

/// <summary>A scratch directory tree, removed on dispose. Names are raw bytes where tests need them to be.</summary>
internal sealed unsafe partial class TempTree : IDisposable
{
    public TempTree()
    {
        Root = Path.Combine(Path.GetTempPath(), "vega-core-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }
    public byte[] RootBytes => Encoding.UTF8.GetBytes(Root);

    public string Dir(string relative) => Directory.CreateDirectory(Path.Combine(Root, relative)).FullName;

    public string File(string relative, string content = "")
    {
        string path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    public void Link(string relative, string target) =>
        System.IO.File.CreateSymbolicLink(Path.Combine(Root, relative), target);

    /// <summary>Creates a file whose name is arbitrary bytes (for names that are not valid UTF-8).</summary>
    public void RawFile(string dirRelative, byte[] name)
    {
        byte[] path = [.. Encoding.UTF8.GetBytes(Path.Combine(Root, dirRelative) + "/"), .. name, 0];
        fixed (byte* p = path)
        {
            int fd = open(p, 0x41 /* O_WRONLY|O_CREAT */, 0x1a4);
            Assert.True(fd >= 0, "could not create the raw-named file");
            close(fd);
        }
    }

    /// <summary>Creates a chain of <paramref name="depth"/> directories below dirRelative, with mkdirat so the
    /// whole path may exceed PATH_MAX, and a file <paramref name="fileName"/> (if any) in each of them, the
    /// chain's top included. Returns the byte length of the deepest path.</summary>
    public int DeepChain(string dirRelative, string segment, int depth, string? fileName = null)
    {
        byte[]? file = fileName is null ? null : [.. Encoding.UTF8.GetBytes(fileName), 0];
        byte[] start = [.. Encoding.UTF8.GetBytes(Path.Combine(Root, dirRelative)), 0];
        byte[] name = [.. Encoding.UTF8.GetBytes(segment), 0];
        int fd;
        fixed (byte* p = start) fd = open(p, 0x10000 /* O_DIRECTORY */, 0);
        int length = start.Length - 1;
        for (int i = 0; i < depth; i++)
        {
            if (file is not null) CreateFileAt(fd, file);
            fixed (byte* n = name)
            {
                Assert.Equal(0, mkdirat(fd, n, 0x1ed));
                int next = openat(fd, n, 0x10000, 0);
                close(fd);
                fd = next;
            }
            length += 1 + segment.Length;
        }
        if (file is not null) CreateFileAt(fd, file);
        close(fd);
        return length;
    }

    private static void CreateFileAt(int dirFd, byte[] nameZ)
    {
        fixed (byte* n = nameZ)
        {
            int fd = openat(dirFd, n, 0x41 /* O_WRONLY|O_CREAT */, 0x1a4);
            Assert.True(fd >= 0, "could not create a file in the chain");
            close(fd);
        }
    }

    public void Dispose()
    {
        // Deep chains exceed PATH_MAX: remove with the shell's rm, which works relative to each directory.
        using var rm = System.Diagnostics.Process.Start("rm", ["-rf", Root]);
        rm.WaitForExit();
    }

    [LibraryImport("libc")] private static partial int open(byte* path, int flags, int mode);
    [LibraryImport("libc")] private static partial int openat(int dirfd, byte* path, int flags, int mode);
    [LibraryImport("libc")] private static partial int mkdirat(int dirfd, byte* path, int mode);
    [LibraryImport("libc")] private static partial int close(int fd);
}
