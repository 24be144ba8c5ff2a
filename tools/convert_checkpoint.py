#!/usr/bin/python3
"""Convert an upstream GoldFinch checkpoint (.pth) into a goldfinch-serve model directory.

Input: a `torch.save` of the upstream `Transformer.state_dict()` (recursal/GoldFinch-paper; all
released files hold bf16 tensors). Output: `<out>/config.json` (our flat layout) and
`<out>/model.safetensors` holding the upstream tensor names and shapes unchanged (no transposes,
no squeezing; the engine's loader does that).

Shapes are inferred from the weights and every tensor is checked against the model spec
(shared/docs/goldfinch-model.md, sections 2 and 9). What the weights cannot say (RoPE, the
inv_other_layer_ratio used to cross-check the GOLD split, the tokenizer, the name) comes from
flags. The output is deterministic: the same input and flags give byte-identical files.

Run it with Debian's Python (it has torch): /usr/bin/python3 tools/convert_checkpoint.py --help.
Exit status: 0 converted, 1 the checkpoint or the flags were rejected (one message on stderr),
2 bad command line. See docs/convert_checkpoint.md.
"""

import argparse
import collections
import hashlib
import importlib
import json
import os
import re
import struct
import sys
import tempfile

CONVERTER_VERSION = "1"
D_MIX_LORA = 32      # Finch-C2 5-way mix LoRA, GOLD q and 2-way kv LoRA
D_DECAY_LORA = 64    # Finch-C2 decay and v2 LoRA
STRIPPABLE_PREFIXES = ("model.", "_orig_mod.")
# Upstream state_dict wrappers that some training frameworks add around the model's tensors.
WRAPPER_KEYS = ("state_dict", "module")

Dims = collections.namedtuple("Dims", "V C A F L s H N c D_g")


class ConversionError(Exception):
    """A checkpoint or flag problem; the message is shown to the user as is."""


# ---------------------------------------------------------------------------------------------
# The tensor schema (model doc section 2), in upstream registration order.
# Each entry: name -> (shape, kind); kind "vector" = elementwise parameter (token-shift mixes,
# LayerNorm parameters, time_decay, time_faaaa), "matrix" = everything else.

def expected_tensors(d, with_faaaa=True):
    C, A, F, N, H = d.C, d.A, d.F, d.N, d.H
    out = collections.OrderedDict()

    def vec(name, shape):
        out[name] = (tuple(shape), "vector")

    def mat(name, shape):
        out[name] = (tuple(shape), "matrix")

    def ln(prefix, width):
        vec(prefix + ".weight", [width])
        vec(prefix + ".bias", [width])

    mat("emb.weight", [d.V, C])
    for i in range(d.L):
        b = "blocks.%d." % i
        ln(b + "ln1", C)
        ln(b + "ln2", C)
        if i == 0:
            ln(b + "ln0", C)
        a = b + "att."
        if i < d.s:  # Finch-C2 time mix
            for m in ("x", "r", "k", "v", "w", "v2"):
                vec(a + "time_maa_" + m, [1, 1, C])
            mat(a + "time_maa_w2", [5, D_MIX_LORA, C])
            mat(a + "time_maa_w1", [C, 5 * D_MIX_LORA])
            vec(a + "time_decay", [1, 1, A])
            mat(a + "time_decay_w1", [C, D_DECAY_LORA])
            mat(a + "time_decay_w2", [D_DECAY_LORA, A])
            mat(a + "time_value2_w1", [C, D_DECAY_LORA])
            mat(a + "time_value2_w2", [D_DECAY_LORA, A])
            if with_faaaa:
                vec(a + "time_faaaa", [H, N])
            for m in ("receptance", "key", "value"):
                mat(a + m + ".weight", [A, C])
            mat(a + "output.weight", [C, A])
            ln(a + "ln_x", A)
        else:  # GOLD time mix
            for m in ("x", "q", "v_cache", "k", "v"):
                vec(a + "time_maa_" + m, [1, 1, C])
            mat(a + "time_maa_q_w1", [C, D_MIX_LORA])
            mat(a + "time_maa_q_w2", [D_MIX_LORA, C])
            mat(a + "time_maa_kv_w1", [C, 2 * D_MIX_LORA])
            mat(a + "time_maa_kv_w2", [2, D_MIX_LORA, C])
            mat(a + "time_key_w1", [C, d.D_g])
            mat(a + "time_key_w2", [d.D_g, A])
            mat(a + "time_value_w1", [C, d.D_g])
            mat(a + "time_value_w2", [d.D_g, A])
            mat(a + "query.weight", [A, C])
            mat(a + "output.weight", [C, A])
            for m in ("ln_q", "ln_k", "ln_v", "ln_x"):
                ln(a + m, A)
        f = b + "ffn."
        vec(f + "time_maa_k", [1, 1, C])
        vec(f + "time_maa_r", [1, 1, C])
        mat(f + "key.weight", [F, C])
        mat(f + "receptance.weight", [C, C])
        mat(f + "value.weight", [C, F])
    ln("ln_out", C)
    mat("head.weight", [d.V, C])
    mat("w_kv_cache_a.weight", [d.c, C])
    mat("w_kv_cache_b.weight", [A, C + d.c])
    return out


