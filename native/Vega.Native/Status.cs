using Vega.Core;

namespace Vega.Native;

/// <summary>Status codes of native/include/vega.h, and the one place exceptions become them.</summary>
internal static class Status
{
    public const int Ok = 0;
    public const int InvalidArgument = 1;
    public const int NotFound = 2;
    public const int PermissionDenied = 3;
    public const int NotADirectory = 4;
    public const int OsError = 5;
    public const int Cancelled = 6;
    public const int Internal = 7;

    private const int ENOENT = 2, EACCES = 13, EPERM = 1, ENOTDIR = 20, EINVAL = 22;

    /// <summary>Records the exception as this thread's last error and returns its status code.</summary>
    public static int From(Exception exception)
    {
        switch (exception)
        {
            case PosixException posix:
                LastError.Set(posix.Errno, posix.Message, posix.PathBytes);
                return posix.Errno switch
                {
                    ENOENT => NotFound,
                    EACCES or EPERM => PermissionDenied,
                    ENOTDIR => NotADirectory,
                    _ => OsError,
                };
            case ArgumentException:
                LastError.Set(EINVAL, exception.Message, null);
                return InvalidArgument;
            case OperationCanceledException:
                LastError.Set(0, "the operation was cancelled", null);
                return Cancelled;
            default:
                LastError.Set(0, $"internal error: {exception.GetType().Name}: {exception.Message}", null);
                return Internal;
        }
    }

    /// <summary>INVALID_ARGUMENT whose error errno field carries a detail code (vega.h says which, per call).</summary>
    public static int InvalidWithErrno(string message, int errno)
    {
        LastError.Set(errno, message, null);
        return InvalidArgument;
    }

    public static int Invalid(string message)
    {
        LastError.Set(EINVAL, message, null);
        return InvalidArgument;
    }
}

/// <summary>
/// The calling thread's last error. The buffers are pinned managed arrays owned by the thread: they stay
/// valid until the next failing call on the same thread and are collected with it (no native leak per thread).
/// </summary>
internal static class LastError
{
    [ThreadStatic] private static byte[]? t_message;
    [ThreadStatic] private static byte[]? t_path;
    [ThreadStatic] private static int t_errno;

    public static void Set(int errno, string message, byte[]? path)
    {
        t_errno = errno;
        t_message = Pinned(System.Text.Encoding.UTF8.GetBytes(message));
        t_path = path is null ? null : Pinned(path);
    }

    private static byte[] Pinned(ReadOnlySpan<byte> bytes)
    {
        byte[] copy = GC.AllocateUninitializedArray<byte>(bytes.Length + 1, pinned: true);
        bytes.CopyTo(copy);
        copy[^1] = 0;
        return copy;
    }

    public static unsafe void Get(int* errno, byte** message, nuint* messageLength, byte** path, nuint* pathLength)
    {
        *errno = t_errno;
        *message = t_message is null ? null : (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref t_message[0]);
        *messageLength = t_message is null ? 0 : (nuint)(t_message.Length - 1);
        *path = t_path is null ? null : (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref t_path[0]);
        *pathLength = t_path is null ? 0 : (nuint)(t_path.Length - 1);
    }
}
