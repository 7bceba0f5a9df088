#!/usr/bin/env python3
"""Reference fixtures for Compact's model-parity test (tests/Compact.Tests/Models/HfParityTests.cs).

Builds tiny random Qwen2, Llama 3 (with llama3 rope scaling, untied head), Qwen3, Gemma 3 (sliding window shorter
than the prompts, linear rope scaling on full layers, soft-capping) and a sentencepiece-style Llama (Llama 2 /
TinyLlama layout: rope theta 10000, tied, vocabulary with <unk> <s> </s> first) with Hugging Face transformers, saves each as a normal checkpoint folder (config.json + model.safetensors), and records logits
for fixed inputs: an unpadded batch, a left-padded batch (positions counted over real tokens, as HF generate
does), and greedy generation. The C# test (tests/Compact.Tests/Models/HfParityTests.cs) loads the same folders with Compact and compares in
float32 (tolerance 1e-4); until these fixtures are committed it runs against scripts/reference_decoder.py's.

It also writes, for qwen2 and llama, a LoRA adapter made by PEFT (adapter/: adapter_config.json +
adapter_model.safetensors, random non-zero B) and the logits with the adapter applied; and, with --tinystories DIR OUT,
the real TinyStories-656K checkpoint's logits, greedy continuation and tokenizer ids as transformers computes them.

Needs: python3, torch, transformers, peft (no network). Run from the repository root:
    python3 scripts/make_hf_fixtures.py tests/Compact.Tests/Fixtures/hf
    python3 scripts/make_hf_fixtures.py --tinystories ../shared/models/TinyStories-656K tests/Compact.Tests/Fixtures/hf/tinystories656k
"""
import json
import os
import sys

import torch
import transformers
import traceback

from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

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
    """(name, model class, config thunk): a config that this transformers version rejects fails its case alone."""
    yield "qwen2", Qwen2ForCausalLM, lambda: Qwen2Config(**COMMON, rope_theta=1e6, rms_norm_eps=1e-6,
                                                         tie_word_embeddings=True)
    yield "llama", LlamaForCausalLM, lambda: LlamaConfig(
        **COMMON, rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64})
    if Qwen3Config is not None:
        yield "qwen3", Qwen3ForCausalLM, lambda: Qwen3Config(**COMMON, head_dim=16, rope_theta=1e6, rms_norm_eps=1e-6,
                                                             tie_word_embeddings=True, attention_bias=False)
    yield "spllama", LlamaForCausalLM, lambda: LlamaConfig(**COMMON, rope_theta=10000.0, rms_norm_eps=1e-6,
                                                           tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
    yield "mistral", MistralForCausalLM, lambda: MistralConfig(**COMMON, head_dim=8, rope_theta=1e6, rms_norm_eps=1e-5,
                                                               sliding_window=4, tie_word_embeddings=False)
    if Gemma3TextConfig is not None:
        gemma = {k: v for k, v in COMMON.items() if k != "hidden_act"}
        yield "gemma3", Gemma3ForCausalLM, lambda: Gemma3TextConfig(
            **gemma, hidden_activation="gelu_pytorch_tanh", head_dim=16, query_pre_attn_scalar=24, sliding_window=4,
            layer_types=["sliding_attention", "full_attention"], rope_theta=1e6, rope_local_base_freq=10000.0,
            rope_scaling={"rope_type": "linear", "factor": 2.0}, final_logit_softcapping=5.0,
            attn_logit_softcapping=3.0, rms_norm_eps=1e-6, tie_word_embeddings=True)


def build(cls, cfg):
    cfg.torch_dtype = "float32"
    try:
        return cls._from_config(cfg, attn_implementation="eager").float().eval()
    except TypeError:  # older transformers
        # Eager attention: the reference semantics (Gemma's soft-capping needs it; same numbers otherwise).
        cfg._attn_implementation = "eager"
        return cls(cfg).float().eval()


def adapter_fixture(model, folder, ids, gen):
    """A PEFT LoRA adapter with random non-zero B on every linear layer, and the logits with it applied."""
    from peft import LoraConfig, get_peft_model
    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM", init_lora_weights=False,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    pm = get_peft_model(model, lcfg).eval()
    with torch.no_grad():
        for pname, p in pm.named_parameters():
            if "lora_" in pname:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
        logits = pm(input_ids=ids).logits
    pm.save_pretrained(os.path.join(folder, "adapter"))
    return {"input_ids": ids.tolist(), "logits": logits.tolist()}


def main(out):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    for name, cls, make_cfg in cases():
        try:
            one(out, name, cls, make_cfg(), gen)
        except Exception:  # report and go on: one family's API change must not cost the others
            traceback.print_exc()
            print(f"{name}: FAILED")


def one(out, name, cls, cfg, gen):
    torch.manual_seed(0)
    model = build(cls, cfg)
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
    if name in ("qwen2", "llama"):
        try:
            fixture["adapter"] = adapter_fixture(model, folder, ids, gen)
        except Exception:
            traceback.print_exc()
            print(f"{name}: adapter FAILED")
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(fixture, f)
    print(f"{name}: wrote {folder}")


TINY_TEXTS = ["Once upon a time, there was a little girl named Lily.",
              "Tom and Sam went to the park. They saw a big dog!",
              "The sun was hot.  \"Can we go?\" she asked, 3 times."]


def tinystories(src, out):
    """The real TinyStories-656K (sentencepiece-BPE Llama): tokenizer ids, logits and a greedy continuation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import shutil
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32, attn_implementation="eager").eval()
    os.makedirs(out, exist_ok=True)
    enc = [tok(t, add_special_tokens=True)["input_ids"] for t in TINY_TEXTS]
    ids = torch.tensor([enc[0]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        greedy = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
                                eos_token_id=None, pad_token_id=0)
    fixture = {"source": "transformers on ../shared/models/TinyStories-656K (scripts/make_hf_fixtures.py --tinystories)",
               "transformers": transformers.__version__, "torch": torch.__version__,
               "texts": TINY_TEXTS, "ids": enc, "logits": logits[0].tolist(), "greedy_ids": greedy[0, ids.shape[1]:].tolist()}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(fixture, f)
    print(f"tinystories656k: wrote {out} ({len(enc[0])} tokens)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--tinystories":
        tinystories(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "tests/Compact.Tests/Fixtures/hf")
