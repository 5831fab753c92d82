namespace Vega.Core;

/// <summary>An operating-system error with its errno and the path it concerns (raw bytes).</summary>
public sealed class PosixException : IOException
{
    public PosixException(int errno, byte[]? path, string? message = null)
        : base(message ?? Interop.Libc.ErrorMessage(errno))
    {
        Errno = errno;
        PathBytes = path;
    }

    public int Errno { get; }

    /// <summary>The path as the file system names it: bytes, not text.</summary>
    public byte[]? PathBytes { get; }
}
