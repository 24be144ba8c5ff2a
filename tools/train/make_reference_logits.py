#!/usr/bin/python3
"""Writes reference logits of a model directory for a fixed prompt, computed by the PyTorch
GoldFinch (tools/train/goldfinch_torch.py) from the shipped weights, for the engine's test.

    /usr/bin/python3 tools/train/make_reference_logits.py \
        [--model-dir models/goldfinch-byte-small] \
        [--out tests/data/goldfinch_byte_small_logits.safetensors]

Output tensors (names as in the golden cases' cases.safetensors):
  prompt.tokens  [T] I32     id 0 (<|endoftext|>) then the prompt's UTF-8 bytes as ids b + 1
  prompt.logits  [T, V] F32  logits of every position from one full-sequence forward
The forward runs in float64 and in float32; the float64 result is stored (rounded to F32) and the
largest |float32 - float64| difference is recorded in the metadata, together with the SHA-256 of
model.safetensors, so a stale file is detectable. The default output is outside the model
directory on purpose: the engine loads every *.safetensors file in a model directory as weights
(only a file named cases.safetensors is exempt). Exit status 0, or 1 with a message on stderr.
"""

import argparse
import hashlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import goldfinch_torch as gt  # noqa: E402
import st_io  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PROMPT = ("The quick brown fox said: \"Blessed are the cheerful, for they café.\"\n"
                  "\t-- 1611")
TOLERANCE = "|engine - ref| <= 1e-4 + 1e-4*|ref|"


def prompt_tokens(text):
    return [0] + [b + 1 for b in text.encode("utf-8")]


def reference_logits(model_dir, tokens):
    """(float64 logits [T,V], max |float32 - float64|)."""
    results = {}
    for dtype in (torch.float64, torch.float32):
        model = gt.load_model_dir(model_dir, dtype=dtype)
        if model.cfg.vocab_size <= max(tokens):
            raise ValueError("the prompt's ids do not fit vocab_size %d" % model.cfg.vocab_size)
        with torch.no_grad():
            results[dtype] = model(torch.tensor([tokens], dtype=torch.int64))[0].double()
    diff = float((results[torch.float32] - results[torch.float64]).abs().max())
    return results[torch.float64], diff


def write(model_dir, out, text):
    tokens = prompt_tokens(text)
    logits, diff = reference_logits(model_dir, tokens)
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    metadata = {
        "source": "goldfinch-serve tools/train/make_reference_logits.py",
        "model_sha256": digest,
        "prompt": json.dumps(text),
        "computed_in": "float64 (stored as F32)",
        "max_abs_float32_minus_float64": "%.3e" % diff,
        "suggested_tolerance": TOLERANCE,
    }
    st_io.write_safetensors(out, [("prompt.tokens", "I32", torch.tensor(tokens, dtype=torch.int32)),
                                  ("prompt.logits", "F32", logits.float())], metadata)
    return len(tokens), diff


def main(argv=None):
    p = argparse.ArgumentParser(description="Reference logits of a model directory.")
    p.add_argument("--model-dir", default=os.path.join(REPO_ROOT, "models", "goldfinch-byte-small"))
    p.add_argument("--out", default=os.path.join(REPO_ROOT, "tests", "data",
                                                 "goldfinch_byte_small_logits.safetensors"))
    p.add_argument("--prompt", default=DEFAULT_PROMPT)
    args = p.parse_args(argv)
    try:
        n, diff = write(args.model_dir, args.out, args.prompt)
    except (OSError, ValueError, KeyError, st_io.SafetensorsError) as e:
        print("make_reference_logits.py: error: %s" % e, file=sys.stderr)
        return 1
    print("wrote %s: %d tokens, max |float32 - float64| = %.2e" % (args.out, n, diff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
