"""A PyTorch GoldFinch for training and for checking the engine, written from
shared/docs/goldfinch-model.md (sections 1-4), independently of the engine's C++ code.

Contract:
- GoldFinch(config) is an nn.Module whose state_dict() has exactly the upstream tensor names and
  shapes (model doc section 2; [1,1,C] token-shift mixes, raw LoRA matrices [in, out], nn.Linear
  weights [out, in], time_faaaa kept although GoldFinch never uses it).
- forward(tokens [B,T] int64) -> logits [B,T,V] for a whole sequence starting at absolute position
  0, with no carried state (training and scoring). GOLD attention uses the absolute-position causal
  mask (query p sees keys 0..p). forward(..., aux=True) also returns intermediate tensors for tests.
- The Finch-C2 WKV runs in a chunked-parallel form (wkv_chunked) that is differentiable and
  numerically safe: every exponential it takes has a non-positive argument, so no factor exceeds 1;
  wkv_naive is the plain sequential recurrence it is tested against.
- Runs in whatever dtype the module is cast to (float32 for training, float64 for checks).
- Weight files go through st_io (no safetensors package). load_safetensors_into() checks that the
  names and shapes match exactly and raises ValueError otherwise.
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

D_MIX_LORA = 32      # Finch-C2 5-way mix LoRA, GOLD q and 2-way kv LoRA
D_DECAY_LORA = 64    # Finch-C2 decay and v2 LoRA
LN_EPS = 1e-5
RMS_EPS = 1e-8
# Per-step log-decays are clamped at a floor whose exp() already underflows to exactly 0 in the
# working dtype (e^-110 < the smallest float32 denormal, e^-800 < the smallest float64 one), so the
# clamp changes no decay factor. It keeps cumulative sums finite (no -inf - -inf = nan) and small,
# which bounds the cancellation error of the cumulative-sum differences (float32: relative error of
# a weight <= about chunk * 110 * 2^-24, 1e-4 at chunk 16, reached only after near-total decays).
LOG_DECAY_FLOOR = {torch.float32: -110.0, torch.float64: -800.0}
# A channel's decay over one chunk (-A_last) up to this limit allows the factored intra-chunk form:
# its factors stay within [e^-limit, e^limit], far from float overflow and underflow.
FACTOR_LIMIT = {torch.float32: 30.0, torch.float64: 250.0}


class GoldFinchConfig:
    """Model shape. Derived values follow the model doc section 0."""

    def __init__(self, n_layer, n_embd, vocab_size, head_size=64, dim_ffn=0,
                 inv_other_layer_ratio=3.0, kv_cache_compression_ratio=16.0, rope=None):
        self.n_layer = int(n_layer)
        self.n_embd = int(n_embd)
        self.vocab_size = int(vocab_size)
        self.head_size = int(head_size)
        self.dim_att = self.n_embd
        default_ffn = int(3.5 * self.n_embd) // 32 * 32
        self.dim_ffn = int(dim_ffn) if dim_ffn and dim_ffn > 0 else default_ffn
        self.inv_other_layer_ratio = float(inv_other_layer_ratio)
        self.kv_cache_compression_ratio = float(kv_cache_compression_ratio)
        self.rope = None if rope is None else {"base": float(rope.get("base", 10000.0)),
                                               "rescale": float(rope.get("rescale", 1.0)),
                                               "rebase": float(rope.get("rebase", 1.0))}
        self.n_head = self.dim_att // self.head_size
        self.first_gold_layer = int(self.n_layer * (self.inv_other_layer_ratio - 1)
                                    / self.inv_other_layer_ratio)
        self.compressed_dim = int(self.n_embd / self.kv_cache_compression_ratio)
        self.gold_lora_dim = max(self.n_embd // 16, 64)
        problems = []
        if self.n_embd % 32 or self.dim_ffn % 32:
            problems.append("n_embd and dim_ffn must be multiples of 32")
        N = self.head_size
        if N <= 0 or N % 4 or self.n_head * N != self.dim_att:
            problems.append("head_size must be a multiple of 4 dividing n_embd")
        if not 0 < self.first_gold_layer < self.n_layer:
            problems.append("need at least one Finch-C2 and one GOLD layer")
        if self.compressed_dim < 1:
            problems.append("compressed cache width int(C/R) must be >= 1")
        if problems:
            raise ValueError("bad GoldFinch config: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, d):
        """Accepts the engine's flat config.json, the golden layout ({"model": {...}}) or the
        golden weights' metadata config."""
        if isinstance(d.get("model"), dict):
            d = d["model"]
        return cls(n_layer=d["n_layer"], n_embd=d["n_embd"], vocab_size=d["vocab_size"],
                   head_size=d.get("head_size", 64), dim_ffn=d.get("dim_ffn", 0) or 0,
                   inv_other_layer_ratio=d.get("inv_other_layer_ratio", 3.0),
                   kv_cache_compression_ratio=d.get("kv_cache_compression_ratio", 16.0),
                   rope=d.get("rope"))

    def to_dict(self):
        return {"n_layer": self.n_layer, "n_embd": self.n_embd, "dim_att": self.dim_att,
                "dim_ffn": self.dim_ffn, "head_size": self.head_size,
                "vocab_size": self.vocab_size,
                "inv_other_layer_ratio": _plain(self.inv_other_layer_ratio),
                "kv_cache_compression_ratio": _plain(self.kv_cache_compression_ratio),
                "rope": self.rope}


