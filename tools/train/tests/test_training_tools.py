"""Tests for the training tools around the model: evaluation.py (scored positions, bits per byte,
n-gram baselines), prepare_data.py (encoding and the hash split, without the Debian packages),
train.py (schedule, seeded batches, export + resume on a tiny run) and make_reference_logits.py.

Run from the repository root with Debian's Python (it has torch):
    /usr/bin/python3 -m unittest discover -s tools/train/tests -v
"""

import contextlib
import io
import json
import math
import os
import sys
import tempfile
import unittest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

try:
    import numpy as np
    import torch
    sys.path.insert(0, os.path.join(REPO_ROOT, "tools", "train"))
    import evaluation
    import goldfinch_torch as gt
    import make_reference_logits
    import prepare_data
    import st_io
    import train
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False
TORCH_SKIP = ("PyTorch/numpy not importable from %s; run these tests with /usr/bin/python3"
              % sys.executable)


def tiny_model(seed=3):
    cfg = gt.GoldFinchConfig(n_layer=3, n_embd=64, vocab_size=257, head_size=32)
    model = gt.GoldFinch(cfg)
    gt.init_for_training(model, seed)
    with torch.no_grad():   # make every block matter (training init zeroes output projections)
        g = torch.Generator().manual_seed(seed)
        for p in model.parameters():
            if p.dim() >= 2 and not p.abs().sum():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


@unittest.skipUnless(HAVE_TORCH, TORCH_SKIP)
class EvaluationTest(unittest.TestCase):
    def test_scored_windows_cover_every_position_but_the_first_once(self):
        for n, ctx in ((10, 4), (9, 4), (5, 16), (2, 1), (1, 4)):
            covered = []
            for start, length in evaluation.scored_windows(n, ctx):
                self.assertLessEqual(length, ctx + 1)
                covered.extend(range(start + 1, start + length))
            self.assertEqual(covered, list(range(1, n)), (n, ctx))

    def test_bits_per_byte_matches_direct_cross_entropy(self):
        model = tiny_model()
        ids = np.array([0, 73, 33, 98, 100, 0, 5, 6, 7, 8, 9, 10, 255], dtype=np.uint16)
        bpb, n = evaluation.model_bits_per_byte(model, ids, ctx=5, batch=2)
        self.assertEqual(n, 12)
        with torch.no_grad():
            bits = 0.0
            for start, length in ((0, 6), (5, 6), (10, 3)):
                x = torch.tensor(ids[start:start + length].astype(np.int64))[None]
                logp = torch.log_softmax(model(x[:, :-1]).double(), -1)[0]
                bits -= float(logp.gather(1, x[0, 1:, None]).sum()) / math.log(2)
        self.assertAlmostEqual(bpb, bits / 12, places=6)   # float32 batching differs

    def test_ngram_baselines_by_hand(self):
        train_ids = np.array([1, 2, 1, 2, 1], dtype=np.uint16)
        val_ids = np.array([1, 2, 3], dtype=np.uint16)
        base = evaluation.ngram_baselines(train_ids, val_ids, ctx=8)
        # unigram counts+1: id1 4, id2 3, others 1; total 5 + 257 = 262
        uni = -(math.log2(3 / 262) + math.log2(1 / 262)) / 2
        # bigram rows+1: after 1: {2: 2+1} of 2+257; after 2: {1: 2+1, 3: 0+1} of 2+257
        bi = -(math.log2(3 / 259) + math.log2(1 / 259)) / 2
        self.assertAlmostEqual(base["unigram_bpb"], uni, places=12)
        self.assertAlmostEqual(base["bigram_bpb"], bi, places=12)
        self.assertEqual(base["scored_tokens"], 2)

    def test_text_round_trip_and_sampling_is_seeded(self):
        ids = evaluation.encode_text("héllo")
        self.assertEqual(ids[:2], [ord("h") + 1, 0xC3 + 1])
        self.assertEqual(evaluation.decode_ids(ids), "héllo")
        model = tiny_model()
        a = evaluation.sample(model, [0, 5], 12, 1.0, seed=9, ctx=8)
        b = evaluation.sample(model, [0, 5], 12, 1.0, seed=9, ctx=8)
        self.assertEqual(a, b)
        self.assertTrue(all(0 < t < 257 for t in a))


