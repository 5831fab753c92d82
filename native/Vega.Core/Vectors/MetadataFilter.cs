using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Vega.Core.Vectors;

/// <summary>
/// A predicate over rows' metadata, evaluated natively during a search (docs/vectors.md). The filter
/// is a JSON object in the MongoDB/Chroma style: <c>{"key": value}</c> (equality), <c>{"key": {"$in":
/// [..]}}</c>, <c>$nin</c>, <c>$ne</c>, <c>$gt</c>, <c>$gte</c>, <c>$lt</c>, <c>$lte</c>, and <c>$and</c>
/// / <c>$or</c> over lists of filters; several keys in one object must all hold. Values are strings,
/// numbers, booleans or null, compared only with values of the same kind; a row without the key fails
/// every test except <c>$ne</c> and <c>$nin</c>.
/// </summary>
public abstract class MetadataFilter
{
    /// <summary>Parses a filter; ArgumentException naming the problem for anything else.</summary>
    public static MetadataFilter Parse(ReadOnlySpan<byte> json)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json.ToArray()); }
        catch (JsonException e) { throw new ArgumentException($"the filter is not valid JSON: {e.Message}"); }
        using (document) return ParseObject(document.RootElement, "filter");
    }

    /// <summary>1 for each row of <paramref name="segment"/> the filter admits (rows already 0 in <paramref name="mask"/> stay 0).</summary>
    public void Apply(Segment segment, Span<byte> mask)
    {
        var result = Evaluate(segment);
        for (int i = 0; i < mask.Length; i++) mask[i] = (byte)(mask[i] & result[i]);
    }

    internal abstract byte[] Evaluate(Segment segment);

    private static MetadataFilter ParseObject(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object) throw new ArgumentException($"{where} must be a JSON object");
        var terms = new List<MetadataFilter>();
        foreach (var property in element.EnumerateObject())
        {
            string path = $"{where}.{property.Name}";
            if (property.Name is "$and" or "$or")
            {
                if (property.Value.ValueKind != JsonValueKind.Array || property.Value.GetArrayLength() == 0)
                    throw new ArgumentException($"{path} must be a non-empty list of filters");
                var parts = property.Value.EnumerateArray().Select((e, i) => ParseObject(e, $"{path}[{i}]")).ToList();
                terms.Add(property.Name == "$and" ? new All(parts) : new Any(parts));
            }
            else if (property.Name.StartsWith('$')) throw new ArgumentException($"{path}: unknown operator {property.Name}");
            else if (property.Value.ValueKind == JsonValueKind.Object) terms.AddRange(ParseTests(property.Name, property.Value, path));
            else terms.Add(new Compare(property.Name, "$eq", Value.From(property.Value, path)));
        }
        if (terms.Count == 0) throw new ArgumentException($"{where} is empty");
        return terms.Count == 1 ? terms[0] : new All(terms);
    }

    private static IEnumerable<MetadataFilter> ParseTests(string key, JsonElement tests, string where)
    {
        foreach (var test in tests.EnumerateObject())
        {
            string path = $"{where}.{test.Name}";
            switch (test.Name)
            {
                case "$in" or "$nin":
                    if (test.Value.ValueKind != JsonValueKind.Array) throw new ArgumentException($"{path} must be a list");
                    yield return new Member(key, test.Value.EnumerateArray().Select(v => Value.From(v, path)).ToList(), test.Name == "$nin");
                    break;
                case "$eq" or "$ne":
                    yield return new Compare(key, test.Name, Value.From(test.Value, path));
                    break;
                case "$gt" or "$gte" or "$lt" or "$lte":
                    var bound = Value.From(test.Value, path);
                    if (bound.Kind is not (JsonValueKind.Number or JsonValueKind.String))
                        throw new ArgumentException($"{path} needs a number or a string");
                    yield return new Compare(key, test.Name, bound);
                    break;
                default:
                    throw new ArgumentException($"{path}: unknown operator (use $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte)");
            }
        }
    }

    /// <summary>A scalar metadata value: the JSON kind (True/False both as True with <see cref="Flag"/>), and its number or text.</summary>
    internal readonly record struct Value(JsonValueKind Kind, double Number, string? Text, bool Flag)
    {
        public static readonly Value Missing = new(JsonValueKind.Undefined, 0, null, false);

        public static Value From(JsonElement element, string where) => element.ValueKind switch
        {
            JsonValueKind.String => new(JsonValueKind.String, 0, element.GetString(), false),
            JsonValueKind.Number => new(JsonValueKind.Number, element.GetDouble(), null, false),
            JsonValueKind.True => new(JsonValueKind.True, 0, null, true),
            JsonValueKind.False => new(JsonValueKind.True, 0, null, false),
            JsonValueKind.Null => new(JsonValueKind.Null, 0, null, false),
            _ => throw new ArgumentException($"{where}: filter values are strings, numbers, booleans or null"),
        };

        public bool SameAs(in Value other) => Kind == other.Kind && Kind switch
        {
            JsonValueKind.String => Text == other.Text,
            JsonValueKind.Number => Number == other.Number,
            JsonValueKind.True => Flag == other.Flag,
            _ => true,
        };

        /// <summary>-1/0/1, or null when the kinds cannot be ordered against each other.</summary>
        public int? Order(in Value other) => Kind != other.Kind ? null : Kind switch
        {
            JsonValueKind.Number => Number.CompareTo(other.Number),
            JsonValueKind.String => string.CompareOrdinal(Text, other.Text),
            _ => null,
        };
    }

    private sealed class All(List<MetadataFilter> parts) : MetadataFilter
    {
        internal override byte[] Evaluate(Segment segment)
        {
            var result = parts[0].Evaluate(segment);
            foreach (var part in parts.Skip(1))
            {
                var next = part.Evaluate(segment);
                for (int i = 0; i < result.Length; i++) result[i] &= next[i];
            }
            return result;
        }
    }

    private sealed class Any(List<MetadataFilter> parts) : MetadataFilter
    {
        internal override byte[] Evaluate(Segment segment)
        {
            var result = parts[0].Evaluate(segment);
            foreach (var part in parts.Skip(1))
            {
                var next = part.Evaluate(segment);
                for (int i = 0; i < result.Length; i++) result[i] |= next[i];
            }
            return result;
        }
    }

    private sealed class Compare(string key, string op, Value operand) : MetadataFilter
    {
        internal override byte[] Evaluate(Segment segment)
        {
            var column = MetadataColumns.Of(segment, key);
            var result = new byte[column.Length];
            for (int i = 0; i < column.Length; i++)
            {
                ref readonly var value = ref column[i];
                bool pass = op switch
                {
                    "$eq" => value.SameAs(operand),
                    "$ne" => !value.SameAs(operand),
                    _ => value.Order(operand) is int order && op switch
                    {
                        "$gt" => order > 0,
                        "$gte" => order >= 0,
                        "$lt" => order < 0,
                        _ => order <= 0,
                    },
                };
                result[i] = pass ? (byte)1 : (byte)0;
            }
            return result;
        }
    }

    private sealed class Member(string key, List<Value> values, bool negate) : MetadataFilter
    {
        internal override byte[] Evaluate(Segment segment)
        {
            var column = MetadataColumns.Of(segment, key);
            var result = new byte[column.Length];
            for (int i = 0; i < column.Length; i++)
            {
                bool found = false;
                foreach (var candidate in values)
                    if (column[i].SameAs(candidate)) { found = true; break; }
                result[i] = found != negate ? (byte)1 : (byte)0;
            }
            return result;
        }
    }
}