def _plain(x):
    return int(x) if float(x).is_integer() else x


# ---------------------------------------------------------------------------------------------
# Elementary pieces.

def shift(x):
    """x [B,T,C] -> the previous position's row, zero at position 0."""
    return F.pad(x, (0, 0, 1, -1))


def rms_norm(x):
    """x / (sqrt(mean(x^2)) + 1e-8): eps added to the RMS, no learnable scale."""
    return x / (x.norm(dim=-1, keepdim=True) * (x.shape[-1] ** -0.5) + RMS_EPS)


def apply_rope(z, positions, rope):
    """z [B,H,T,N]; interleaved pairs (2i, 2i+1) rotated by p * (base*rebase)^(-2i/N) / rescale."""
    n = z.shape[-1]
    i = torch.arange(0, n, 2, dtype=z.dtype, device=z.device)
    omega = (rope["base"] * rope["rebase"]) ** (-i / n) / rope["rescale"]
    theta = positions.to(z.dtype)[:, None] * omega[None, :]          # [T, N/2]
    cos, sin = torch.cos(theta), torch.sin(theta)
    a, b = z[..., 0::2], z[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


# ---------------------------------------------------------------------------------------------
# WKV (Finch-C2, u = 0). Inputs r, k, v, log_decay: [B,T,H,N]; log_decay = log(alpha) <= 0 acts on
# the key index j:  y_t[i] = sum_j r_t[j] S_{t-1}[i,j],
#                   S_t[i,j] = alpha_t[j] S_{t-1}[i,j] + k_t[j] v_t[i].
# Both return (y [B,T,H,N], final state [B,H,N(i),N(j)]), starting from a zero state.

def wkv_naive(r, k, v, log_decay):
    B, T, H, N = r.shape
    S = torch.zeros(B, H, N, N, dtype=r.dtype, device=r.device)   # [b,h,i,j]
    alpha = torch.exp(log_decay)
    ys = []
    for t in range(T):
        ys.append(torch.einsum("bhij,bhj->bhi", S, r[:, t]))
        S = S * alpha[:, t, :, None, :] + v[:, t, :, :, None] * k[:, t, :, None, :]
    return torch.stack(ys, dim=1), S


def wkv_chunked(r, k, v, log_decay, chunk=32):
    """Chunked-parallel WKV. Within a chunk, with A_t the inclusive cumulative log-decay and
    Aq_t = A_{t-1}: the intra-chunk weight of key s for query t is exp(Aq_t - A_s) (s < t, <= 1),
    the carried state enters query t scaled by exp(Aq_t) (<= 1) and the chunk's keys reach the
    chunk-end state scaled by exp(A_last - A_s) (<= 1). Only the state hand-off between chunks is
    sequential. Intra-chunk scores use the factored form (r e^Aq)(k e^-A)^T, a matrix product,
    for "tame" channels whose decay over the chunk stays within FACTOR_LIMIT (no factor can
    overflow or underflow there); the other channels of that chunk and head are gathered and done
    pairwise with non-positive exponents, so the result is exact for any decay."""
    B, T, H, N = r.shape
    pad = (-T) % chunk
    if pad:
        r, k, v, log_decay = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (r, k, v, log_decay))
    nc = (T + pad) // chunk

    def split(t):  # [B,T,H,N] -> [B,H,nc,L,N]
        return t.reshape(B, nc, chunk, H, N).permute(0, 3, 1, 2, 4)

    floor = LOG_DECAY_FLOOR.get(r.dtype, LOG_DECAY_FLOOR[torch.float32])
    limit = FACTOR_LIMIT.get(r.dtype, FACTOR_LIMIT[torch.float32])
    r, k, v, lw = split(r), split(k), split(v), split(log_decay.clamp(min=floor))
    A = lw.cumsum(dim=3)
    Aq = A - lw
    A_last = A[:, :, :, -1:, :]
    strictly_lower = torch.ones(chunk, chunk, dtype=torch.bool, device=r.device).tril(-1)
    tame = A_last >= -limit                                          # [B,H,nc,1,N]
    r_fac = r * torch.exp(Aq.masked_fill(~tame, 0.0)) * tame.to(r.dtype)
    k_fac = k * torch.exp(-A.masked_fill(~tame, 0.0))
    scores = (r_fac @ k_fac.transpose(-1, -2)).masked_fill(~strictly_lower, 0.0)
    wild = (~tame[:, :, :, 0, :]).nonzero(as_tuple=True)             # (b, h, c, j) each [n]
    if wild[0].numel():
        b_, h_, c_, j_ = wild
        diff = Aq[b_, h_, c_, :, j_].unsqueeze(2) - A[b_, h_, c_, :, j_].unsqueeze(1)  # [n,t,s]
        pair = (r[b_, h_, c_, :, j_].unsqueeze(2) * k[b_, h_, c_, :, j_].unsqueeze(1)
                * torch.exp(diff.masked_fill(~strictly_lower, float("-inf"))))
        flat = (b_ * H + h_) * nc + c_
        scores = scores.reshape(B * H * nc, chunk, chunk).index_add(0, flat, pair)
        scores = scores.reshape(B, H, nc, chunk, chunk)
    y = scores @ v
    k_to_end = k * torch.exp(A_last - A)
    contrib = k_to_end.transpose(-1, -2) @ v                        # [B,H,nc,j,i]
    chunk_decay = torch.exp(A_last).squeeze(3).unsqueeze(-1)        # [B,H,nc,j,1]
    state = torch.zeros(B, H, N, N, dtype=r.dtype, device=r.device)  # [b,h,j,i]
    entering = []
    for c in range(nc):
        entering.append(state)
        state = chunk_decay[:, :, c] * state + contrib[:, :, c]
    y = y + (r * torch.exp(Aq)) @ torch.stack(entering, dim=2)
    y = y.permute(0, 2, 3, 1, 4).reshape(B, nc * chunk, H, N)[:, :T]
    return y, state.transpose(-1, -2)


