"""Tests for tools/convert_checkpoint.py.

Run from the repository root with Debian's Python (it has torch):
    /usr/bin/python3 -m unittest discover -s tools/tests -v
The golden cases come from $GF_SHARED_DIR/golden (default: ../shared beside the repository root).
The end-to-end tests build an upstream-style .pth (torch.save of an OrderedDict of bf16 tensors)
from each golden weights.safetensors, run the converter as a subprocess the way users run it,
and read its output back with the independent safetensors reader below. Tests that need torch
or the golden data skip with a message saying so; the schema tests need neither.
"""

import collections
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_DIR = os.environ.get("GF_SHARED_DIR") or os.path.join(REPO_ROOT, "..", "shared")
GOLDEN_DIR = os.path.join(SHARED_DIR, "golden")
CONVERTER = os.path.join(REPO_ROOT, "tools", "convert_checkpoint.py")
CASES = ("gf_L4_D64_hs32_V256_T23", "gf_L6_D128_hs64_V1000_T47",
         "gf_L5_D96_hs32_V512_T64_rope10k")
SMALL = CASES[0]

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import convert_checkpoint as cc  # noqa: E402  (importable without torch)

try:
    import numpy as np
    import torch
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False
TORCH_SKIP = ("PyTorch/numpy not importable from %s; run these tests with /usr/bin/python3"
              % sys.executable)

def is_vector(name, shape):
    """Elementwise parameters: [1,1,C] mixes and time_decay, LayerNorm params, time_faaaa."""
    if "time_maa_" in name and list(shape[:2]) == [1, 1]:
        return True
    if name.endswith("time_decay") or name.endswith("time_faaaa"):
        return True
    return len(shape) == 1


def _require(condition, message):
    if not condition:
        raise AssertionError(message)


