#!/usr/bin/python3
"""Trains the built-in byte-level GoldFinch (models/goldfinch-byte-small) on the CPU.

    /usr/bin/python3 tools/train/prepare_data.py          # once (see its --help)
    /usr/bin/python3 tools/train/train.py                 # train (resumes if stopped) and export

Everything is seeded: batch b of step s is drawn from numpy's default_rng([seed, s]), so a run
that is stopped and resumed from its checkpoint sees the same batches as one that was not (the
arithmetic is the same for the same --threads). Training is AdamW with linear warmup and cosine
decay to lr * lr_min_ratio over --steps, weight decay on the Linear weights only, gradient
clipping. The run folder (--run-dir, default .cache/train_run, git-ignored) holds checkpoint.pt
(written every --ckpt-minutes and at the end, atomically), log.jsonl (one line per log/eval) and
report.json. --stop-at-step pauses a run (checkpoint, no export). --time-budget-minutes caps
the cumulative training time across resumes: the run stops there early (the learning rate then
has not finished its decay) and exports what it has.

Export (unless --no-export): <out>/config.json (the engine's flat layout, tokenizer "byte",
vocab 257, eos 0), <out>/model.safetensors (upstream names; Linear/LoRA matrices and the embedding
in BF16, elementwise parameters in F32), <out>/MODEL_CARD.md and <out>/training_report.json with
the validation bits per byte of the exported (bf16-rounded) weights on the whole validation split,
the unigram and bigram baselines on the same positions, the data packages and three samples.
--benchmark N runs N steps after one warm-up step, prints tokens/s and exits (no checkpoint).
Exit status 0 on success, 1 on a data or checkpoint problem (message on stderr).
"""

import argparse
import json
import math
import os
import sys
import time

# libgomp threads that spin while waiting collapse (10x slower) when the 2 cores are shared with
# other processes; sleeping waits cost little. Must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluation  # noqa: E402
import goldfinch_torch as gt  # noqa: E402
import model_card  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL_NAME = "goldfinch-byte-small"
SAMPLE_PROMPTS = ("", "The secret of a happy life", "And it came to pass")
# Options that must match for a checkpoint to be resumed.
RUN_KEYS = ("n_layer", "n_embd", "dim_ffn", "head_size", "rope_base", "ctx", "batch", "steps", "lr",
            "lr_min_ratio", "warmup", "weight_decay", "beta1", "beta2", "grad_clip", "seed")


class TrainError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description="Train the built-in byte-level GoldFinch on the CPU.")
    p.add_argument("--data", default=os.path.join(REPO_ROOT, ".cache", "train_data"))
    p.add_argument("--run-dir", default=os.path.join(REPO_ROOT, ".cache", "train_run"))
    p.add_argument("--out", default=os.path.join(REPO_ROOT, "models", MODEL_NAME))
    p.add_argument("--n-layer", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--dim-ffn", type=int, default=512)
    p.add_argument("--head-size", type=int, default=64)
    p.add_argument("--rope-base", type=float, default=None,
                   help="RoPE in GOLD attention with this base (default: none, as GoldFinch)")
    p.add_argument("--ctx", type=int, default=512, help="training sequence length")
    p.add_argument("--batch", type=int, default=4, help="sequences per step")
    p.add_argument("--steps", type=int, default=1800)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lr-min-ratio", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=20240720)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--wkv-chunk", type=int, default=32)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=300)
    p.add_argument("--eval-tokens", type=int, default=32768,
                   help="validation tokens scored at each periodic evaluation (the final one "
                        "scores the whole split)")
    p.add_argument("--ckpt-minutes", type=float, default=5.0)
    p.add_argument("--time-budget-minutes", type=float, default=None)
    p.add_argument("--stop-at-step", type=int, default=None,
                   help="pause: checkpoint and exit (no export) once this step is reached; run "
                        "again without it to resume")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--sample-bytes", type=int, default=300)
    p.add_argument("--benchmark", type=int, default=0, metavar="N")
    return p.parse_args(argv)


def load_split(data_dir, name):
    path = os.path.join(data_dir, name + ".bin")
    if not os.path.isfile(path):
        raise TrainError("%s is missing; run tools/train/prepare_data.py first" % path)
    ids = np.fromfile(path, dtype="<u2")
    if ids.size < 2 or int(ids.max()) > 256:
        raise TrainError("%s does not hold byte-level token ids" % path)
    return ids