# ---------------------------------------------------------------------------------------------
# Layers (names and shapes as upstream).

def _mix(C):
    return nn.Parameter(torch.zeros(1, 1, C))


def _ln(width):
    return nn.LayerNorm(width, eps=LN_EPS)


class ChannelMix(nn.Module):
    """CMix_x060 (model doc 3.3)."""

    def __init__(self, cfg):
        super().__init__()
        C, Fd = cfg.n_embd, cfg.dim_ffn
        self.time_maa_k = _mix(C)
        self.time_maa_r = _mix(C)
        self.key = nn.Linear(C, Fd, bias=False)
        self.receptance = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(Fd, C, bias=False)

    def forward(self, x):
        xx = shift(x) - x
        k = torch.relu(self.key(x + xx * self.time_maa_k)) ** 2
        return torch.sigmoid(self.receptance(x + xx * self.time_maa_r)) * self.value(k)


class FinchC2TimeMix(nn.Module):
    """TMix_x060c2 with use_one_minus_w = 1 and use_v2 = 1 (model doc 3.2)."""

    def __init__(self, cfg):
        super().__init__()
        C, A = cfg.n_embd, cfg.dim_att
        self.n_head, self.head_size = cfg.n_head, cfg.head_size
        for m in ("x", "r", "k", "v", "w", "v2"):
            setattr(self, "time_maa_" + m, _mix(C))
        self.time_maa_w1 = nn.Parameter(torch.zeros(C, 5 * D_MIX_LORA))
        self.time_maa_w2 = nn.Parameter(torch.zeros(5, D_MIX_LORA, C))
        self.time_decay = nn.Parameter(torch.zeros(1, 1, A))
        self.time_decay_w1 = nn.Parameter(torch.zeros(C, D_DECAY_LORA))
        self.time_decay_w2 = nn.Parameter(torch.zeros(D_DECAY_LORA, A))
        self.time_value2_w1 = nn.Parameter(torch.zeros(C, D_DECAY_LORA))
        self.time_value2_w2 = nn.Parameter(torch.zeros(D_DECAY_LORA, A))
        self.time_faaaa = nn.Parameter(torch.zeros(cfg.n_head, cfg.head_size))  # unused (u = 0)
        self.receptance = nn.Linear(C, A, bias=False)
        self.key = nn.Linear(C, A, bias=False)
        self.value = nn.Linear(C, A, bias=False)
        self.output = nn.Linear(A, C, bias=False)
        self.ln_x = _ln(A)
        self.wkv_chunk = 32
        self.use_naive_wkv = False

    def forward(self, x, aux=None):
        B, T, C = x.shape
        xx = shift(x) - x
        z = torch.tanh((x + xx * self.time_maa_x) @ self.time_maa_w1).view(B, T, 5, D_MIX_LORA)
        m = torch.einsum("btkd,kdc->kbtc", z, self.time_maa_w2)
        xr = x + xx * (self.time_maa_r + m[0])
        xk = x + xx * (self.time_maa_k + m[1])
        xv = x + xx * (self.time_maa_v + m[2])
        xw = x + xx * (self.time_maa_w + m[3])
        xv2 = x + xx * (self.time_maa_v2 + m[4])
        r, k, v = self.receptance(xr), self.key(xk), self.value(xv)
        v2 = self.value(xv2) + torch.tanh(xv2 @ self.time_value2_w1) @ self.time_value2_w2
        w = self.time_decay + torch.tanh(xw @ self.time_decay_w1) @ self.time_decay_w2
        log_decay = -torch.exp(w)
        k = k * -torch.expm1(log_decay)          # k * (1 - alpha)
        heads = (B, T, self.n_head, self.head_size)
        args = (r.view(heads), k.view(heads), v.view(heads), log_decay.view(heads))
        if self.use_naive_wkv:
            y, state = wkv_naive(*args)
        else:
            y, state = wkv_chunked(*args, chunk=self.wkv_chunk)
        if aux is not None:
            aux.setdefault("wkv_state", []).append(state)
        y = self.ln_x(y.reshape(B, T, -1) + v2)
        return self.output(y)


