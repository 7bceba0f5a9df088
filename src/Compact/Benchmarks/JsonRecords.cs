using System.Text;
using System.Text.Json;

namespace Compact.Benchmarks;

/// <summary>One JSON object of a benchmark file, with where it starts (1-based line) for error messages.</summary>
internal readonly record struct JsonRecord(string Source, int Line, int Index, JsonElement Element)
{
    public string Where => $"{Source}:{Line}";

    public bool Has(string name) => Element.TryGetProperty(name, out var v) && v.ValueKind is not JsonValueKind.Null;

    /// <summary>A string field (numbers and booleans are taken as their JSON text); an error naming the line when absent.</summary>
    public string Require(string name, string fix)
        => Optional(name) ?? throw new InvalidDataException($"{Where}: missing \"{name}\" field; {fix}.");

    public string? Optional(string name)
    {
        if (!Element.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Null => null,
            _ => throw new InvalidDataException($"{Where}: \"{name}\" is a JSON {v.ValueKind.ToString().ToLowerInvariant()}, expected a string; fix that field."),
        };
    }

    public string? OptionalAny(params ReadOnlySpan<string> names)
    {
        foreach (var n in names)
            if (Optional(n) is { } v) return v;
        return null;
    }

    /// <summary>"file:line: problem; fix." as an exception to throw.</summary>
    public InvalidDataException Error(string problem, string fix) => new($"{Where}: {problem}; {fix}.");
}

/// <summary>Reads JSON Lines (one object per line, blank lines skipped), one JSON array of objects, or a BIG-bench
/// task (one JSON object whose "examples" array holds the items), whichever the file holds, keeping each object's
/// line number.</summary>
internal static class JsonRecords
{
    public static List<JsonRecord> Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Benchmark file {path} does not exist; check the path (the shared data lives in shared/benchmarks/).", path);
        return Parse(File.ReadAllBytes(path), path);
    }

    public static List<JsonRecord> Parse(string content, string source) => Parse(Encoding.UTF8.GetBytes(content), source);

    public static List<JsonRecord> Parse(byte[] bytes, string source)
    {
        int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        int first = start;
        while (first < bytes.Length && bytes[first] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') first++;
        if (first == bytes.Length) throw new InvalidDataException($"{source}: the file is empty; expected JSON Lines or a JSON array of objects.");
        var records = bytes[first] == (byte)'['
            ? ParseArray(bytes.AsMemory(start), source)
            : IsTask(bytes.AsMemory(start)) ? ParseArray(bytes.AsMemory(start), source, "examples")
            : ParseLines(bytes.AsMemory(start), source);
        if (records.Count == 0) throw new InvalidDataException($"{source}: the file holds no records; expected JSON Lines or a JSON array of objects.");
        return records;
    }

    private static List<JsonRecord> ParseLines(ReadOnlyMemory<byte> data, string source)
    {
        var records = new List<JsonRecord>();
        var span = data.Span;
        int line = 0, pos = 0;
        while (pos < span.Length)
        {
            line++;
            int nl = span[pos..].IndexOf((byte)'\n');
            int end = nl < 0 ? span.Length : pos + nl;
            var slice = data[pos..end];
            pos = end + 1;
            if (slice.Span.Trim(" \t\r"u8).IsEmpty) continue;
            JsonElement element;
            try
            {
                using var doc = JsonDocument.Parse(slice);
                element = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{source}:{line}: malformed JSON ({FirstSentence(e.Message)}); fix or remove that line.", e);
            }
            if (element.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}:{line}: expected a JSON object, found a {element.ValueKind.ToString().ToLowerInvariant()}; each line must be one object.");
            records.Add(new JsonRecord(source, line, records.Count, element));
        }
        return records;
    }

    /// <summary>A BIG-bench task file: the whole content is one JSON object with an "examples" array.</summary>
    private static bool IsTask(ReadOnlyMemory<byte> data)
    {
        try
        {
            using var doc = JsonDocument.Parse(data);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("examples", out var ex) && ex.ValueKind == JsonValueKind.Array;
        }
        catch (JsonException) { return false; }                 // several lines of JSON Lines, or malformed: read line by line
    }

    /// <summary>The objects of the top-level array, or of the array in the root object's property <paramref name="property"/>.</summary>
    private static List<JsonRecord> ParseArray(ReadOnlyMemory<byte> data, string source, string? property = null)
    {
        var records = new List<JsonRecord>();
        var span = data.Span;
        var reader = new Utf8JsonReader(span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        int line = 1, counted = 0;
        try
        {
            if (property is not null)
            {
                reader.Read();                                            // '{'
                while (reader.Read() && !(reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals(property)))
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
            }
            reader.Read(); // '['
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                int at = (int)reader.TokenStartIndex;
                line += span[counted..at].Count((byte)'\n');
                counted = at;
                if (reader.TokenType != JsonTokenType.StartObject)
                    throw new InvalidDataException($"{source}:{line}: array item {records.Count} is not a JSON object; the array must hold objects only.");
                using var doc = JsonDocument.ParseValue(ref reader);
                records.Add(new JsonRecord(source, line, records.Count, doc.RootElement.Clone()));
            }
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } l ? $"{source}:{l + 1}" : source;
            throw new InvalidDataException($"{where}: malformed JSON ({FirstSentence(e.Message)}); fix the file.", e);
        }
        return records;
    }

    private static string FirstSentence(string message)
    {
        int k = message.IndexOf(". ", StringComparison.Ordinal);
        return (k < 0 ? message : message[..k]).TrimEnd('.');
    }

}