def batch_for_step(ids, step, seed, batch, ctx):
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, ids.size - ctx - 1, size=batch)
    x = np.stack([ids[s:s + ctx + 1] for s in starts]).astype(np.int64)
    return torch.from_numpy(x)


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    floor = args.lr * args.lr_min_ratio
    return floor + (args.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_model(args):
    cfg = gt.GoldFinchConfig(n_layer=args.n_layer, n_embd=args.n_embd, vocab_size=257,
                             head_size=args.head_size, dim_ffn=args.dim_ffn,
                             rope=None if args.rope_base is None else {"base": args.rope_base})
    model = gt.GoldFinch(cfg)
    gt.init_for_training(model, args.seed)
    model.set_wkv_mode(chunk=args.wkv_chunk)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if name.endswith("time_faaaa"):
            p.requires_grad_(False)          # unused by GoldFinch (u = 0)
        elif p.dim() >= 2 and name.endswith(".weight") and name != "emb.weight":
            decay.append(p)
        else:
            no_decay.append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(args.beta1, args.beta2), eps=1e-8)
    return model, opt


def train_step(model, opt, x, lr, grad_clip):
    for group in opt.param_groups:
        group["lr"] = lr
    logits = model(x[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             x[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return float(loss), float(grad_norm)


def save_checkpoint(path, model, opt, step, elapsed, args, history):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "elapsed": elapsed, "run": {k: getattr(args, k) for k in RUN_KEYS},
                "history": history}, tmp)
    os.replace(tmp, path)


def log_line(run_dir, record):
    print(json.dumps(record), flush=True)
    with open(os.path.join(run_dir, "log.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


def benchmark(args, train_ids):
    model, opt = build_model(args)
    train_step(model, opt, batch_for_step(train_ids, 0, args.seed, args.batch, args.ctx),
               args.lr, args.grad_clip)
    t0 = time.time()
    for s in range(1, args.benchmark + 1):
        train_step(model, opt, batch_for_step(train_ids, s, args.seed, args.batch, args.ctx),
                   args.lr, args.grad_clip)
    dt = (time.time() - t0) / args.benchmark
    print(json.dumps({"params": gt.parameter_count(model), "n_layer": args.n_layer,
                      "n_embd": args.n_embd, "dim_ffn": model.cfg.dim_ffn, "ctx": args.ctx,
                      "batch": args.batch, "threads": args.threads,
                      "seconds_per_step": round(dt, 4),
                      "tokens_per_second": round(args.batch * args.ctx / dt, 1)}))


def train(args):
    torch.set_num_threads(args.threads)
    train_ids = load_split(args.data, "train")
    val_ids = load_split(args.data, "val")
    if args.benchmark:
        return benchmark(args, train_ids)
    os.makedirs(args.run_dir, exist_ok=True)
    ckpt_path = os.path.join(args.run_dir, "checkpoint.pt")
    model, opt = build_model(args)
    step, elapsed, history = 0, 0.0, []
    if os.path.isfile(ckpt_path) and not args.fresh:
        ckpt = torch.load(ckpt_path, map_location="cpu")
        mismatched = [k for k in RUN_KEYS if ckpt["run"].get(k) != getattr(args, k)]
        if mismatched:
            raise TrainError("%s was made with different options (%s); pass --fresh to start "
                             "over" % (ckpt_path, ", ".join(mismatched)))
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        step, elapsed, history = ckpt["step"], ckpt["elapsed"], ckpt["history"]
        print("resumed at step %d (%.1f min trained)" % (step, elapsed / 60), flush=True)
    elif os.path.exists(os.path.join(args.run_dir, "log.jsonl")):
        os.remove(os.path.join(args.run_dir, "log.jsonl"))
    budget = None if args.time_budget_minutes is None else args.time_budget_minutes * 60
    print("model: %d parameters, first GOLD layer %d; %d train / %d val tokens"
          % (gt.parameter_count(model), model.cfg.first_gold_layer, train_ids.size,
             val_ids.size), flush=True)
    last_ckpt = time.time()
    window_start, window_tokens = time.time(), 0
    stopped_early = False
    model.train()
    while step < args.steps:
        if args.stop_at_step is not None and step >= args.stop_at_step:
            save_checkpoint(ckpt_path, model, opt, step, elapsed, args, history)
            print("paused at step %d; run again without --stop-at-step to resume" % step)
            return 0
        if budget is not None and elapsed >= budget:
            stopped_early = True
            break
        t0 = time.time()
        x = batch_for_step(train_ids, step, args.seed, args.batch, args.ctx)
        lr = lr_at(step, args)
        loss, grad_norm = train_step(model, opt, x, lr, args.grad_clip)
        if not math.isfinite(loss):
            raise TrainError("loss became %r at step %d" % (loss, step))
        step += 1
        elapsed += time.time() - t0
        window_tokens += x[:, 1:].numel()
        if step % args.log_every == 0 or step == args.steps:
            rate = window_tokens / max(time.time() - window_start, 1e-9)
            log_line(args.run_dir, {"step": step, "loss": round(loss, 4),
                                    "bpb": round(loss / math.log(2), 4), "lr": lr,
                                    "grad_norm": round(grad_norm, 3),
                                    "tokens_per_s": round(rate, 1),
                                    "train_minutes": round(elapsed / 60, 2)})
            window_start, window_tokens = time.time(), 0
        if step % args.eval_every == 0 and step < args.steps:
            bpb, n = evaluation.model_bits_per_byte(model, val_ids, args.ctx, args.batch,
                                                    args.eval_tokens)
            history.append({"step": step, "val_bpb": bpb, "val_tokens": n,
                            "train_minutes": elapsed / 60})
            log_line(args.run_dir, {"step": step, "val_bpb": round(bpb, 4), "val_tokens": n})
            window_start, window_tokens = time.time(), 0
        if time.time() - last_ckpt >= args.ckpt_minutes * 60:
            save_checkpoint(ckpt_path, model, opt, step, elapsed, args, history)
            last_ckpt = time.time()
    save_checkpoint(ckpt_path, model, opt, step, elapsed, args, history)
    report = {"steps_done": step, "steps_planned": args.steps, "stopped_by_time_budget":
              stopped_early, "train_minutes": elapsed / 60, "tokens_seen": step * args.batch
              * args.ctx, "history": history,
              "options": {k: v for k, v in vars(args).items()}}
    if not args.no_export:
        report.update(export(model, args, train_ids, val_ids))
    with open(os.path.join(args.run_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    if not args.no_export:
        with open(os.path.join(args.out, "training_report.json"), "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        model_card.write(os.path.join(args.out, "MODEL_CARD.md"), report)
        print("exported to %s" % args.out, flush=True)
    return 0


def export(model, args, train_ids, val_ids):
    """Writes the model directory and measures the exported (bf16-rounded) weights."""
    gt.save_model_dir(model, args.out, MODEL_NAME, matrix_dtype="BF16",
                      metadata={"source": "goldfinch-serve tools/train/train.py",
                                "steps": str(args.steps), "seed": str(args.seed)})
    shipped = gt.load_model_dir(args.out)
    shipped.set_wkv_mode(chunk=args.wkv_chunk)
    t0 = time.time()
    bpb, n = evaluation.model_bits_per_byte(shipped, val_ids, args.ctx, args.batch)
    base = evaluation.ngram_baselines(train_ids, val_ids, args.ctx)
    samples = []
    for i, prompt in enumerate(SAMPLE_PROMPTS):
        ids = [0] + evaluation.encode_text(prompt)
        new = evaluation.sample(shipped, ids, args.sample_bytes, 0.8, args.seed + i, args.ctx)
        samples.append({"prompt": prompt, "temperature": 0.8, "seed": args.seed + i,
                        "text": evaluation.decode_ids(new)})
    with open(os.path.join(args.data, "data_info.json")) as f:
        data_info = json.load(f)
    result = {"val_bpb": bpb, "val_scored_tokens": n, "baselines": base, "samples": samples,
              "parameters": gt.parameter_count(shipped), "config": shipped.cfg.to_dict(),
              "model_bytes": os.path.getsize(os.path.join(args.out, "model.safetensors")),
              "data": data_info, "eval_seconds": time.time() - t0}
    log_line(args.run_dir, {"final_val_bpb": round(bpb, 4),
                            "unigram_bpb": round(base["unigram_bpb"], 4),
                            "bigram_bpb": round(base["bigram_bpb"], 4)})
    return result


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return train(args) or 0
    except TrainError as e:
        print("train.py: error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