class GoldTimeMix(nn.Module):
    """GOLD attention (model doc 4), full sequence from position 0."""

    def __init__(self, cfg):
        super().__init__()
        C, A, Dg = cfg.n_embd, cfg.dim_att, cfg.gold_lora_dim
        self.n_head, self.head_size, self.rope = cfg.n_head, cfg.head_size, cfg.rope
        for m in ("x", "q", "v_cache", "k", "v"):
            setattr(self, "time_maa_" + m, _mix(C))
        self.time_maa_q_w1 = nn.Parameter(torch.zeros(C, D_MIX_LORA))
        self.time_maa_q_w2 = nn.Parameter(torch.zeros(D_MIX_LORA, C))
        self.time_maa_kv_w1 = nn.Parameter(torch.zeros(C, 2 * D_MIX_LORA))
        self.time_maa_kv_w2 = nn.Parameter(torch.zeros(2, D_MIX_LORA, C))
        self.time_key_w1 = nn.Parameter(torch.zeros(C, Dg))
        self.time_key_w2 = nn.Parameter(torch.zeros(Dg, A))
        self.time_value_w1 = nn.Parameter(torch.zeros(C, Dg))
        self.time_value_w2 = nn.Parameter(torch.zeros(Dg, A))
        self.query = nn.Linear(C, A, bias=False)
        self.output = nn.Linear(A, C, bias=False)
        self.ln_q, self.ln_k, self.ln_v, self.ln_x = _ln(A), _ln(A), _ln(A), _ln(A)

    def forward(self, x, x_orig, k_cache):
        B, T, C = x.shape
        xx = shift(x) - x
        mq = torch.tanh((x + xx * self.time_maa_x) @ self.time_maa_q_w1) @ self.time_maa_q_w2
        q = self.ln_q(self.query(x + xx * (self.time_maa_q + mq)))
        o = rms_norm(x_orig)
        do = shift(o) - o
        z = torch.tanh((o + do * self.time_maa_v_cache) @ self.time_maa_kv_w1)
        mk = z[..., :D_MIX_LORA] @ self.time_maa_kv_w2[0]
        mv = z[..., D_MIX_LORA:] @ self.time_maa_kv_w2[1]
        kk = k_cache + (shift(k_cache) - k_cache) * (self.time_maa_k + mk)
        kk = kk + torch.tanh(kk @ self.time_key_w1) @ self.time_key_w2
        vv = o + do * (self.time_maa_v + mv)
        vv = vv + torch.tanh(vv @ self.time_value_w1) @ self.time_value_w2
        k, v = self.ln_k(kk), self.ln_v(vv)

        def heads(t):
            return t.view(B, T, self.n_head, self.head_size).transpose(1, 2)

        q, k, v = heads(q), heads(k), heads(v)
        if self.rope is not None:
            pos = torch.arange(T, device=x.device)
            q, k = apply_rope(q, pos, self.rope), apply_rope(k, pos, self.rope)
        scores = (q @ k.transpose(-1, -2)) * (self.head_size ** -0.5)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        att = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v
        return self.output(self.ln_x(att.transpose(1, 2).reshape(B, T, -1)))


