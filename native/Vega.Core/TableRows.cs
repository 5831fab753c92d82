namespace Vega.Core;

/// <summary>Accumulates the rows of one <see cref="ResultTable"/>: fixed int64 columns and byte-string columns.</summary>
public sealed class TableRows(int kind, int columns, int textColumns)
{
    private readonly List<long> _values = new();
    private readonly List<byte[]> _texts = new();

    public int Count { get; private set; }

    public void Add(ReadOnlySpan<long> values)
    {
        if (values.Length != columns || textColumns != 0) throw new ArgumentException("row shape does not match the table");
        foreach (long v in values) _values.Add(v);
        Count++;
    }

    public void Add(ReadOnlySpan<long> values, byte[] text)
    {
        if (values.Length != columns || textColumns != 1) throw new ArgumentException("row shape does not match the table");
        foreach (long v in values) _values.Add(v);
        _texts.Add(text);
        Count++;
    }

    public void Add(ReadOnlySpan<long> values, byte[] text0, byte[] text1)
    {
        if (values.Length != columns || textColumns != 2) throw new ArgumentException("row shape does not match the table");
        foreach (long v in values) _values.Add(v);
        _texts.Add(text0);
        _texts.Add(text1);
        Count++;
    }

    /// <summary>The rows so far as a table; the builder starts empty again.</summary>
    public ResultTable Take()
    {
        var table = new ResultTable(kind, columns, _values.ToArray(), textColumns > 0 ? _texts.ToArray() : null, textColumns);
        _values.Clear();
        _texts.Clear();
        Count = 0;
        return table;
    }
}