def parameter_count(d, with_faaaa=True):
    total = 0
    for shape, _ in expected_tensors(d, with_faaaa).values():
        n = 1
        for x in shape:
            n *= x
        total += n
    return total


def first_gold_layer(n_layer, inv_ratio):
    """Upstream get_second_submodel_layer_id: int(L * (rho - 1) / rho), evaluated left to right."""
    return int(n_layer * (inv_ratio - 1) / inv_ratio)


def compression_ratio_for(n_embd, compressed_dim):
    """A kv_cache_compression_ratio R with int(C / R) == c (16 whenever that fits)."""
    for r in (16.0, float(n_embd) / compressed_dim):
        if int(n_embd / r) == compressed_dim:
            return r
    raise ConversionError(
        "w_kv_cache_a.weight has %d rows; no kv_cache_compression_ratio R gives int(%d / R) = %d"
        % (compressed_dim, n_embd, compressed_dim))


# ---------------------------------------------------------------------------------------------
# Inference and validation on shapes only (name -> tuple), so it is testable without torch.

def _describe_flavour(shapes):
    if "blocks.0.att.gate.weight" in shapes or "blocks.0.att.time_maa_g" in shapes:
        return "a Finch (x060) checkpoint such as finch.pth"
    if "blocks.0.att.time_maa_v2" in shapes:
        return "a Finch-C2 checkpoint such as finchc2.pth"
    if "emb.weight" not in shapes:
        return "not an upstream GoldFinch-paper Transformer state dict at all"
    return "another architecture (for example gptalpha.pth or llama.pth)"


def _shape_of(shapes, name, ndim, purpose):
    if name not in shapes:
        raise ConversionError("cannot infer %s: tensor '%s' is missing" % (purpose, name))
    shape = shapes[name]
    if len(shape) != ndim:
        raise ConversionError("cannot infer %s: '%s' has shape %s, expected %d dimensions"
                              % (purpose, name, list(shape), ndim))
    return shape