def read_safetensors(path):
    """Independent reader with strict format checks (raises AssertionError). Returns
    (metadata, {name: (dtype, shape, raw bytes)}) in the header's order."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    _require(n % 8 == 0 and 8 + n <= len(blob), "header length %d is not padded to 8" % n)
    text = blob[8:8 + n].decode("ascii")
    _require(text.lstrip().startswith("{") and text.rstrip(" ").endswith("}"),
             "the header must be a JSON object padded with spaces")
    header = json.loads(text, object_pairs_hook=collections.OrderedDict)
    metadata = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = collections.OrderedDict()
    end = 0
    sizes = {"BF16": 2, "F32": 4, "I32": 4}
    for name, info in header.items():
        begin, stop = info["data_offsets"]
        _require(begin == end, "tensors must be contiguous, in header order: " + name)
        _require(begin % sizes[info["dtype"]] == 0, "misaligned tensor " + name)
        count = 1
        for x in info["shape"]:
            count *= x
        _require(stop - begin == count * sizes[info["dtype"]], "wrong byte size: " + name)
        tensors[name] = (info["dtype"], tuple(info["shape"]), data[begin:stop])
        end = stop
    _require(end == len(data), "the data section must be fully covered")
    return metadata, tensors


def as_f32(dtype, raw, shape):
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype="<f4").reshape(shape)


def bf16_bits(dtype, raw, shape, test, name):
    test.assertEqual(dtype, "BF16", name)
    return np.frombuffer(raw, dtype="<u2").reshape(shape)


class SchemaTest(unittest.TestCase):
    """Shape inference and the tensor schema, checked against the model doc (no torch needed)."""

    def released_dims(self, L, C, rho, F):
        s = cc.first_gold_layer(L, rho)
        return cc.Dims(V=65536, C=C, A=C, F=F, L=L, s=s, H=C // 64, N=64, c=int(C / 16),
                       D_g=max(C // 16, 64))

    def test_first_gold_layer_matches_doc(self):
        self.assertEqual(cc.first_gold_layer(12, 3), 8)
        self.assertEqual(cc.first_gold_layer(24, 3), 16)
        self.assertEqual(cc.first_gold_layer(12, 2), 6)
        self.assertEqual(cc.first_gold_layer(12, 6), 10)
        self.assertEqual(cc.first_gold_layer(5, 3), 3)

    def test_parameter_counts_match_released_checkpoints(self):
        # Model doc section 2.5 (checked there against an instantiated upstream model).
        self.assertEqual(cc.parameter_count(self.released_dims(12, 768, 3, 2688)), 186617856)
        self.assertEqual(cc.parameter_count(self.released_dims(12, 768, 2, 2688)), 184066560)
        self.assertEqual(cc.parameter_count(self.released_dims(12, 768, 6, 2688)), 189169152)
        self.assertEqual(cc.parameter_count(self.released_dims(24, 2048, 3, 7168)), 1445257216)

    def test_infers_released_shapes(self):
        for L, C, F, c, dg in ((12, 768, 2688, 48, 64), (24, 2048, 7168, 128, 128)):
            dims = self.released_dims(L, C, 3, F)
            shapes = {k: v[0] for k, v in cc.expected_tensors(dims).items()}
            got = cc.infer_dims(shapes, 3.0)
            self.assertEqual(got, dims)
            self.assertEqual((got.c, got.D_g, got.H), (c, dg, C // 64))
            self.assertEqual(cc.compression_ratio_for(C, c), 16.0)
            self.assertEqual(cc.check_names_and_shapes(shapes, cc.expected_tensors(got)), [])

    def test_inv_ratio_ablation_needs_its_ratio(self):
        dims = self.released_dims(12, 768, 2, 2688)
        shapes = {k: v[0] for k, v in cc.expected_tensors(dims).items()}
        self.assertEqual(cc.infer_dims(shapes, 2.0).s, 6)
        with self.assertRaisesRegex(cc.ConversionError, r"first GOLD layer .* is 6.*= 8"):
            cc.infer_dims(shapes, 3.0)

    def test_one_to_one_compression_gets_ratio_one(self):
        self.assertEqual(cc.compression_ratio_for(2048, 2048), 1.0)
        self.assertEqual(int(2048 / cc.compression_ratio_for(2048, 96)), 96)

    def test_rejects_finch_c2_with_clear_message(self):
        dims = self.released_dims(12, 768, 3, 2688)
        shapes = {k: v[0] for k, v in cc.expected_tensors(dims).items()
                  if not k.startswith("w_kv_cache")}
        with self.assertRaisesRegex(cc.ConversionError, "not a GoldFinch checkpoint"):
            cc.infer_dims(shapes, 3.0)


@unittest.skipUnless(HAVE_TORCH, TORCH_SKIP)
class ConvertGoldenTest(unittest.TestCase):
    """End to end: golden weights -> bf16 .pth -> converter subprocess -> model directory."""

    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(GOLDEN_DIR):
            raise unittest.SkipTest("golden data not found at %s (set GF_SHARED_DIR)" % GOLDEN_DIR)
        cls.tmp = tempfile.TemporaryDirectory(prefix="convert_checkpoint_test_")
        cls.golden = {}   # case -> (config, OrderedDict name -> bf16 torch tensor)
        cls.pth = {}
        for case in CASES:
            case_dir = os.path.join(GOLDEN_DIR, case)
            with open(os.path.join(case_dir, "config.json")) as f:
                config = json.load(f)
            _, tensors = read_safetensors(os.path.join(case_dir, "weights.safetensors"))
            sd = collections.OrderedDict()
            for name, (dtype, shape, raw) in tensors.items():
                assert dtype == "F32", name
                sd[name] = torch.from_numpy(as_f32(dtype, raw, shape).copy()).to(torch.bfloat16)
            cls.golden[case] = (config, sd)
            cls.pth[case] = cls.save_pth(case, sd)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def save_pth(cls, label, state_dict):
        path = os.path.join(cls.tmp.name, label + ".pth")
        torch.save(collections.OrderedDict(state_dict), path)
        return path

    def run_converter(self, pth, *flags, out=None):
        out = out or tempfile.mkdtemp(dir=self.tmp.name, prefix="out_")
        proc = subprocess.run([sys.executable, CONVERTER, pth, out] + list(flags),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=300)
        return proc, out

    def convert_ok(self, pth, *flags):
        proc, out = self.run_converter(pth, *flags)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(out, "config.json")) as f:
            config = json.load(f, object_pairs_hook=collections.OrderedDict)
        metadata, tensors = read_safetensors(os.path.join(out, "model.safetensors"))
        self.assertEqual(sorted(os.listdir(out)), ["config.json", "model.safetensors"])
        return config, metadata, tensors, out

    def convert_fails(self, pth, *flags):
        proc, out = self.run_converter(pth, *flags)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "model.safetensors")))
        return proc.stderr

    def expected_bits(self, tensor):
        return tensor.contiguous().view(torch.int16).numpy().view(np.uint16)

    def check_config(self, case, config):
        model = self.golden[case][0]["model"]
        for key in ("n_layer", "n_embd", "dim_att", "dim_ffn", "head_size", "vocab_size",
                    "inv_other_layer_ratio", "kv_cache_compression_ratio", "rope"):
            self.assertEqual(config[key], model[key], key)
        # Derived values the engine recomputes from these keys.
        L, rho = config["n_layer"], config["inv_other_layer_ratio"]
        self.assertEqual(cc.first_gold_layer(L, rho), model["first_gold_layer"])
        self.assertEqual(int(config["n_embd"] / config["kv_cache_compression_ratio"]),
                         model["kv_cache_compressed_dim"])
        self.assertEqual(config["dim_att"] // config["head_size"], model["n_head"])

    def test_golden_cases_convert_exactly(self):
        for case in CASES:
            with self.subTest(case=case):
                config, sd = self.golden[case]
                flags = ["--name", case]
                rope = case.endswith("rope10k")
                if rope:
                    flags += ["--rope-base", "10000", "--max-context",
                              str(config["model"]["ctx_len"])]
                got_cfg, metadata, tensors, _ = self.convert_ok(self.pth[case], *flags)
                self.check_config(case, got_cfg)
                self.assertEqual(list(got_cfg.keys()),
                                 ["name", "n_layer", "n_embd", "dim_att", "dim_ffn", "head_size",
                                  "vocab_size", "inv_other_layer_ratio",
                                  "kv_cache_compression_ratio", "rope", "tokenizer",
                                  "eos_token_id", "max_context"])
                self.assertEqual(got_cfg["name"], case)
                self.assertEqual(got_cfg["tokenizer"], "world")
                self.assertEqual(got_cfg["eos_token_id"], 0)
                self.assertEqual(got_cfg["max_context"], config["model"]["ctx_len"] if rope else 0)
                if rope:
                    self.assertEqual(got_cfg["rope"],
                                     {"base": 10000.0, "rescale": 1.0, "rebase": 1.0})
                self.assertEqual(metadata["format"], "pt")
                self.assertEqual(set(tensors), set(sd))
                for name, tensor in sd.items():
                    dtype, shape, raw = tensors[name]
                    self.assertEqual(shape, tuple(tensor.shape), name)
                    np.testing.assert_array_equal(bf16_bits(dtype, raw, shape, self, name),
                                                  self.expected_bits(tensor), err_msg=name)

    def test_rope_needs_the_flag(self):
        case = CASES[2]
        config, _, _, _ = self.convert_ok(self.pth[case])
        self.assertIsNone(config["rope"])  # RoPE is not inferable from the weights
        config, _, _, _ = self.convert_ok(self.pth[case], "--rope-base", "500000",
                                          "--rope-rescale", "2", "--rope-rebase", "0.5")
        self.assertEqual(config["rope"], {"base": 500000.0, "rescale": 2.0, "rebase": 0.5})

    def test_upcast_vectors_and_f32(self):
        _, sd = self.golden[SMALL]
        for flags, all_f32 in ((["--upcast-vectors"], False), (["--dtype", "f32"], True)):
            with self.subTest(flags=flags):
                _, metadata, tensors, _ = self.convert_ok(self.pth[SMALL], *flags)
                self.assertEqual(metadata["upcast_vectors"], "1")
                self.assertEqual(set(tensors), set(sd))
                for name, tensor in sd.items():
                    dtype, shape, raw = tensors[name]
                    want_f32 = all_f32 or is_vector(name, shape)
                    self.assertEqual(dtype, "F32" if want_f32 else "BF16", name)
                    np.testing.assert_array_equal(as_f32(dtype, raw, shape),
                                                  tensor.float().numpy(), err_msg=name)
                vectors = [n for n in sd if is_vector(n, tuple(sd[n].shape))]
                self.assertIn("blocks.0.att.time_decay", vectors)
                self.assertIn("blocks.3.att.ln_k.bias", vectors)
                self.assertIn("blocks.2.ffn.time_maa_r", vectors)
                self.assertNotIn("blocks.0.att.time_maa_w2", vectors)

    def test_drop_faaaa(self):
        _, sd = self.golden[SMALL]
        _, metadata, tensors, _ = self.convert_ok(self.pth[SMALL], "--drop-faaaa")
        self.assertEqual(metadata["dropped_time_faaaa"], "1")
        kept = {n for n in sd if not n.endswith("time_faaaa")}
        self.assertEqual(len(sd) - len(kept), 2)  # two Finch-C2 layers
        self.assertEqual(set(tensors), kept)

    def test_prefixes_are_stripped(self):
        _, sd = self.golden[SMALL]
        _, _, plain, _ = self.convert_ok(self.pth[SMALL])
        for prefix in ("_orig_mod.", "model._orig_mod."):
            with self.subTest(prefix=prefix):
                pth = self.save_pth("prefixed_" + prefix.replace(".", "_"),
                                    [(prefix + k, v) for k, v in sd.items()])
                _, _, tensors, _ = self.convert_ok(pth)
                self.assertEqual(list(tensors.items()), list(plain.items()))

    def test_output_is_deterministic(self):
        _, _, _, out1 = self.convert_ok(self.pth[SMALL], "--name", "x")
        _, _, _, out2 = self.convert_ok(self.pth[SMALL], "--name", "x")
        for fname in ("config.json", "model.safetensors"):
            with open(os.path.join(out1, fname), "rb") as a, \
                    open(os.path.join(out2, fname), "rb") as b:
                self.assertEqual(a.read(), b.read(), fname)

    def test_config_flags(self):
        config, _, _, out = self.convert_ok(
            self.pth[SMALL], "--tokenizer", "byte", "--tokenizer-file", "vocab.txt",
            "--eos-token-id", "5")
        self.assertEqual(config["name"], os.path.basename(out))
        self.assertEqual(config["tokenizer"], "byte")
        self.assertEqual(config["tokenizer_file"], "vocab.txt")
        self.assertEqual(config["eos_token_id"], 5)

    def test_dry_run_writes_nothing(self):
        out = os.path.join(self.tmp.name, "dry")
        proc, _ = self.run_converter(self.pth[SMALL], "--dry-run", out=out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('"n_layer": 4', proc.stdout)
        self.assertFalse(os.path.exists(out))

    def test_refuses_to_overwrite(self):
        _, _, _, out = self.convert_ok(self.pth[SMALL])
        proc, _ = self.run_converter(self.pth[SMALL], out=out)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("--overwrite", proc.stderr)
        proc, _ = self.run_converter(self.pth[SMALL], "--overwrite", out=out)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_rejects_state_dict_without_kv_cache(self):
        _, sd = self.golden[SMALL]
        pth = self.save_pth("no_kv_cache_a", [(k, v) for k, v in sd.items()
                                              if k != "w_kv_cache_a.weight"])
        err = self.convert_fails(pth)
        self.assertIn("not a GoldFinch checkpoint", err)
        self.assertIn("w_kv_cache_a.weight", err)

    def test_rejects_inconsistent_inv_ratio(self):
        case = CASES[1]  # L6: rho 3 -> first GOLD layer 4; rho 2 would put it at 3
        err = self.convert_fails(self.pth[case], "--inv-ratio", "2")
        self.assertIn("first GOLD layer", err)
        self.assertIn("is 4", err)
        self.assertIn("= 3", err)

    def test_rejects_misshaped_tensor(self):
        _, sd = self.golden[SMALL]
        bad = collections.OrderedDict(sd)
        bad["blocks.1.att.time_maa_w2"] = sd["blocks.1.att.time_maa_w2"][:, :16, :].clone()
        err = self.convert_fails(self.save_pth("misshaped", bad))
        self.assertIn("'blocks.1.att.time_maa_w2' has shape [5, 16, 64], expected [5, 32, 64]",
                      err)

    def test_rejects_missing_and_extra_tensors(self):
        _, sd = self.golden[SMALL]
        bad = collections.OrderedDict(sd)
        del bad["blocks.3.att.ln_k.bias"]
        bad["blocks.3.att.rotary.inv_freq"] = torch.ones(16, dtype=torch.bfloat16)
        err = self.convert_fails(self.save_pth("missing_extra", bad))
        self.assertIn("missing tensor 'blocks.3.att.ln_k.bias'", err)
        self.assertIn("blocks.3.att.rotary.inv_freq", err)

    def test_rejects_inconsistent_head_shapes(self):
        _, sd = self.golden[SMALL]
        bad = collections.OrderedDict(sd)
        bad["blocks.0.att.time_faaaa"] = sd["blocks.0.att.time_faaaa"].reshape(4, 16).clone()
        err = self.convert_fails(self.save_pth("faaaa_4x16", bad))
        # head_size 16 is inferred, so the other Finch-C2 layer's time_faaaa is misshaped.
        self.assertIn("'blocks.1.att.time_faaaa' has shape [2, 32], expected [4, 16]", err)

    def test_rejects_non_finite_values(self):
        _, sd = self.golden[SMALL]
        bad = collections.OrderedDict(sd)
        t = sd["head.weight"].clone()
        t[3, 5] = float("nan")
        bad["head.weight"] = t
        err = self.convert_fails(self.save_pth("nan", bad))
        self.assertIn("'head.weight' holds NaN", err)


if __name__ == "__main__":
    unittest.main()