@unittest.skipUnless(HAVE_TORCH, TORCH_SKIP)
class PrepareDataTest(unittest.TestCase):
    def test_encode_appends_end_of_text_after_each_document(self):
        ids = prepare_data.encode([("a", "Hi"), ("b", "é")])
        self.assertEqual(ids.tolist(), [ord("H") + 1, ord("i") + 1, 0, 0xC3 + 1, 0xA9 + 1, 0])
        self.assertEqual(ids.dtype, np.dtype("<u2"))

    def test_unit_hash_is_stable_and_salted(self):
        h = prepare_data.unit_hash("kjv", "text")
        self.assertEqual(h, prepare_data.unit_hash("kjv", "text"))
        self.assertTrue(0.0 <= h < 1.0)
        self.assertNotEqual(h, prepare_data.unit_hash("fortunes", "text"))


@unittest.skipUnless(HAVE_TORCH, TORCH_SKIP)
class TrainTest(unittest.TestCase):
    def args(self, tmp, *extra):
        return train.parse_args(["--data", os.path.join(tmp, "data"), "--run-dir",
                                 os.path.join(tmp, "run"), "--out", os.path.join(tmp, "model"),
                                 "--n-layer", "3", "--n-embd", "64", "--dim-ffn", "128",
                                 "--head-size", "32", "--ctx", "16", "--batch", "2",
                                 "--warmup", "2", "--threads", "1", "--log-every", "1",
                                 "--eval-every", "3", "--eval-tokens", "64",
                                 "--sample-bytes", "8"] + list(extra))

    def run_train(self, tmp, *extra):
        with contextlib.redirect_stdout(io.StringIO()):
            return train.train(self.args(tmp, *extra))

    def make_data(self, tmp):
        os.makedirs(os.path.join(tmp, "data"))
        rng = np.random.default_rng(0)
        for split, n in (("train", 3000), ("val", 200)):
            ids = prepare_data.encode([("t", "".join(chr(97 + c) for c in rng.integers(0, 4, 30)))
                                       for _ in range(n // 31)])
            ids.tofile(os.path.join(tmp, "data", split + ".bin"))
        with open(os.path.join(tmp, "data", "data_info.json"), "w") as f:
            json.dump({"packages": {"none": "0"}, "kjv_fraction": 0.5, "val_fraction": 0.05,
                       "stats": {s: {"bytes": {"train": 1, "val": 1}}
                                 for s in ("fortunes", "kjv")}}, f)

    def test_schedule_warms_up_then_decays_to_the_floor(self):
        a = train.parse_args(["--steps", "100", "--warmup", "10", "--lr", "1e-3"])
        self.assertAlmostEqual(train.lr_at(0, a), 1e-4)
        self.assertAlmostEqual(train.lr_at(9, a), 1e-3)
        self.assertAlmostEqual(train.lr_at(10, a), 1e-3)
        self.assertAlmostEqual(train.lr_at(100, a), 1e-4)
        self.assertGreater(train.lr_at(40, a), train.lr_at(60, a))

    def test_batches_depend_only_on_seed_and_step(self):
        ids = np.arange(1000, dtype=np.uint16) % 257
        a = train.batch_for_step(ids, 7, 1, 4, 16)
        self.assertTrue(torch.equal(a, train.batch_for_step(ids, 7, 1, 4, 16)))
        self.assertFalse(torch.equal(a, train.batch_for_step(ids, 8, 1, 4, 16)))
        self.assertEqual(tuple(a.shape), (4, 17))

    def test_stopped_and_resumed_run_equals_uninterrupted_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.make_data(tmp)
            self.assertEqual(self.run_train(tmp, "--steps", "6", "--no-export"), 0)
            straight = torch.load(os.path.join(tmp, "run", "checkpoint.pt"))["model"]
            # The same run paused at step 4, then resumed.
            self.assertEqual(self.run_train(tmp, "--steps", "6", "--fresh",
                                            "--stop-at-step", "4"), 0)
            self.assertEqual(torch.load(os.path.join(tmp, "run", "checkpoint.pt"))["step"], 4)
            self.assertFalse(os.path.exists(os.path.join(tmp, "model")))
            self.assertEqual(self.run_train(tmp, "--steps", "6"), 0)
            resumed = torch.load(os.path.join(tmp, "run", "checkpoint.pt"))["model"]
            for name in straight:
                self.assertTrue(torch.equal(straight[name], resumed[name]), name)
            out = os.path.join(tmp, "model")
            with open(os.path.join(out, "config.json")) as f:
                conf = json.load(f)
            self.assertEqual((conf["name"], conf["vocab_size"], conf["tokenizer"]),
                             ("goldfinch-byte-small", 257, "byte"))
            with open(os.path.join(out, "training_report.json")) as f:
                report = json.load(f)
            self.assertEqual(report["steps_done"], 6)
            self.assertEqual(len(report["samples"]), 3)
            val_ids = np.fromfile(os.path.join(tmp, "data", "val.bin"), dtype="<u2")
            shipped_bpb, scored = evaluation.model_bits_per_byte(gt.load_model_dir(out),
                                                                 val_ids, ctx=16)
            self.assertAlmostEqual(report["val_bpb"], shipped_bpb, places=6)
            self.assertEqual(report["val_scored_tokens"], scored)
            self.assertEqual(scored, val_ids.size - 1)
            with open(os.path.join(out, "MODEL_CARD.md")) as f:
                card = f.read()
            self.assertIn("%.3f" % report["val_bpb"], card)
            self.assertIn("--steps 6", card)
            with self.assertRaises(train.TrainError):   # options changed: refuse to resume
                self.run_train(tmp, "--steps", "7", "--no-export")

    def test_time_budget_stops_and_still_exports(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.make_data(tmp)
            self.assertEqual(self.run_train(tmp, "--steps", "6", "--time-budget-minutes", "0"),
                             0)
            with open(os.path.join(tmp, "model", "training_report.json")) as f:
                report = json.load(f)
            self.assertEqual(report["steps_done"], 0)
            self.assertTrue(report["stopped_by_time_budget"])


@unittest.skipUnless(HAVE_TORCH, TORCH_SKIP)
class ReferenceLogitsTest(unittest.TestCase):
    def test_written_logits_equal_the_model_forward(self):
        model = tiny_model()
        with tempfile.TemporaryDirectory() as tmp:
            gt.save_model_dir(model, tmp, "tiny")
            out = os.path.join(tmp, "ref", "logits.safetensors")
            self.assertEqual(make_reference_logits.main(["--model-dir", tmp, "--out", out,
                                                         "--prompt", "Hi é"]), 0)
            meta, t = st_io.read_safetensors(out)
            shipped = gt.load_model_dir(tmp, dtype=torch.float64)
        self.assertEqual(t["prompt.tokens"].tolist(), [0, 73, 106, 33, 196, 170])
        self.assertEqual(t["prompt.tokens"].dtype, torch.int32)
        with torch.no_grad():
            expect = shipped(t["prompt.tokens"].long()[None])[0]
        self.assertEqual(tuple(t["prompt.logits"].shape), (6, 257))
        self.assertLess(float((t["prompt.logits"].double() - expect).abs().max()), 1e-6)
        self.assertLess(float(meta["max_abs_float32_minus_float64"]), 1e-4)
        self.assertEqual(len(meta["model_sha256"]), 64)


if __name__ == "__main__":
    unittest.main()