def infer_dims(shapes, inv_ratio, head_size=None):
    """Infers Dims from the tensor shapes and cross-checks the config-level rules."""
    if not inv_ratio > 1:
        raise ConversionError("--inv-ratio must be greater than 1, got %g" % inv_ratio)
    if "w_kv_cache_a.weight" not in shapes:
        raise ConversionError(
            "not a GoldFinch checkpoint: there is no 'w_kv_cache_a.weight' (the TokenCat key-cache "
            "compression every GoldFinch model has); this looks like %s. Only GoldFinch "
            "(tmix x060c2 + tmix2 gold) checkpoints are supported." % _describe_flavour(shapes))
    V, C = _shape_of(shapes, "emb.weight", 2, "vocab_size/n_embd")
    block_ids = set()
    for name in shapes:
        m = re.match(r"blocks\.(\d+)\.", name)
        if m:
            block_ids.add(int(m.group(1)))
    if not block_ids:
        raise ConversionError("no 'blocks.<i>.' tensors found")
    L = max(block_ids) + 1
    missing_blocks = sorted(set(range(L)) - block_ids)
    if missing_blocks:
        raise ConversionError("blocks %s have no tensors (n_layer inferred as %d)"
                              % (missing_blocks, L))
    gold = [i for i in range(L) if "blocks.%d.att.query.weight" % i in shapes]
    if not gold:
        raise ConversionError("no GOLD layer: no block has 'att.query.weight'")
    s = gold[0]
    if gold != list(range(s, L)):
        raise ConversionError("GOLD layers must be blocks %d..%d, but att.query.weight is in "
                              "blocks %s" % (s, L - 1, gold))
    if s == 0:
        raise ConversionError("no Finch-C2 layer: block 0 already has att.query.weight")
    expected_s = first_gold_layer(L, inv_ratio)
    if s != expected_s:
        raise ConversionError(
            "the first GOLD layer (first block with att.query.weight) is %d, but with n_layer %d "
            "and --inv-ratio %g upstream puts it at int(%d*(%g-1)/%g) = %d; pass the "
            "inv_other_layer_ratio this checkpoint was trained with"
            % (s, L, inv_ratio, L, inv_ratio, inv_ratio, expected_s))
    A = _shape_of(shapes, "blocks.0.att.receptance.weight", 2, "dim_att")[0]
    F = _shape_of(shapes, "blocks.0.ffn.key.weight", 2, "dim_ffn")[0]
    faaaa = "blocks.0.att.time_faaaa"
    if faaaa in shapes:
        H, N = _shape_of(shapes, faaaa, 2, "head count/head_size")
        if head_size is not None and head_size != N:
            raise ConversionError("--head-size %d disagrees with %s %s"
                                  % (head_size, faaaa, list(shapes[faaaa])))
    elif head_size is not None:
        N = head_size
        H = A // N if N > 0 else 0
    else:
        raise ConversionError("cannot infer head_size: '%s' is missing; pass --head-size" % faaaa)
    c = _shape_of(shapes, "w_kv_cache_a.weight", 2, "the compressed cache width")[0]
    D_g = _shape_of(shapes, "blocks.%d.att.time_key_w1" % s, 2, "the GOLD key LoRA rank")[1]

    problems = []
    if A != C:
        problems.append("dim_att %d != n_embd %d (GOLD requires dim_att == n_embd)" % (A, C))
    if C % 32 or F % 32:
        problems.append("n_embd %d and dim_ffn %d must be multiples of 32" % (C, F))
    if N <= 0 or N % 4 or H * N != A:
        problems.append("heads %d x head_size %d do not make dim_att %d with head_size a "
                        "multiple of 4" % (H, N, A))
    if D_g != max(C // 16, 64):
        problems.append("GOLD key/value LoRA rank %d != max(n_embd/16, 64) = %d, which the "
                        "engine assumes" % (D_g, max(C // 16, 64)))
    if c <= 0:
        problems.append("w_kv_cache_a.weight has no rows")
    if V <= 0:
        problems.append("emb.weight has no rows")
    if problems:
        raise ConversionError("unsupported model shape: " + "; ".join(problems))
    return Dims(V=V, C=C, A=A, F=F, L=L, s=s, H=H, N=N, c=c, D_g=D_g)


def check_names_and_shapes(shapes, schema, allow_extra=False):
    """Returns the names in `shapes` that are not in `schema` (they are dropped); raises on any
    missing or misshaped tensor, or on extra tensors unless allow_extra."""
    problems = []
    for name, (shape, _) in schema.items():
        if name not in shapes:
            problems.append("missing tensor '%s' (expected shape %s)" % (name, list(shape)))
        elif tuple(shapes[name]) != shape:
            problems.append("tensor '%s' has shape %s, expected %s"
                            % (name, list(shapes[name]), list(shape)))
    extra = sorted(n for n in shapes if n not in schema)
    if extra and not allow_extra:
        problems.append("unexpected tensors (pass --allow-extra to drop them): %s"
                        % ", ".join(extra[:20]) + (" ..." if len(extra) > 20 else ""))
    if problems:
        shown = problems[:25]
        more = "" if len(problems) <= 25 else "\n  ... and %d more" % (len(problems) - 25)
        raise ConversionError("the checkpoint does not match the GoldFinch layout:\n  "
                              + "\n  ".join(shown) + more)
    return extra


# ---------------------------------------------------------------------------------------------
# Loading.

def load_state_dict(path, trust_pickle=False):
    """torch.load on the CPU; returns (OrderedDict name -> tensor, list of notes)."""
    import torch
    notes = []
    try:
        if trust_pickle:
            obj = torch.load(path, map_location="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConversionError("checkpoint not found: %s" % path)
    except Exception as e:  # torch raises many kinds (pickle, zip, RuntimeError)
        hint = "" if trust_pickle else (
            " (it was loaded with weights_only=True; if you trust the file and it holds more "
            "than tensors, retry with --trust-pickle)")
        raise ConversionError("cannot load %s: %s: %s%s" % (path, type(e).__name__, e, hint))
    if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                notes.append("using the '%s' entry of the checkpoint" % key)
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ConversionError("%s does not hold a state dict (name -> tensor), it holds %s"
                              % (path, type(obj).__name__))
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ConversionError("the state dict has non-tensor entries: %s"
                              % ", ".join(map(str, bad[:10])))
    sd = collections.OrderedDict(obj)
    stripped = True
    while stripped:
        stripped = False
        for prefix in STRIPPABLE_PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = collections.OrderedDict((k[len(prefix):], v) for k, v in sd.items())
                notes.append("stripped the name prefix '%s'" % prefix)
                stripped = True
    return sd, notes


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Writing.

def tensor_to_le_array(tensor, st_dtype):
    """A C-contiguous little-endian numpy array of the tensor in "BF16" (raw bits) or "F32"."""
    import torch
    t = tensor.detach().cpu()
    if st_dtype == "BF16":
        return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().astype("<i2", copy=False)
    return t.to(torch.float32).contiguous().numpy().astype("<f4", copy=False)


ST_DTYPE_SIZE = {"BF16": 2, "F32": 4}


def write_safetensors(path, entries, metadata):
    """entries: list of (name, st_dtype, shape, tensor). Writes the tensors in the given order,
    converting one at a time (so an F32 output never holds a second copy of the model), the
    header padded with spaces to a multiple of 8, via a temporary file renamed into place."""
    header = collections.OrderedDict()
    header["__metadata__"] = collections.OrderedDict(sorted(metadata.items()))
    offset = 0
    for name, st_dtype, shape, _ in entries:
        nbytes = ST_DTYPE_SIZE[st_dtype]
        for x in shape:
            nbytes *= x
        header[name] = collections.OrderedDict(
            [("dtype", st_dtype), ("shape", list(shape)),
             ("data_offsets", [offset, offset + nbytes])])
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    blob += b" " * (-len(blob) % 8)
    _atomic_write(path, lambda f: _write_st_body(f, blob, header, entries))


def _write_st_body(f, header_blob, header, entries):
    f.write(struct.pack("<Q", len(header_blob)))
    f.write(header_blob)
    for name, st_dtype, _, tensor in entries:
        arr = tensor_to_le_array(tensor, st_dtype)
        begin, end = header[name]["data_offsets"]
        if arr.nbytes != end - begin:
            raise ConversionError("internal error: %s converted to %d bytes, expected %d"
                                  % (name, arr.nbytes, end - begin))
        f.write(memoryview(arr).cast("B"))


def _atomic_write(path, write_fn):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _plain_number(x):
    x = float(x)
    return int(x) if x.is_integer() else x


def build_config(dims, args, ratio):
    cfg = collections.OrderedDict()
    cfg["name"] = args.name or os.path.basename(os.path.normpath(os.path.abspath(args.out)))
    cfg["n_layer"] = dims.L
    cfg["n_embd"] = dims.C
    cfg["dim_att"] = dims.A
    cfg["dim_ffn"] = dims.F
    cfg["head_size"] = dims.N
    cfg["vocab_size"] = dims.V
    cfg["inv_other_layer_ratio"] = _plain_number(args.inv_ratio)
    cfg["kv_cache_compression_ratio"] = _plain_number(ratio)
    if args.rope_base is None:
        cfg["rope"] = None
    else:
        cfg["rope"] = collections.OrderedDict([("base", float(args.rope_base)),
                                               ("rescale", float(args.rope_rescale)),
                                               ("rebase", float(args.rope_rebase))])
    cfg["tokenizer"] = args.tokenizer
    if args.tokenizer_file:
        cfg["tokenizer_file"] = args.tokenizer_file
    cfg["eos_token_id"] = args.eos_token_id
    cfg["max_context"] = args.max_context
    return cfg


def plan_output(sd, schema, args):
    """Chooses the stored dtype of every tensor. Returns (entries without data, warnings)."""
    import torch
    warnings = []
    plan = []
    rounded = []
    for name, (shape, kind) in schema.items():
        if args.drop_faaaa and name.endswith(".att.time_faaaa"):
            continue
        t = sd[name]
        if not t.is_floating_point():
            raise ConversionError("tensor '%s' has dtype %s; a floating-point dtype is required"
                                  % (name, t.dtype))
        if not bool(torch.isfinite(t).all()):
            raise ConversionError("tensor '%s' holds NaN or infinite values" % name)
        st_dtype = "F32" if (args.dtype == "f32" or (kind == "vector" and args.upcast_vectors)) \
            else "BF16"
        if st_dtype == "BF16" and t.dtype != torch.bfloat16:
            if not bool((t.to(torch.bfloat16).to(t.dtype) == t).all()):
                rounded.append(name)
        plan.append((name, st_dtype, shape))
    if rounded:
        warnings.append("%d tensors were not bf16 and were rounded to bf16 (first: %s); use "
                        "--dtype f32 to keep them exact" % (len(rounded), rounded[0]))
    # F32 tensors first so that every tensor starts at a multiple of its element size.
    plan.sort(key=lambda e: 0 if e[1] == "F32" else 1)
    return plan, warnings


def check_args(args, dims):
    if args.use_one_minus_w != 1 or args.use_v2 != 1:
        raise ConversionError("only use_one_minus_w = 1 and use_v2 = 1 are supported (all "
                              "released GoldFinch checkpoints use them)")
    if args.rope_base is None and (args.rope_rescale != 1.0 or args.rope_rebase != 1.0):
        raise ConversionError("--rope-rescale/--rope-rebase need --rope-base (RoPE is off "
                              "without it)")
    if args.rope_base is not None and not (args.rope_base > 0 and args.rope_rescale > 0
                                           and args.rope_rebase > 0):
        raise ConversionError("RoPE base, rescale and rebase must be positive")
    if args.rope_base is not None and dims.N % 2:
        raise ConversionError("RoPE needs an even head_size, got %d" % dims.N)
    if not 0 <= args.eos_token_id < dims.V:
        raise ConversionError("--eos-token-id %d is outside the vocabulary [0, %d)"
                              % (args.eos_token_id, dims.V))
    if args.max_context < 0:
        raise ConversionError("--max-context must be >= 0")
    warnings = []
    if args.tokenizer == "world" and dims.V < 65530:
        warnings.append("the World tokenizer emits ids up to 65529 but vocab_size is %d"
                        % dims.V)
    if args.tokenizer == "byte" and dims.V < 257:
        warnings.append("the byte tokenizer emits ids up to 256 but vocab_size is %d" % dims.V)
    if args.rope_base is not None and args.max_context == 0:
        warnings.append("RoPE is on but --max-context is 0; the training ctx_len (1024 for the "
                        "released rope10k ablation) is recommended")
    return warnings


def check_output_dir(out, overwrite):
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConversionError("output path %s exists and is not a directory" % out)
    if not os.path.isdir(out):
        return
    existing = sorted(os.listdir(out))
    others = [n for n in existing if n.endswith(".safetensors") and n != "model.safetensors"]
    if others:
        raise ConversionError("%s already holds %s; the engine loads every *.safetensors file "
                              "in a model directory, so use an empty directory"
                              % (out, ", ".join(others)))
    ours = [n for n in ("config.json", "model.safetensors") if n in existing]
    if ours and not overwrite:
        raise ConversionError("%s already holds %s; pass --overwrite to replace"
                              % (out, " and ".join(ours)))


def convert(args):
    if not args.dry_run:
        check_output_dir(args.out, args.overwrite)
    sd, notes = load_state_dict(args.checkpoint, args.trust_pickle)
    shapes = collections.OrderedDict((k, tuple(v.shape)) for k, v in sd.items())
    dims = infer_dims(shapes, args.inv_ratio, args.head_size)
    with_faaaa = "blocks.0.att.time_faaaa" in shapes
    schema = expected_tensors(dims, with_faaaa)
    extra = check_names_and_shapes(shapes, schema, args.allow_extra)
    warnings = check_args(args, dims)
    ratio = compression_ratio_for(dims.C, dims.c)
    if extra:
        warnings.append("dropped %d unexpected tensors: %s" % (len(extra), ", ".join(extra[:10])))
    plan, more = plan_output(sd, schema, args)
    warnings += more
    cfg = build_config(dims, args, ratio)

    for n in notes:
        print("note: " + n, file=sys.stderr)
    for w in warnings:
        print("warning: " + w, file=sys.stderr)
    params = parameter_count(dims, with_faaaa)
    print("GoldFinch: n_layer %d (Finch-C2 0..%d, GOLD %d..%d), n_embd %d, dim_ffn %d, heads %d x "
          "%d, vocab %d, compressed dim %d, GOLD LoRA rank %d, %d parameters"
          % (dims.L, dims.s - 1, dims.s, dims.L - 1, dims.C, dims.F, dims.H, dims.N, dims.V,
             dims.c, dims.D_g, params))
    config_text = json.dumps(cfg, indent=2) + "\n"
    if args.dry_run:
        sys.stdout.write(config_text)
        return 0

    os.makedirs(args.out, exist_ok=True)
    entries = [(name, st, shape, sd[name]) for name, st, shape in plan]
    metadata = {
        "format": "pt",
        "converter": "goldfinch-serve tools/convert_checkpoint.py v" + CONVERTER_VERSION,
        "source_sha256": file_sha256(args.checkpoint),
        "dtype": args.dtype,
        "upcast_vectors": "1" if (args.upcast_vectors or args.dtype == "f32") else "0",
        "dropped_time_faaaa": "1" if (args.drop_faaaa or not with_faaaa) else "0",
    }
    st_path = os.path.join(args.out, "model.safetensors")
    write_safetensors(st_path, entries, metadata)
    _atomic_write(os.path.join(args.out, "config.json"),
                  lambda f: f.write(config_text.encode("utf-8")))
    print("wrote %s (%d tensors, %d bytes) and %s"
          % (st_path, len(entries), os.path.getsize(st_path),
             os.path.join(args.out, "config.json")))
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Convert an upstream GoldFinch .pth state dict into a goldfinch-serve model "
                    "directory (config.json + model.safetensors).")
    p.add_argument("checkpoint", help="upstream .pth (torch.save of Transformer.state_dict())")
    p.add_argument("out", help="output model directory (created if missing)")
    p.add_argument("--name", help="model name in config.json (default: the output directory name)")
    p.add_argument("--inv-ratio", type=float, default=3.0,
                   help="inv_other_layer_ratio the checkpoint was trained with; cross-checks the "
                        "first GOLD layer (default 3; the released ablations use 2 and 6)")
    p.add_argument("--rope-base", type=float,
                   help="enable RoPE in GOLD attention with this base (10000 for "
                        "goldfinch_rope10k.pth); default: no positional encoding")
    p.add_argument("--rope-rescale", type=float, default=1.0, help="RoPE rescale (default 1)")
    p.add_argument("--rope-rebase", type=float, default=1.0, help="RoPE rebase (default 1)")
    p.add_argument("--max-context", type=int, default=0,
                   help="max_context written to config.json (0 = unlimited, the NoPE default)")
    p.add_argument("--tokenizer", choices=("world", "byte"), default="world",
                   help="tokenizer kind (default world: rwkv_vocab_v20230424)")
    p.add_argument("--tokenizer-file",
                   help="tokenizer file, relative to the model directory (default: the kind's "
                        "default)")
    p.add_argument("--eos-token-id", type=int, default=0,
                   help="id that ends generation (default 0 = <|endoftext|>)")
    p.add_argument("--dtype", choices=("bf16", "f32"), default="bf16",
                   help="stored dtype of the tensors (default bf16, as released)")
    p.add_argument("--upcast-vectors", action="store_true",
                   help="store the elementwise parameters (mixes, LayerNorms, time_decay, "
                        "time_faaaa) as F32 (exact)")
    p.add_argument("--drop-faaaa", action="store_true",
                   help="leave out the unused time_faaaa tensors (the engine loads either way)")
    p.add_argument("--head-size", type=int,
                   help="head_size, only needed when the checkpoint has no time_faaaa")
    p.add_argument("--use-one-minus-w", type=int, default=1, help="must be 1 (GoldFinch)")
    p.add_argument("--use-v2", type=int, default=1, help="must be 1 (GoldFinch)")
    p.add_argument("--allow-extra", action="store_true",
                   help="drop tensors that are not part of the GoldFinch layout instead of failing")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load with full unpickling instead of torch's weights_only mode "
                        "(only for files you trust)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace config.json/model.safetensors in an existing output directory")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and print config.json without writing anything")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        importlib.import_module("torch")
    except ImportError:
        print("convert_checkpoint.py: error: PyTorch is not importable from %s; run it with "
              "/usr/bin/python3" % sys.executable, file=sys.stderr)
        return 1
    try:
        return convert(args)
    except ConversionError as e:
        print("convert_checkpoint.py: error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
