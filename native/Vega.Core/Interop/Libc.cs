using System.Runtime.InteropServices;

namespace Vega.Core.Interop;

/// <summary>
/// The few libc calls the engine needs. Directory reading goes through libc on raw bytes because
/// .NET's own enumeration decodes file names lossily (a non-UTF-8 name would name a different file).
/// </summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_BASIC_STATS = 0x7ff;

    public const int EINTR = 4;
    public const int ENAMETOOLONG = 36;
    public const int ELOOP = 40;
    public const int EMFILE = 24;
    public const int ENFILE = 23;
    public const int ENOENT = 2;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int EAGAIN = 11;

    public const int PATH_MAX = 4096;

    // Flag values differ between architectures (x86-64 and arm64 are the ones .NET's linux RIDs cover).
    private static readonly bool IsArm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    public static readonly int O_DIRECTORY = IsArm64 ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = IsArm64 ? 0x8000 : 0x20000;
    public const int O_RDONLY = 0;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;
    public const int O_NONBLOCK = 0x800;

    [LibraryImport(Lib, EntryPoint = "openat", SetLastError = true)]
    public static partial int OpenAt(int dirFd, byte* path, int flags, int mode);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "realpath", SetLastError = true)]
    public static partial byte* RealPath(byte* path, byte* resolved);

    [LibraryImport(Lib, EntryPoint = "free")]
    public static partial void Free(void* pointer);

    [LibraryImport(Lib, EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport(Lib, EntryPoint = "link", SetLastError = true)]
    public static partial int Link(byte* existing, byte* link);

    [LibraryImport(Lib, EntryPoint = "close")]
    public static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "getdents64", SetLastError = true)]
    public static partial nint GetDents64(int fd, byte* buffer, nuint count);

    [LibraryImport(Lib, EntryPoint = "statx", SetLastError = true)]
    public static partial int Statx(int dirFd, byte* path, int flags, uint mask, StatxBuffer* buffer);

    [LibraryImport(Lib, EntryPoint = "strerror_r")]
    private static partial byte* StrErrorR(int errnum, byte* buffer, nuint length);

    /// <summary>The C library's message for an errno value (GNU strerror_r).</summary>
    public static string ErrorMessage(int errno)
    {
        byte* buffer = stackalloc byte[256];
        byte* message = StrErrorR(errno, buffer, 256);
        return message == null ? $"errno {errno}" : Marshal.PtrToStringUTF8((nint)message) ?? $"errno {errno}";
    }
}

/// <summary>Linux <c>struct statx</c>: one layout on every architecture, unlike <c>struct stat</c>.</summary>
[StructLayout(LayoutKind.Explicit, Size = 256)]
internal struct StatxBuffer
{
    [FieldOffset(0)] public uint Mask;
    [FieldOffset(16)] public uint NLink;
    [FieldOffset(28)] public ushort Mode;
    [FieldOffset(32)] public ulong Ino;
    [FieldOffset(40)] public ulong Size;
    [FieldOffset(48)] public ulong Blocks;
    [FieldOffset(112)] public long MtimeSec;
    [FieldOffset(120)] public uint MtimeNsec;
    [FieldOffset(136)] public uint DevMajor;
    [FieldOffset(140)] public uint DevMinor;

    public readonly long MtimeNs => MtimeSec * 1_000_000_000L + MtimeNsec;

    /// <summary>glibc's makedev(), so the value equals Python's <c>os.stat().st_dev</c>.</summary>
    public readonly long Dev =>
        (long)((((ulong)DevMajor & 0xfffff000UL) << 32) | (((ulong)DevMajor & 0xfffUL) << 8)
             | (((ulong)DevMinor & 0xffffff00UL) << 12) | ((ulong)DevMinor & 0xffUL));
}