/// <summary>
/// One metadata key's values for every row of a segment, read from the rows' JSON once and kept for
/// later filters (segments are immutable). Non-scalar values (lists, objects) are stored as "other",
/// which no test matches.
/// </summary>
internal static class MetadataColumns
{
    private static readonly ConditionalWeakTable<Segment, ConcurrentDictionary<string, MetadataFilter.Value[]>> s_columns = new();

    public static MetadataFilter.Value[] Of(Segment segment, string key) =>
        s_columns.GetOrCreateValue(segment).GetOrAdd(key, k => Read(segment, k));

    private static MetadataFilter.Value[] Read(Segment segment, string key)
    {
        var values = new MetadataFilter.Value[segment.Count];
        byte[] name = Encoding.UTF8.GetBytes(key);
        for (long row = 0; row < segment.Count; row++)
        {
            // One row's damaged or forged metadata (stores written before add() checked it, or by hand) only
            // makes that row match nothing; it never fails the query.
            try { values[row] = ValueOf(segment.Metadata(row), name); }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { values[row] = Other; }
        }
        return values;
    }

    /// <summary>A list, an object or an unreadable value: no test matches it.</summary>
    private static readonly MetadataFilter.Value Other = new(JsonValueKind.Object, 0, null, false);

    private static MetadataFilter.Value ValueOf(ReadOnlySpan<byte> json, byte[] name)
    {
        if (json.IsEmpty) return MetadataFilter.Value.Missing;
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return MetadataFilter.Value.Missing;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool match = reader.ValueTextEquals(name);
            reader.Read();
            if (!match)
            {
                reader.Skip();
                continue;
            }
            return reader.TokenType switch
            {
                JsonTokenType.String => new(JsonValueKind.String, 0, reader.GetString(), false),
                JsonTokenType.Number => new(JsonValueKind.Number, reader.GetDouble(), null, false),
                JsonTokenType.True => new(JsonValueKind.True, 0, null, true),
                JsonTokenType.False => new(JsonValueKind.True, 0, null, false),
                JsonTokenType.Null => new(JsonValueKind.Null, 0, null, false),
                _ => Other,
            };
        }
        return MetadataFilter.Value.Missing;
    }
}