class Block(nn.Module):
    def __init__(self, cfg, layer_id):
        super().__init__()
        self.layer_id = layer_id
        self.is_gold = layer_id >= cfg.first_gold_layer
        self.ln1 = _ln(cfg.n_embd)
        self.ln2 = _ln(cfg.n_embd)
        if layer_id == 0:
            self.ln0 = _ln(cfg.n_embd)
        self.att = GoldTimeMix(cfg) if self.is_gold else FinchC2TimeMix(cfg)
        self.ffn = ChannelMix(cfg)

    def forward(self, x, x_orig, k_cache, aux=None):
        if self.is_gold:
            x = x + self.att(self.ln1(x), x_orig, k_cache)
        else:
            x = x + self.att(self.ln1(x), aux)
        return x + self.ffn(self.ln2(x))


class GoldFinch(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C = cfg.n_embd
        self.emb = nn.Embedding(cfg.vocab_size, C)
        self.blocks = nn.ModuleList([Block(cfg, i) for i in range(cfg.n_layer)])
        self.ln_out = _ln(C)
        self.head = nn.Linear(C, cfg.vocab_size, bias=False)
        self.w_kv_cache_a = nn.Linear(C, cfg.compressed_dim, bias=False)
        self.w_kv_cache_b = nn.Linear(C + cfg.compressed_dim, cfg.dim_att, bias=False)

    def set_wkv_mode(self, chunk=32, naive=False):
        for b in self.blocks:
            if not b.is_gold:
                b.att.wkv_chunk, b.att.use_naive_wkv = chunk, naive

    def forward(self, tokens, aux=False):
        """tokens [B,T] -> logits [B,T,V]; with aux=True returns (logits, dict) where the dict has
        ln0_out [B,T,C], block_out (list of [B,T,C]), kv_cache_a [B,T,c], k_cache [B,T,A] and
        wkv_state (list of [B,H,N(i),N(j)], Finch-C2 layers only)."""
        info = {} if aux else None
        x_orig = self.blocks[0].ln0(self.emb(tokens))
        x = x_orig
        k_cache = None
        outs = []
        for i, block in enumerate(self.blocks):
            if i == self.cfg.first_gold_layer:
                compressed = self.w_kv_cache_a(x)
                k_cache = rms_norm(self.w_kv_cache_b(torch.cat((x_orig, compressed), dim=-1)))
                if aux:
                    info["kv_cache_a"], info["k_cache"] = compressed, k_cache
            x = block(x, x_orig, k_cache, info)
            if aux:
                outs.append(x)
        logits = self.head(self.ln_out(x))
        if not aux:
            return logits
        info["ln0_out"], info["block_out"] = x_orig, outs
        return logits, info


# ---------------------------------------------------------------------------------------------
# Weights in and out.

def is_vector_param(name, tensor):
    """Elementwise parameters ([1,1,C] mixes, time_decay, time_faaaa, LayerNorm params)."""
    return tensor.dim() == 1 or name.endswith("time_faaaa") or (
        tensor.dim() == 3 and tuple(tensor.shape[:2]) == (1, 1))


def load_safetensors_into(model, path):
    """Copies every tensor of `path` into `model` (exact names and shapes required)."""
    _, tensors = st_io.read_safetensors(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    bad = sorted(n for n in own if n in tensors and tuple(tensors[n].shape) != tuple(own[n].shape))
    if missing or extra or bad:
        raise ValueError("%s does not match the model: missing %s, extra %s, misshaped %s"
                         % (path, missing[:5], extra[:5], bad[:5]))
    with torch.no_grad():
        for name, t in own.items():
            t.copy_(tensors[name].to(t.dtype))


def save_model_dir(model, out_dir, name, matrix_dtype="BF16", metadata=None, max_context=0):
    """Writes <out_dir>/config.json (the engine's flat layout, byte tokenizer when vocab 257) and
    <out_dir>/model.safetensors (upstream names; matrices in matrix_dtype, vectors F32)."""
    cfg = model.cfg
    conf = {"name": name}
    conf.update(cfg.to_dict())
    conf["tokenizer"] = "byte" if cfg.vocab_size == 257 else "world"
    conf["eos_token_id"] = 0
    conf["max_context"] = int(max_context)
    entries = []
    for pname, t in model.state_dict().items():
        entries.append((pname, "F32" if is_vector_param(pname, t) else matrix_dtype, t))
    os.makedirs(out_dir, exist_ok=True)
    st_io.write_safetensors(os.path.join(out_dir, "model.safetensors"), entries, metadata or {})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(json.dumps(conf, indent=2) + "\n")


def load_model_dir(model_dir, dtype=torch.float32):
    """GoldFinch from a model directory (config.json + model.safetensors)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = GoldFinchConfig.from_dict(json.load(f))
    model = GoldFinch(cfg).to(dtype)
    load_safetensors_into(model, os.path.join(model_dir, "model.safetensors"))
    return model.eval()


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def init_for_training(model, seed):
    """Deterministic from-scratch initialisation in the spirit of RWKV-6 training code (our own
    choice, not upstream's exact scheme): token-shift mixes graded by depth, decays spread from
    slow to fast over channels, LoRA 'down' matrices zero with small 'up' matrices, output
    projections zero (each block starts as the identity), tiny embeddings (ln0 rescales them)."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    L, C, A = cfg.n_layer, cfg.n_embd, cfg.dim_att
    ramp = torch.arange(C, dtype=torch.float64) / C

    def orthogonal_(w, gain):
        rows, cols = w.shape
        flat = torch.randn(max(rows, cols), min(rows, cols), generator=g, dtype=torch.float64)
        qm, rm = torch.linalg.qr(flat)
        qm = qm * torch.sign(torch.diagonal(rm))
        w.copy_((qm if rows >= cols else qm.T) * gain)

    def uniform_(t, a):
        t.copy_((torch.rand(t.shape, generator=g, dtype=torch.float64) * 2 - 1) * a)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.zero_()
            elif ".ln" in name or name.startswith("ln_out"):
                p.fill_(1.0)
        uniform_(model.emb.weight, 1e-4)
        orthogonal_(model.head.weight, 0.5 * math.sqrt(max(cfg.vocab_size / C, 1.0)))
        orthogonal_(model.w_kv_cache_a.weight, 1.0)
        orthogonal_(model.w_kv_cache_b.weight, 1.0)
        for i, b in enumerate(model.blocks):
            r01 = i / max(L - 1, 1)
            r10 = 1.0 - i / L
            graded = (1.0 - ramp ** r10).view(1, 1, C)
            graded_half = (1.0 - ramp ** (0.5 * r10)).view(1, 1, C)
            f = b.ffn
            f.time_maa_k.copy_(graded)
            f.time_maa_r.copy_(graded)
            orthogonal_(f.key.weight, math.sqrt(cfg.dim_ffn / C))
            f.receptance.weight.zero_()
            f.value.weight.zero_()
            a = b.att
            a.output.weight.zero_()
            a.ln_x.weight.fill_(((1 + i) / L) ** 0.7)
            if b.is_gold:
                for m in ("x", "q", "v_cache", "k"):
                    getattr(a, "time_maa_" + m).copy_(graded)
                a.time_maa_v.copy_(graded_half)
                for w1, w2 in (("time_maa_q_w1", "time_maa_q_w2"),
                               ("time_maa_kv_w1", "time_maa_kv_w2"),
                               ("time_key_w1", "time_key_w2"),
                               ("time_value_w1", "time_value_w2")):
                    getattr(a, w1).zero_()
                    uniform_(getattr(a, w2), 0.01)
                orthogonal_(a.query.weight, 1.0)
            else:
                for m in ("x", "k", "w"):
                    getattr(a, "time_maa_" + m).copy_(graded)
                a.time_maa_v.copy_((graded - 0.3 * r01).clamp(min=0.0))
                a.time_maa_v2.copy_((graded - 0.3 * r01).clamp(min=0.0))
                a.time_maa_r.copy_(graded_half)
                n = torch.arange(A, dtype=torch.float64) / max(A - 1, 1)
                a.time_decay.copy_((-6.0 + 5.0 * n ** (0.7 + 1.3 * r01)).view(1, 1, A))
                for w1, w2 in (("time_maa_w1", "time_maa_w2"),
                               ("time_decay_w1", "time_decay_w2"),
                               ("time_value2_w1", "time_value2_w2")):
                    getattr(a, w1).zero_()
                    uniform_(getattr(a, w2), 0.01)
                a.time_faaaa.zero_()
                orthogonal_(a.receptance.weight, 1.0)
                orthogonal_(a.key.weight, 0.1)
                orthogonal_(a.value.weight, 1.0)
