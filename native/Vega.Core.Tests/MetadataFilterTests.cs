using System.Text;
using Vega.Core.Vectors;

namespace Vega.Core.Tests;

public sealed class MetadataFilterTests : IDisposable
{
    private readonly TempTree _tree = new();
    private readonly Segment _segment;

    // Row metadata: 0 red/3/true, 1 blue/7.5/false, 2 none, 3 {} , 4 red/"3"/null-flag, 5 list tags, 6 green/10
    private static readonly string[] Rows =
    [
        """{"color":"red","size":3,"flag":true}""",
        """{"color":"blue","size":7.5,"flag":false,"nested":{"color":"red"}}""",
        "",
        "{}",
        """{"color":"red","size":"3","flag":null}""",
        """{"tags":["red"],"size":-1}""",
        """{"size":10,"color":"green","name":"zed"}""",
    ];

    public MetadataFilterTests()
    {
        string path = Path.Combine(_tree.Root, "seg.vec");
        var vectors = new float[Rows.Length * 2];
        StoreFiles.WriteSegment(path, 2, VectorMetric.L2, vectors, Rows.Select((_, i) => Encoding.UTF8.GetBytes($"r{i}")).ToList(),
                      Rows.Select(Encoding.UTF8.GetBytes).ToList(), Rows.Select(_ => Array.Empty<byte>()).ToList());
        _segment = StoreFiles.OpenSegment(path, 2, VectorMetric.L2);
    }

    public void Dispose()
    {
        _segment.Dispose();
        _tree.Dispose();
    }

    private int[] Admitted(string filter)
    {
        var mask = Enumerable.Repeat((byte)1, Rows.Length).ToArray();
        MetadataFilter.Parse(Encoding.UTF8.GetBytes(filter)).Apply(_segment, mask);
        return Enumerable.Range(0, Rows.Length).Where(i => mask[i] == 1).ToArray();
    }

    [Theory]
    [InlineData("""{"color":"red"}""", new[] { 0, 4 })]
    [InlineData("""{"color":{"$eq":"red"}}""", new[] { 0, 4 })]
    [InlineData("""{"color":{"$ne":"red"}}""", new[] { 1, 2, 3, 5, 6 })]
    [InlineData("""{"size":3}""", new[] { 0 })]
    [InlineData("""{"size":"3"}""", new[] { 4 })]
    [InlineData("""{"size":{"$gte":3,"$lt":10}}""", new[] { 0, 1 })]
    [InlineData("""{"size":{"$gt":-5}}""", new[] { 0, 1, 5, 6 })]
    [InlineData("""{"size":{"$lte":"3"}}""", new[] { 4 })]
    [InlineData("""{"color":{"$in":["blue","green"]}}""", new[] { 1, 6 })]
    [InlineData("""{"color":{"$nin":["red"]}}""", new[] { 1, 2, 3, 5, 6 })]
    [InlineData("""{"flag":true}""", new[] { 0 })]
    [InlineData("""{"flag":false}""", new[] { 1 })]
    [InlineData("""{"flag":null}""", new[] { 4 })]
    [InlineData("""{"tags":"red"}""", new int[0])]
    [InlineData("""{"color":"red","size":3}""", new[] { 0 })]
    [InlineData("""{"$or":[{"color":"blue"},{"size":10}]}""", new[] { 1, 6 })]
    [InlineData("""{"$and":[{"color":"red"},{"$or":[{"flag":true},{"flag":null}]}]}""", new[] { 0, 4 })]
    [InlineData("""{"name":{"$gt":"m"}}""", new[] { 6 })]
    public void FiltersAdmitTheRowsTheRulesSay(string filter, int[] expected) => Assert.Equal(expected, Admitted(filter));

    [Fact]
    public void NestedKeysAreNotReadForATopLevelKey()
    {
        // Row 1 has "color":"red" only inside "nested": the top-level test must not see it.
        Assert.DoesNotContain(1, Admitted("""{"color":"red"}"""));
    }

    [Fact]
    public void ApplyKeepsRowsAlreadyRefused()
    {
        var mask = new byte[Rows.Length];
        mask[0] = 1;
        MetadataFilter.Parse("""{"color":"red"}"""u8).Apply(_segment, mask);
        Assert.Equal([1, 0, 0, 0, 0, 0, 0], mask);
    }

    [Theory]
    [InlineData("[1]", "JSON object")]
    [InlineData("{", "not valid JSON")]
    [InlineData("{}", "empty")]
    [InlineData("""{"a":{"$regex":"x"}}""", "filter.a.$regex: unknown operator")]
    [InlineData("""{"$or":[]}""", "non-empty list")]
    [InlineData("""{"$xor":[{}]}""", "unknown operator")]
    [InlineData("""{"a":[1]}""", "strings, numbers, booleans or null")]
    [InlineData("""{"a":{"$in":3}}""", "must be a list")]
    [InlineData("""{"a":{"$gt":null}}""", "number or a string")]
    [InlineData("""{"$and":[{"a":1},5]}""", "filter.$and[1] must be a JSON object")]
    public void BadFiltersNameTheProblem(string filter, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => MetadataFilter.Parse(Encoding.UTF8.GetBytes(filter)));
        Assert.Contains(message, error.Message);
    }
}
