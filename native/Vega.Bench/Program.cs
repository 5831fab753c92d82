using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.FileSystemGlobbing;
using Vega.Core.Patterns;

// GlobSet against Microsoft.Extensions.FileSystemGlobbing on 1M in-memory relative paths, one thread.
// FileSystemGlobbing anchors globs at the root, so the slash-free glob G is "**/G" for it.
var random = new Random(1);
string[] extensions = ["py", "txt", "c", "h", "rs", "md", "json", "pyc", "so", "o"];
string[] directories = ["src", "lib", "tests", "docs", "build", "pkg", "core", "util"];
var paths = Enumerable.Range(0, 1_000_000)
    .Select(i => string.Join('/', Enumerable.Range(0, random.Next(1, 6)).Select(_ => directories[random.Next(directories.Length)]))
                 + $"/file{i}.{extensions[random.Next(extensions.Length)]}")
    .ToArray();
var bytes = paths.Select(Encoding.UTF8.GetBytes).ToArray();
var rooted = paths.Select(p => "/r/" + p).ToArray();

Console.WriteLine("| glob | vegafs GlobSet (ms) | FileSystemGlobbing (ms) | matches |");
Console.WriteLine("|---|---:|---:|---:|");
foreach (var (ours, theirs) in new[] { ("*.py", "**/*.py"), ("src/**/*.txt", "src/**/*.txt"), ("**/tests/*.py", "**/tests/*.py") })
{
    var set = GlobSet.Parse([ours]);
    var matcher = new Matcher(StringComparison.Ordinal);
    matcher.AddInclude(theirs);
    double oursMs = Median(() => bytes.Count(b => set.IsMatch(b)), out int oursCount);
    double theirsMs = Median(() => matcher.Match("/r", rooted).Files.Count(), out int theirsCount);
    if (oursCount != theirsCount) throw new InvalidOperationException($"{ours}: {oursCount} matches, FileSystemGlobbing {theirsCount}");
    Console.WriteLine($"| `{ours}` | {oursMs:F0} | {theirsMs:F0} | {oursCount:N0} |");
}

static double Median(Func<int> run, out int result)
{
    result = run(); // warm-up (JIT tiers)
    run();
    var times = new List<double>();
    for (int i = 0; i < 5; i++)
    {
        var watch = Stopwatch.StartNew();
        result = run();
        times.Add(watch.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    return times[2];
}
