#!/usr/bin/env python3
"""An independent reference decoder for Compact's parity tests, written outside .NET.

It reads a Hugging Face checkpoint folder (config.json + model.safetensors, or shards listed in
model.safetensors.index.json, with safetensors `__metadata__` aliases for tied weights) and computes logits and
greedy ids the way the Hugging Face transformers modeling code defines them for LlamaForCausalLM,
MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM and Gemma3ForCausalLM (eager attention: scores in the
model dtype, softmax in float32). It shares no code with Compact and does not use transformers (not installable
here); it was written from the transformers modeling semantics. A llama2.c checkpoint is read in its own layout
(interleaved RoPE pairs, as llama2.c's run.c rotates them), not through Compact's HF conversion.

Needs Debian's python3-torch (1.13) and nothing else:
    apt-get install -y python3-torch
    /usr/bin/python3 scripts/reference_decoder.py fixtures tests/Compact.Tests/Fixtures/reference
    /usr/bin/python3 scripts/reference_decoder.py run <checkpoint-folder> --ids 1,2,3 --new 20 [--dtype bf16]

`fixtures` writes, under the given folder, one subfolder per case: tiny random checkpoints made here with fixed
seeds (qwen2, llama3 with llama3 rope scaling, qwen3, gemma3 with a prompt longer than its sliding window), each
with reference.json; plus reference.json files for the real TinyStories-656K and stories260K models read from
../shared/models (their weights are not copied).
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}


# ----------------------------------------------------------------------------------------------- safetensors

def read_safetensors(path):
    """All tensors of one file and its __metadata__ (8-byte little-endian header length, JSON header, data)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = DTYPES[e["dtype"]]
        if end > b:
            t = torch.frombuffer(bytearray(data[base + b:base + end]), dtype=dt).reshape(e["shape"])
        else:
            t = torch.empty(e["shape"], dtype=dt)
        out[name] = t
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {"__metadata__": metadata or {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for raw in blobs:
            f.write(raw)


def load_checkpoint(folder):
    """name -> tensor for a checkpoint folder; a metadata alias {"a": "b"} (tensor a stored once as b) is resolved."""
    idx = os.path.join(folder, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    tensors, meta = {}, {}
    for fn in files:
        t, m = read_safetensors(os.path.join(folder, fn))
        tensors.update(t)
        meta.update(m)
    for alias, target in meta.items():
        if alias not in tensors and isinstance(target, str) and target in tensors:
            tensors[alias] = tensors[target]
    return tensors


def save_checkpoint(folder, tensors, shards=1):
    os.makedirs(folder, exist_ok=True)
    names = list(tensors)
    if shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors)
        return
    per = math.ceil(len(names) / shards)
    weight_map, total = {}, 0
    for i in range(shards):
        fn = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[i * per:(i + 1) * per]}
        write_safetensors(os.path.join(folder, fn), part)
        for n, t in part.items():
            weight_map[n] = fn
            total += t.numel() * t.element_size()
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


# ----------------------------------------------------------------------------------------------- config

class Config:
    def __init__(self, d):
        arch = (d.get("architectures") or [None])[0]
        mt = d.get("model_type") or {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
                                     "Qwen3ForCausalLM": "qwen3", "MistralForCausalLM": "mistral",
                                     "Gemma3ForCausalLM": "gemma3_text"}[arch]
        self.model_type = mt
        self.gemma = mt == "gemma3_text"
        self.vocab = d["vocab_size"]
        self.hidden = d["hidden_size"]
        self.inter = d["intermediate_size"]
        self.layers = d["num_hidden_layers"]
        self.heads = d["num_attention_heads"]
        self.kv_heads = d.get("num_key_value_heads") or self.heads
        self.head_dim = d.get("head_dim") or self.hidden // self.heads
        self.eps = d.get("rms_norm_eps", 1e-6)
        self.theta = d.get("rope_theta", 10000.0)
        self.rope_scaling = d.get("rope_scaling")
        self.tied = d.get("tie_word_embeddings", self.gemma)
        bias = d.get("attention_bias", False)
        self.qkv_bias = mt == "qwen2" or bias
        self.o_bias = mt != "qwen2" and bias
        self.mlp_bias = d.get("mlp_bias", False)
        self.qk_norm = mt in ("qwen3", "gemma3_text")
        self.act = d.get("hidden_activation") or d.get("hidden_act") or "silu"
        if self.gemma:
            self.scaling = d.get("query_pre_attn_scalar", 256) ** -0.5
            self.window = d.get("sliding_window", 4096)
            self.local_theta = d.get("rope_local_base_freq", 10000.0)
            pattern = d.get("sliding_window_pattern", d.get("_sliding_window_pattern", 6))
            self.layer_types = d.get("layer_types") or [
                "full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(self.layers)]
            self.local_scaling = None
            self.final_softcap = d.get("final_logit_softcapping")
            # Not applied: transformers' Gemma3Attention never uses attn_logit_softcapping (Gemma 2's did).
            self.attn_softcap = None
        else:
            # Mistral: every layer slides when sliding_window is set; Qwen2/Qwen3: layers from max_window_layers on,
            # when use_sliding_window. Their sliding layers use the same RoPE as the others.
            self.scaling = self.head_dim ** -0.5
            self.window = d.get("sliding_window") if mt == "mistral" or d.get("use_sliding_window") else None
            if mt not in ("mistral", "qwen2", "qwen3"):
                self.window = None
            first = 0 if mt == "mistral" else d.get("max_window_layers", self.layers)
            self.layer_types = d.get("layer_types") if self.window and d.get("layer_types") else [
                "sliding_attention" if self.window and i >= first else "full_attention" for i in range(self.layers)]
            self.local_theta, self.local_scaling = self.theta, self.rope_scaling
            self.final_softcap = self.attn_softcap = None


def inv_freq(head_dim, theta, scaling):
    """HF's rotary inv_freq in float32, with the 'linear' and 'llama3' rope_scaling rules."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / scaling["factor"]
    if kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv
        out = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = (wavelen >= high_wl) & (wavelen <= low_wl)
        return torch.where(medium, smoothed, out)
    raise ValueError(f"rope type {kind}")


# ----------------------------------------------------------------------------------------------- model

def rms_norm(x, w, eps, gemma):
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    if gemma:  # Gemma: scale by (1 + w) in float32, then back to the input dtype
        return (h * (1.0 + w.float())).to(x.dtype)
    return w * h.to(x.dtype)


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat((-x[..., d:], x[..., :d]), dim=-1)


def linear(x, w, b=None):
    y = x @ w.t()
    return y + b if b is not None else y


class Reference:
    def __init__(self, cfg, weights, dtype):
        self.c = cfg
        self.dtype = dtype
        self.w = {k: v.to(dtype) for k, v in weights.items() if v.is_floating_point()}
        self.interleaved = False   # llama2.c layout: rotate pairs (2i, 2i+1)

    def p(self, name):
        return self.w.get(name)

    def rope(self, x, pos, theta, scaling):
        # x (B, H, T, D); pos (B, T)
        inv = inv_freq(self.c.head_dim, theta, scaling)
        freqs = pos.float()[..., None] * inv[None, None, :]                       # (B, T, D/2)
        if self.interleaved:
            cos, sin = freqs.cos().to(x.dtype)[:, None], freqs.sin().to(x.dtype)[:, None]
            x0, x1 = x[..., 0::2], x[..., 1::2]
            out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
            return out.flatten(-2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype)[:, None], emb.sin().to(x.dtype)[:, None]  # (B, 1, T, D)
        return x * cos + rotate_half(x) * sin

    def forward(self, ids, attention_mask=None):
        c, P = self.c, self.p
        B, T = ids.shape
        if attention_mask is None:
            attention_mask = torch.ones(B, T, dtype=torch.long)
        pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        x = P("model.embed_tokens.weight")[ids]
        if c.gemma:  # embeddings times sqrt(hidden), the factor rounded to the model dtype
            x = x * torch.tensor(c.hidden ** 0.5, dtype=self.dtype)
        qi = torch.arange(T)[:, None]
        ki = torch.arange(T)[None, :]
        keep = attention_mask.bool()[:, None, :]                                   # (B, 1, S)
        for i in range(c.layers):
            pre = f"model.layers.{i}."
            sliding = c.layer_types[i] == "sliding_attention"
            allowed = (ki <= qi)[None] & keep                                         # (B, T, S)
            if sliding:
                allowed = allowed & ((qi - ki) < c.window)[None]
            allowed = allowed | torch.eye(T, dtype=torch.bool)[None]                  # pad queries see themselves
            h = rms_norm(x, P(pre + "input_layernorm.weight"), c.eps, c.gemma)
            a = self.attention(h, pre + "self_attn.", pos, allowed, sliding)
            if c.gemma:
                a = rms_norm(a, P(pre + "post_attention_layernorm.weight"), c.eps, True)
                x = x + a
                h = rms_norm(x, P(pre + "pre_feedforward_layernorm.weight"), c.eps, True)
                m = rms_norm(self.mlp(h, pre + "mlp."), P(pre + "post_feedforward_layernorm.weight"), c.eps, True)
                x = x + m
            else:
                x = x + a
                h = rms_norm(x, P(pre + "post_attention_layernorm.weight"), c.eps, False)
                x = x + self.mlp(h, pre + "mlp.")
        x = rms_norm(x, P("model.norm.weight"), c.eps, c.gemma)
        head = P("model.embed_tokens.weight") if c.tied else P("lm_head.weight")
        logits = linear(x, head)
        if c.final_softcap:
            logits = torch.tanh(logits / c.final_softcap) * c.final_softcap
        return logits.float()

    def attention(self, x, pre, pos, allowed, sliding):
        c, P = self.c, self.p
        B, T, _ = x.shape
        q = linear(x, P(pre + "q_proj.weight"), P(pre + "q_proj.bias")).view(B, T, c.heads, c.head_dim)
        k = linear(x, P(pre + "k_proj.weight"), P(pre + "k_proj.bias")).view(B, T, c.kv_heads, c.head_dim)
        v = linear(x, P(pre + "v_proj.weight"), P(pre + "v_proj.bias")).view(B, T, c.kv_heads, c.head_dim)
        if c.qk_norm:
            q = rms_norm(q, P(pre + "q_norm.weight"), c.eps, c.gemma)
            k = rms_norm(k, P(pre + "k_norm.weight"), c.eps, c.gemma)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)          # (B, H, T, D)
        if sliding:
            q, k = self.rope(q, pos, c.local_theta, c.local_scaling), self.rope(k, pos, c.local_theta, c.local_scaling)
        else:
            q, k = self.rope(q, pos, c.theta, c.rope_scaling), self.rope(k, pos, c.theta, c.rope_scaling)
        g = c.heads // c.kv_heads
        k = k.repeat_interleave(g, dim=1)                                             # KV head h serves h*g..h*g+g-1
        v = v.repeat_interleave(g, dim=1)
        s = (q @ k.transpose(-1, -2)) * c.scaling                                     # (B, H, T, S)
        if c.attn_softcap:
            s = torch.tanh(s / c.attn_softcap) * c.attn_softcap
        s = s.float().masked_fill(~allowed[:, None], float("-inf"))
        pr = torch.softmax(s, dim=-1).to(q.dtype)
        o = (pr @ v).transpose(1, 2).reshape(B, T, c.heads * c.head_dim)
        return linear(o, P(pre + "o_proj.weight"), P(pre + "o_proj.bias"))

    def mlp(self, x, pre):
        P = self.p
        gate = linear(x, P(pre + "gate_proj.weight"), P(pre + "gate_proj.bias"))
        act = torch.nn.functional.gelu(gate, approximate="tanh") if self.c.act.startswith("gelu") else torch.nn.functional.silu(gate)
        return linear(act * linear(x, P(pre + "up_proj.weight"), P(pre + "up_proj.bias")),
                      P(pre + "down_proj.weight"), P(pre + "down_proj.bias"))

    def greedy(self, prompt, n, stop=None):
        ids = list(prompt)
        for _ in range(n):
            nxt = int(self.forward(torch.tensor([ids]))[0, -1].argmax())
            if stop is not None and nxt == stop:
                break
            ids.append(nxt)
        return ids[len(prompt):]


def load(folder, dtype):
    cfg = Config(json.load(open(os.path.join(folder, "config.json"))))
    return Reference(cfg, load_checkpoint(folder), dtype)


# ----------------------------------------------------------------------------------------------- llama2.c

def load_llama2c(path, dtype=torch.float32):
    """llama2.c's run.c format read in its own layout (see Compact's IO/Llama2c.cs for the format)."""
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, layers, heads, kv, vocab, seq = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // heads
    arr = torch.frombuffer(bytearray(data[28:]), dtype=torch.float32)
    off = 0

    def take(*shape):
        nonlocal off
        n = math.prod(shape)
        t = arr[off:off + n].reshape(shape)
        off += n
        return t
    w = {"model.embed_tokens.weight": take(vocab, dim)}
    per = {}
    per["input_layernorm"] = take(layers, dim)
    per["q_proj"] = take(layers, dim, dim)
    per["k_proj"] = take(layers, kv * hd, dim)
    per["v_proj"] = take(layers, kv * hd, dim)
    per["o_proj"] = take(layers, dim, dim)
    per["post_attention_layernorm"] = take(layers, dim)
    per["gate_proj"] = take(layers, hidden, dim)
    per["down_proj"] = take(layers, dim, hidden)
    per["up_proj"] = take(layers, hidden, dim)
    w["model.norm.weight"] = take(dim)
    take(seq, hd // 2)
    take(seq, hd // 2)
    if not shared:
        w["lm_head.weight"] = take(vocab, dim)
    for i in range(layers):
        p = f"model.layers.{i}."
        for k in ("input_layernorm", "post_attention_layernorm"):
            w[p + k + ".weight"] = per[k][i]
        for k in ("q_proj", "k_proj", "v_proj", "o_proj"):
            w[p + "self_attn." + k + ".weight"] = per[k][i]
        for k in ("gate_proj", "up_proj", "down_proj"):
            w[p + "mlp." + k + ".weight"] = per[k][i]
    cfg = Config({"model_type": "llama", "vocab_size": vocab, "hidden_size": dim, "intermediate_size": hidden,
                  "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv,
                  "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": shared})
    r = Reference(cfg, w, dtype)
    r.interleaved = True
    return r


def llama2c_vocab(path):
    """tok512.bin: int32 max token length, then per token float32 score, int32 length, bytes."""
    with open(path, "rb") as f:
        data = f.read()
    off, pieces = 4, []
    while off < len(data):
        _, n = struct.unpack("<fi", data[off:off + 8])
        pieces.append(data[off + 8:off + 8 + n])
        off += 8 + n
    return pieces


def llama2c_decode(pieces, ids, prev=1):
    """run.c's decode: drop the leading space of the piece after BOS, <0xXX> pieces are raw bytes."""
    out = b""
    for t in ids:
        p = pieces[t]
        if prev == 1 and p.startswith(b" "):
            p = p[1:]
        if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
            p = bytes([int(p[3:5], 16)])
        out += p
        prev = t
    return out.decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------------------------- fixtures

# karpathy/llama2.c test_all.py, expected_stdout of `./run stories260K.bin -z tok512.bin -t 0.0 -n 200`.
LLAMA2C_EXPECTED = ('Once upon a time, there was a little girl named Lily. She loved to play outside in the park. '
                    'One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n'
                    'Lily\'s mom said, "Lily, let\'s go to the park." Lily was sad and didn\'t know what to do. '
                    'She said, "I want to play with your ball, but I can\'t find it."\n'
                    'Lily was sad and didn\'t know what to do. She said, "I\'m sorry, Lily. I didn\'t know what to do."\n'
                    'Lily didn\'t want to help her mom, so she')

VOCAB = 48
COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256, torch_dtype="float32")

