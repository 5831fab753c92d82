namespace Vega.Core;

/// <summary>
/// One table of results as it crosses the boundary (vega.h <c>vega_table</c>): <see cref="Columns"/>
/// int64 values per row and <see cref="TextColumns"/> byte strings per row (a path, a digest, a line),
/// row-major in <see cref="Texts"/>, or none (<see cref="Texts"/> null). <see cref="Kind"/> is a
/// VEGA_TABLE_* code, which says what the columns mean.
/// </summary>
public sealed record ResultTable(int Kind, int Columns, long[] Values, IReadOnlyList<byte[]>? Texts, int TextColumns = 1)
{
    public int Rows => Columns > 0 ? Values.Length / Columns : Texts is null ? 0 : Texts.Count / TextColumns;
}
