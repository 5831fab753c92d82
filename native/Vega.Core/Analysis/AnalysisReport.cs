namespace Vega.Core.Analysis;

/// <summary>The tables of a report, in this order (vega.h VEGA_TABLE_*, where each table's columns are listed).</summary>
public enum ReportTableKind
{
    Totals,
    Extensions,
    Largest,
    Smallest,
    Newest,
    Oldest,
    EmptyFolders,
    Depths,
    FoldersByFiles,
    FoldersBySize,
    FolderNames,
    Errors,
}

/// <summary>
/// One table: <see cref="Columns"/> int64 values per row, and per row a text (a path or a name, raw
/// bytes) unless the table has none (<see cref="Texts"/> is null).
/// </summary>
public sealed record ReportTable(ReportTableKind Kind, int Columns, long[] Values, IReadOnlyList<byte[]>? Texts)
{
    public int Rows => Values.Length / Columns;
}

/// <summary>The result of an analysis walk: every table of <see cref="ReportTableKind"/>, in order.</summary>
public sealed record AnalysisReport(IReadOnlyList<ReportTable> Tables)
{
    public ReportTable this[ReportTableKind kind] => Tables[(int)kind];
}
