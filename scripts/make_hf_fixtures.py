#!/usr/bin/env python3
"""Reference fixtures for Compact's model-parity test (tests/Compact.Tests/Models/HfParityTests.cs).

Builds tiny random Qwen2, Llama 3 (with llama3 rope scaling, untied head), Qwen3, Gemma 3 (sliding window shorter
than the prompts, linear rope scaling on full layers, soft-capping) and a sentencepiece-style Llama (Llama 2 /
TinyLlama layout: rope theta 10000, tied, vocabulary with <unk> <s> </s> first) with Hugging Face transformers, saves each as a normal checkpoint folder (config.json + model.safetensors), and records logits
for fixed inputs: an unpadded batch, a left-padded batch (positions counted over real tokens, as HF generate
does), and greedy generation. The C# test (tests/Compact.Tests/Models/HfParityTests.cs) loads the same folders with Compact and compares in
float32 (tolerance 1e-4); until these fixtures are committed it runs against scripts/reference_decoder.py's.

Needs: python3, torch, transformers (no network). Run from the repository root:
    python3 scripts/make_hf_fixtures.py tests/Compact.Tests/Fixtures/hf
"""
import json
import os
import sys

import torch
import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM)

try:
    from transformers import Qwen3Config, Qwen3ForCausalLM
except ImportError:  # transformers < 4.51
    Qwen3Config = Qwen3ForCausalLM = None
try:
    from transformers import Gemma3TextConfig, Gemma3ForCausalLM
except ImportError:  # transformers < 4.50
    Gemma3TextConfig = Gemma3ForCausalLM = None

# Small enough that the five fixtures stay a few hundred KB together.
VOCAB = 64
COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, hidden_act="silu")


def cases():
    yield "qwen2", Qwen2ForCausalLM, Qwen2Config(**COMMON, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=True)
    yield "llama", LlamaForCausalLM, LlamaConfig(
        **COMMON, rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64})
    if Qwen3Config is not None:
        yield "qwen3", Qwen3ForCausalLM, Qwen3Config(**COMMON, head_dim=16, rope_theta=1e6, rms_norm_eps=1e-6,
                                                     tie_word_embeddings=True, attention_bias=False)
    yield "spllama", LlamaForCausalLM, LlamaConfig(**COMMON, rope_theta=10000.0, rms_norm_eps=1e-6,
                                                   tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
    if Gemma3TextConfig is not None:
        gemma = {k: v for k, v in COMMON.items() if k != "hidden_act"}
        yield "gemma3", Gemma3ForCausalLM, Gemma3TextConfig(
            **gemma, hidden_activation="gelu_pytorch_tanh", head_dim=16, query_pre_attn_scalar=24, sliding_window=4,
            layer_types=["sliding_attention", "full_attention"], rope_theta=1e6, rope_local_base_freq=10000.0,
            rope_scaling={"rope_type": "linear", "factor": 2.0}, final_logit_softcapping=5.0,
            attn_logit_softcapping=3.0, rms_norm_eps=1e-6, tie_word_embeddings=True)


def main(out):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    for name, cls, cfg in cases():
        torch.manual_seed(0)
        cfg.torch_dtype = "float32"
        # Eager attention: the reference semantics (Gemma's soft-capping needs it; same numbers otherwise).
        cfg._attn_implementation = "eager"
        model = cls(cfg).eval()
        # Wider weights than the default init (std 0.02) so that logits differ meaningfully between tokens,
        # and non-trivial norm weights and biases so that every parameter matters.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("norm.weight"):
                    # Gemma stores w of its (1 + w) norms.
                    base = 0.0 if name == "gemma3" else 1.0
                    p.copy_(base + 0.1 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.15 * torch.randn(p.shape, generator=gen))
        folder = os.path.join(out, name)
        model.save_pretrained(folder, safe_serialization=True)

        ids = torch.randint(0, VOCAB, (2, 12), generator=gen)
        padded = ids.clone()
        mask = torch.ones_like(ids)
        padded[1, :4] = 0
        mask[1, :4] = 0
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = model(input_ids=ids).logits
            padded_logits = model(input_ids=padded, attention_mask=mask, position_ids=positions).logits
            greedy = model.generate(ids[:1, :6], attention_mask=torch.ones(1, 6, dtype=torch.long), max_new_tokens=10,
                                    do_sample=False, pad_token_id=0, eos_token_id=None)
        fixture = {
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "input_ids": ids.tolist(),
            "logits": logits.tolist(),
            "padded_input_ids": padded.tolist(),
            "attention_mask": mask.tolist(),
            "padded_logits": padded_logits.tolist(),
            "greedy_prompt": ids[0, :6].tolist(),
            "greedy_ids": greedy[0, 6:].tolist(),
        }
        with open(os.path.join(folder, "reference.json"), "w") as f:
            json.dump(fixture, f)
        print(f"{name}: wrote {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/Compact.Tests/Fixtures/hf")
