using Vega.Core.Files;
using Vega.Core.Vectors;

namespace Vega.Core.Tests;

/// <summary>Path-based calls to the store file formats, which the engine itself reads and writes only relative to an open store directory.</summary>
internal static class StoreFiles
{
    private static T InDirectory<T>(string path, Func<DirectoryHandle, string, T> action)
    {
        using var directory = DirectoryHandle.Open(Path.GetDirectoryName(path)!, create: false);
        return action(directory, Path.GetFileName(path));
    }

    public static void WriteSegment(string path, int dim, VectorMetric metric, float[] vectors,
                                    IReadOnlyList<byte[]> ids, IReadOnlyList<byte[]> metadata, IReadOnlyList<byte[]> documents) =>
        InDirectory(path, (directory, name) =>
        {
            Segment.Write(directory, name, dim, metric, vectors, ids, metadata, documents);
            return 0;
        });

    public static Segment OpenSegment(string path, int dim, VectorMetric metric) =>
        InDirectory(path, (directory, name) => Segment.Open(directory, name, dim, metric));

    public static void SaveGraph(HnswGraph graph, string path) =>
        InDirectory(path, (directory, name) =>
        {
            graph.Save(directory, name);
            return 0;
        });

    public static HnswGraph LoadGraph(string path, int dim, VectorMetric metric, int ef, nint[] vectors) =>
        InDirectory(path, (directory, name) => HnswGraph.Load(directory, name, dim, metric, ef, vectors));
}
