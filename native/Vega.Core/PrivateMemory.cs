using Vega.Core.Interop;

namespace Vega.Core;

/// <summary>
/// Anonymous private memory (mmap), for a file's contents read once and then used in place. Unlike a
/// mapping of the file itself, nothing another process does to the file afterwards (truncating it,
/// rewriting it) can change what was verified or make a later access fault with SIGBUS. Blocks of 4 MiB
/// and more ask for transparent huge pages, which spares a scan over them most TLB misses.
/// </summary>
internal sealed unsafe class PrivateMemory : IDisposable
{
    private const long HugePageThreshold = 4L << 20;

    public byte* Pointer { get; private set; }
    public long Length { get; }

    public PrivateMemory(long length)
    {
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length));
        void* block = Libc.Mmap(null, (nuint)length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if (block == (void*)-1) throw new OutOfMemoryException($"cannot reserve {length} bytes of memory: {Libc.ErrorMessage(Libc.LastError())}");
        if (length >= HugePageThreshold) Libc.Madvise(block, (nuint)length, Libc.MADV_HUGEPAGE); // advice only: failure is harmless
        Pointer = (byte*)block;
        Length = length;
    }

    public void Dispose()
    {
        if (Pointer == null) return;
        Libc.Munmap(Pointer, (nuint)Length);
        Pointer = null;
    }
}
