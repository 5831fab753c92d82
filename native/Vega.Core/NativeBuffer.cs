using System.Runtime.InteropServices;

namespace Vega.Core;

/// <summary>
/// An append-only buffer in native memory, so a finished batch can be handed across the C boundary as
/// is, without a copy. Whoever calls <see cref="Detach"/> owns the memory and frees it with NativeMemory.Free.
/// </summary>
internal unsafe struct NativeBuffer<T> where T : unmanaged
{
    private T* _items;
    private int _count;
    private int _capacity;

    public NativeBuffer(int capacity)
    {
        _items = capacity > 0 ? (T*)NativeMemory.Alloc((nuint)capacity, (nuint)sizeof(T)) : null;
        _capacity = capacity;
        _count = 0;
    }

    public readonly int Count => _count;
    public readonly ReadOnlySpan<T> Span => new(_items, _count);

    public void Add(T item)
    {
        if (_count == _capacity) Grow(1);
        _items[_count++] = item;
    }

    public void AddRange(ReadOnlySpan<T> items)
    {
        if (_capacity - _count < items.Length) Grow(items.Length);
        items.CopyTo(new Span<T>(_items + _count, items.Length));
        _count += items.Length;
    }

    /// <summary>Gives up the memory: the caller now owns the returned pointer (null if nothing was added).</summary>
    public T* Detach()
    {
        T* items = _items;
        _items = null;
        _count = _capacity = 0;
        return items;
    }

    public void Free() => NativeMemory.Free(Detach());

    private void Grow(int extra)
    {
        long needed = (long)_count + extra;
        if (needed > int.MaxValue / sizeof(T)) throw new OutOfMemoryException("a single batch larger than 2 GiB");
        int size = (int)Math.Min(int.MaxValue / sizeof(T), Math.Max(needed, Math.Max(16L, (long)_capacity * 2)));
        _items = (T*)NativeMemory.Realloc(_items, (nuint)size * (nuint)sizeof(T));
        _capacity = size;
    }
}
