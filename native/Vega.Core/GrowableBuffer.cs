using System.Runtime.CompilerServices;

namespace Vega.Core;

/// <summary>An append-only buffer of unmanaged values that is reused across directories without reallocating.</summary>
internal struct GrowableBuffer<T> where T : unmanaged
{
    private T[] _items;
    private int _count;

    public GrowableBuffer(int capacity) { _items = new T[Math.Max(capacity, 16)]; _count = 0; }

    public readonly int Count => _count;
    public readonly Span<T> Span => _items.AsSpan(0, _count);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(T item)
    {
        if (_count == _items.Length) Grow(1);
        _items[_count++] = item;
    }

    public void AddRange(ReadOnlySpan<T> items)
    {
        if (_items.Length - _count < items.Length) Grow(items.Length);
        items.CopyTo(_items.AsSpan(_count));
        _count += items.Length;
    }

    public void Clear() => _count = 0;

    private void Grow(int extra)
    {
        long needed = (long)_count + extra;
        if (needed > Array.MaxLength) throw new OutOfMemoryException("a single listing larger than 2 GiB");
        int size = (int)Math.Min(Array.MaxLength, Math.Max(needed, (long)_items.Length * 2));
        Array.Resize(ref _items, size);
    }
}