CASES = {
    # name: (config.json, shards)
    "qwen2": (dict(COMMON, architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_act="silu",
                   rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True), 1),
    "llama3": (dict(COMMON, architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
                    rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=False,
                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 16}), 2),
    "qwen3": (dict(COMMON, architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_act="silu", head_dim=16,
                   rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, attention_bias=False), 1),
    # Mistral with a sliding window of 4 (Mistral-7B-v0.1 style) over 10-token prompts.
    "mistral": (dict(COMMON, architectures=["MistralForCausalLM"], model_type="mistral", hidden_act="silu",
                     rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=4), 1),
    # Gemma 3: window 4 < prompt length, 3 layers with pattern 3 (sliding, sliding, full), explicit head_dim and
    # query_pre_attn_scalar different from head_dim, linear rope scaling on the full layer, both soft-caps.
    "gemma3": (dict(COMMON, architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", num_hidden_layers=3,
                    head_dim=16, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=24,
                    sliding_window=4, sliding_window_pattern=3, rope_theta=1000000.0, rope_local_base_freq=10000.0,
                    rope_scaling={"rope_type": "linear", "factor": 2.0}, final_logit_softcapping=5.0,
                    attn_logit_softcapping=3.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                    attention_bias=False), 2),
}


def param_shapes(cfg):
    c = Config(cfg)
    s = {"model.embed_tokens.weight": (c.vocab, c.hidden), "model.norm.weight": (c.hidden,)}
    qw, kw = c.heads * c.head_dim, c.kv_heads * c.head_dim
    for i in range(c.layers):
        p = f"model.layers.{i}."
        s[p + "self_attn.q_proj.weight"] = (qw, c.hidden)
        s[p + "self_attn.k_proj.weight"] = (kw, c.hidden)
        s[p + "self_attn.v_proj.weight"] = (kw, c.hidden)
        s[p + "self_attn.o_proj.weight"] = (c.hidden, qw)
        if c.qkv_bias:
            s[p + "self_attn.q_proj.bias"], s[p + "self_attn.k_proj.bias"], s[p + "self_attn.v_proj.bias"] = (qw,), (kw,), (kw,)
        if c.qk_norm:
            s[p + "self_attn.q_norm.weight"] = s[p + "self_attn.k_norm.weight"] = (c.head_dim,)
        s[p + "mlp.gate_proj.weight"] = s[p + "mlp.up_proj.weight"] = (c.inter, c.hidden)
        s[p + "mlp.down_proj.weight"] = (c.hidden, c.inter)
        norms = ["input_layernorm", "post_attention_layernorm"]
        if c.gemma:
            norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
        for n in norms:
            s[p + n + ".weight"] = (c.hidden,)
    if not c.tied:
        s["lm_head.weight"] = (c.vocab, c.hidden)
    return s


