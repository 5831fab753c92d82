using Vega.Core.Patterns;

namespace Vega.Core.Walk;

public enum WalkOutput
{
    /// <summary>Per directory: its path, then the names of its entries (directories first). For os.walk.</summary>
    Names,
    /// <summary>Per directory: its path, then the full paths of its entries. For columnar listings.</summary>
    Paths,
    /// <summary>No listing: only totals (and per-directory errors). For du-like counting.</summary>
    Count,
    /// <summary>
    /// No listing: a directory report (<see cref="TreeWalk.Report"/>). <see cref="WalkOptions.Include"/>
    /// selects files only: every directory that is not excluded is part of the report.
    /// </summary>
    Analyze,
}

/// <summary>How a <see cref="TreeWalk"/> reads a tree.</summary>
public readonly record struct WalkOptions
{
    public WalkOutput Output { get; init; }

    /// <summary>Descend into symbolic links that point to directories (loops are detected and reported).</summary>
    public bool FollowLinks { get; init; }

    /// <summary>lstat every entry and report size, mtime, mode, inode, device and link count.</summary>
    public bool Stat { get; init; }

    /// <summary>Count symbolic links to directories among a directory's subdirectories, as os.walk does.</summary>
    public bool ClassifyLinks { get; init; }

    /// <summary>Deepest entry depth listed (entries directly in the root are depth 1); 0 means unlimited.</summary>
    public int MaxDepth { get; init; }

    /// <summary>Worker threads; 0 means one per processor.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// Only entries whose path relative to the root matches are listed (or counted). Directories that do not
    /// match are still descended; with <see cref="WalkOutput.Names"/> they are also still listed, so that
    /// the walk's shape stays that of os.walk.
    /// </summary>
    public GlobSet? Include { get; init; }

    /// <summary>Entries whose path relative to the root matches are left out; a matching directory is not descended.</summary>
    public GlobSet? Exclude { get; init; }

    /// <summary>Leave out what .gitignore, .ignore and .git/info/exclude ignore (see <see cref="IgnoreFiles"/>), and .git itself.</summary>
    public bool Gitignore { get; init; }

    /// <summary>Rows of each ranked table of an <see cref="WalkOutput.Analyze"/> walk (largest files, top folders, ...).</summary>
    public int TopN { get; init; }

    /// <summary>Entries per output batch before it is handed over (a single large directory may exceed it).</summary>
    public int BatchEntries { get; init; }
}
