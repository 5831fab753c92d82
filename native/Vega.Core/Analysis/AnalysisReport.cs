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

/// <summary>The result of an analysis walk: every table of <see cref="ReportTableKind"/>, in order.</summary>
public sealed record AnalysisReport(IReadOnlyList<ResultTable> Tables)
{
    public ResultTable this[ReportTableKind kind] => Tables[(int)kind];
}
