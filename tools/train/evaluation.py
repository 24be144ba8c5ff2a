"""Measuring a byte-level model: validation bits per byte, unigram/bigram baselines, sampling.

All measures score the same positions of a token stream `ids` (numpy uint16, ids 0..256, id 0 =
<|endoftext|>): the stream is cut into windows of ctx + 1 tokens that overlap by one token
(stride ctx), and every token after the first of each window is predicted from the window's
earlier tokens. So every token except ids[0] is scored once, and the model never sees more than
ctx tokens of context. "Bits per byte" is the mean of -log2 p over the scored tokens; the
end-of-text ids count as one byte each (they are about 0.4% of the validation tokens here).
Functions are deterministic; nothing here changes the model's parameters or mode beyond eval().
"""

import math

import numpy as np
import torch

VOCAB = 257


def scored_windows(n_tokens, ctx, limit=None):
    """[(start, length)] covering positions 1..n-1 (or up to `limit` scored tokens)."""
    out = []
    start = 0
    scored = 0
    while start + 1 < n_tokens and (limit is None or scored < limit):
        length = min(ctx + 1, n_tokens - start)
        out.append((start, length))
        scored += length - 1
        start += ctx
    return out


@torch.no_grad()
def model_bits_per_byte(model, ids, ctx, batch=8, limit=None):
    """Mean -log2 p(token | window prefix) of `model` over the scored positions."""
    was_training = model.training
    model.eval()
    windows = scored_windows(len(ids), ctx, limit)
    total_bits, total_count = 0.0, 0
    for i in range(0, len(windows), batch):
        group = windows[i:i + batch]
        by_length = {}
        for start, length in group:
            by_length.setdefault(length, []).append(start)
        for length, starts in by_length.items():
            x = torch.from_numpy(np.stack([ids[s:s + length] for s in starts]).astype(np.int64))
            logits = model(x[:, :-1]).double()
            nll = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
            total_bits += float(nll) / math.log(2.0)
            total_count += x[:, 1:].numel()
    model.train(was_training)
    return total_bits / max(total_count, 1), total_count


def ngram_baselines(train_ids, val_ids, ctx):
    """Unigram and bigram byte models fitted on train_ids with add-one (Laplace) smoothing over
    the 257 ids, scored on the same positions of val_ids as model_bits_per_byte. The bigram
    conditions on the previous token, except at the first scored position of a window, where the
    window holds only one earlier token anyway (the same as the stream's previous token)."""
    train = train_ids.astype(np.int64)
    uni = np.bincount(train, minlength=VOCAB).astype(np.float64) + 1.0
    uni_logp = np.log2(uni / uni.sum())
    pair = np.bincount(train[:-1] * VOCAB + train[1:], minlength=VOCAB * VOCAB)
    pair = pair.reshape(VOCAB, VOCAB).astype(np.float64) + 1.0
    bi_logp = np.log2(pair / pair.sum(axis=1, keepdims=True))
    val = val_ids.astype(np.int64)
    positions = []
    for start, length in scored_windows(len(val), ctx):
        positions.append(np.arange(start + 1, start + length))
    pos = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    unigram = -float(uni_logp[val[pos]].mean())
    bigram = -float(bi_logp[val[pos - 1], val[pos]].mean())
    return {"unigram_bpb": unigram, "bigram_bpb": bigram, "scored_tokens": int(pos.size),
            "smoothing": "add-one over 257 ids, counts from train.bin"}


def encode_text(text):
    return [b + 1 for b in text.encode("utf-8")]


def decode_ids(ids):
    return bytes(i - 1 for i in ids if i > 0).decode("utf-8", errors="replace")


@torch.no_grad()
def sample(model, prompt_ids, max_new, temperature, seed, ctx):
    """Sampling with temperature from the full-sequence forward (recomputed each step; the
    context is the last ctx tokens). Stops after max_new tokens or at id 0. Returns new ids."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    seq = list(prompt_ids)
    new = []
    for _ in range(max_new):
        x = torch.tensor([seq[-ctx:]], dtype=torch.int64)
        logits = model(x)[0, -1].double() / temperature
        probs = torch.softmax(logits, dim=-1)
        tok = int(torch.multinomial(probs, 1, generator=g))
        if tok == 0:
            break
        seq.append(tok)
        new.append(tok)
    model.train(was_training)
    return new