def random_weights(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    gemma = cfg["model_type"] == "gemma3_text"
    w = {}
    for name, shape in sorted(param_shapes(cfg).items()):
        r = torch.randn(shape, generator=g)
        if name.endswith("norm.weight"):
            w[name] = (0.1 * r) if gemma else (1.0 + 0.1 * r)     # Gemma stores w and scales by (1 + w)
        elif gemma and name == "model.embed_tokens.weight":
            w[name] = 0.03 * r    # times sqrt(hidden) on input: keep the layers, not the embedding, in charge
        else:
            w[name] = 0.15 * r
    return w


def r7(t):
    """Nested lists of floats with 7 significant digits (float32 holds about 7)."""
    if t.dim() == 0:
        return float(f"{float(t):.7g}")
    return [r7(x) for x in t]


def case_reference(ref_f32, ref_bf16, ids, padded, mask, prompt, n_new):
    out = {}
    for key, ref in (("f32", ref_f32), ("bf16", ref_bf16)):
        with torch.no_grad():
            logits = ref.forward(ids)
            greedy = ref.greedy(prompt, n_new)
            entry = {"greedy_ids": greedy}
            if key == "f32":
                entry["logits"] = r7(logits)
            else:
                # Logits along the reference's own greedy sequence, so that a bf16 implementation can be checked
                # step by step (bf16 near-ties may pick another token and then diverge).
                seq = torch.tensor([prompt + greedy[:-1]])
                entry["greedy_logits"] = r7(ref.forward(seq)[0, len(prompt) - 1:])
            if key == "f32":
                pl = ref.forward(padded, mask)
                real = int(mask[1].sum())
                entry["padded_logits_row1_real"] = r7(pl[1, -real:])
        out[key] = entry
    return out


def make_fixtures(out, shared):
    os.makedirs(out, exist_ok=True)
    cmd = "/usr/bin/python3 scripts/reference_decoder.py fixtures " + out
    for name, (cfg, shards) in sorted(CASES.items()):
        seed = sum(name.encode())          # fixed per case, whatever other cases exist
        folder = os.path.join(out, name)
        for f in os.listdir(folder) if os.path.isdir(folder) else []:
            os.remove(os.path.join(folder, f))
        os.makedirs(folder, exist_ok=True)
        w = random_weights(cfg, 100 + seed)
        save_checkpoint(folder, w, shards)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        g = torch.Generator().manual_seed(7 + seed)
        T = 10
        ids = torch.randint(0, VOCAB, (2, T), generator=g)
        padded, mask = ids.clone(), torch.ones_like(ids)
        padded[1, :3] = 0
        mask[1, :3] = 0
        prompt = ids[0, :6].tolist()
        ref32, ref16 = load(folder, torch.float32), load(folder, torch.bfloat16)
        fx = {"source": "scripts/reference_decoder.py (independent PyTorch decoder, HF modeling semantics)",
              "command": cmd, "torch": torch.__version__, "input_ids": ids.tolist(),
              "padded_input_ids": padded.tolist(), "attention_mask": mask.tolist(), "greedy_prompt": prompt}
        fx.update(case_reference(ref32, ref16, ids, padded, mask, prompt, 12))
        with open(os.path.join(folder, "reference.json"), "w") as f:
            json.dump(fx, f)
        print(f"{name}: greedy f32 {fx['f32']['greedy_ids']} bf16 {fx['bf16']['greedy_ids']}")

    # TinyStories-656K: a real sentencepiece-tokenizer Llama (tied weights stored once as lm_head.weight).
    ts = os.path.join(shared, "TinyStories-656K")
    vocab = json.load(open(os.path.join(ts, "tokenizer.json")))["model"]["vocab"]
    pieces = {v: k for k, v in vocab.items()}
    fx = {"source": "scripts/reference_decoder.py on ../shared/models/TinyStories-656K", "command": cmd,
          "torch": torch.__version__, "prompt": [1], "positions": [0, 5, 20]}
    for key, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        ref = load(ts, dt)
        with torch.no_grad():
            greedy = ref.greedy([1], 48)
            logits = ref.forward(torch.tensor([[1] + greedy]))[0]
        fx[key] = {"greedy_ids": greedy, "logits": {str(p): r7(logits[p]) for p in fx["positions"][: 3 if key == "f32" else 1]}}
        fx[key]["text"] = "".join(pieces[i] for i in greedy).replace("\u2581", " ")
        print(f"TinyStories-656K {key}: {fx[key]['text']!r}")
    os.makedirs(os.path.join(out, "tinystories656k"), exist_ok=True)
    with open(os.path.join(out, "tinystories656k", "reference.json"), "w") as f:
        json.dump(fx, f)

    # stories260K: llama2.c's own layout, checked against the expected text of llama2.c's test_all.py.
    st = os.path.join(shared, "stories260K")
    pieces = llama2c_vocab(os.path.join(st, "tok512.bin"))
    fx = {"source": "scripts/reference_decoder.py on ../shared/models/stories260K (llama2.c layout, interleaved RoPE)",
          "command": cmd, "torch": torch.__version__, "prompt": [1], "positions": [0, 1, 2, 50]}
    for key, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        ref = load_llama2c(os.path.join(st, "stories260K.bin"), dt)
        with torch.no_grad():
            greedy = ref.greedy([1], 200 if key == "f32" else 60, stop=1)
            logits = ref.forward(torch.tensor([[1] + greedy]))[0]
        fx[key] = {"greedy_ids": greedy, "text": llama2c_decode(pieces, greedy),
                   "logits": {str(p): r7(logits[p]) for p in fx["positions"][: 4 if key == "f32" else 1]}}
        print(f"stories260K {key}: {fx[key]['text'][:120]!r}")
    if fx["f32"]["text"] != LLAMA2C_EXPECTED:
        raise SystemExit("stories260K: greedy text differs from llama2.c test_all.py's expected_stdout")
    fx["expected_text"] = LLAMA2C_EXPECTED
    os.makedirs(os.path.join(out, "stories260k"), exist_ok=True)
    with open(os.path.join(out, "stories260k", "reference.json"), "w") as f:
        json.dump(fx, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("out")
    f.add_argument("--shared", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "models"))
    r = sub.add_parser("run")
    r.add_argument("folder")
    r.add_argument("--ids", required=True)
    r.add_argument("--new", type=int, default=20)
    r.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    a = ap.parse_args()
    if a.cmd == "fixtures":
        make_fixtures(a.out, os.path.abspath(a.shared))
    else:
        ref = load(a.folder, torch.float32 if a.dtype == "f32" else torch.bfloat16)
        with torch.no_grad():
            print(json.dumps(ref.greedy([int(x) for x in a.ids.split(",")], a.new)))


if __name__ == "__main__":
    sys.exit(main())
