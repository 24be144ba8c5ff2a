#!/usr/bin/python3
"""Builds the byte-level training data for models/goldfinch-byte-small from Debian packages.

It installs nothing. First (as root):
    apt-get install fortunes bible-kjv
(`fortunes` pulls in `fortunes-min`; `bible-kjv` is the reader program and pulls in
`bible-kjv-text`, the compressed King James text that only that program can decode.) Then:
    /usr/bin/python3 tools/train/prepare_data.py [--out .cache/train_data]

Corpus, chosen for varied English with a clear licence:
- fortunes / fortunes-min (BSD fortune(6) cookie files): about 14,000 short quotations, jokes,
  definitions, poems and bits of dialogue in modern English; one document per fortune. The
  `ascii-art` file (pictures, not text) is left out; nothing offensive is installed by these two
  packages (that set is `fortunes-off`).
- bible-kjv-text: the King James Bible (1611, public domain), one document per chapter: a heading
  line "Genesis 1", a blank line, then one verse per line without verse numbers. It is long,
  consistent prose, but archaic, so only a deterministic half of the chapters is used
  (--kjv-fraction 0.5), which puts the mix at roughly 45% Bible and 55% fortunes by bytes.
- Not used: dict-gcide (GPL-licensed, and its dictd markup would need a parser; its text is
  mostly terse definitions).
A training run of the intended size sees fewer bytes than the corpus holds, so what matters is
the mix, not the amount.

Output (in --out, which the repository's .gitignore already covers under .cache/):
  train.bin, val.bin   token ids as little-endian uint16 (byte b -> id b + 1; every document is
                       followed by id 0 = <|endoftext|>), documents in a fixed pseudo-random order
  data_info.json       package names and versions (dpkg-query), the split rule, document and byte
                       counts per source and split, and the SHA-256 of both files
Split: a document goes to validation when the first 8 bytes of SHA-256("<source>\\n<text>") read
as a big-endian integer, divided by 2^64, fall below --val-fraction (default 0.05). The same
value with a different salt decides which Bible chapters are kept. Deterministic: the same
packages give byte-identical files. Exit status 0 on success, 1 with a message when a package or
program is missing.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORTUNE_DIR = "/usr/share/games/fortunes"
FORTUNE_SKIP = {"ascii-art"}
PACKAGES = ("fortunes", "fortunes-min", "bible-kjv", "bible-kjv-text")
EOT = 0


class DataError(Exception):
    pass


def unit_hash(salt, text):
    digest = hashlib.sha256(salt.encode("utf-8") + b"\n" + text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def package_versions():
    versions = {}
    for pkg in PACKAGES:
        try:
            out = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg],
                                 capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise DataError("dpkg-query not found; this script needs a Debian system")
        status, _, version = out.stdout.partition("\t")
        if out.returncode != 0 or "installed" not in status.split():
            raise DataError("package %s is not installed; run: apt-get install fortunes "
                            "bible-kjv" % pkg)
        versions[pkg] = version
    return versions


def fortune_documents():
    if not os.path.isdir(FORTUNE_DIR):
        raise DataError("%s is missing; run: apt-get install fortunes" % FORTUNE_DIR)
    docs = []
    for name in sorted(os.listdir(FORTUNE_DIR)):
        path = os.path.join(FORTUNE_DIR, name)
        if "." in name or name in FORTUNE_SKIP or os.path.islink(path) or not os.path.isfile(path):
            continue   # *.dat indexes, *.u8 links
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace").replace("\r\n", "\n")
        entry = []
        for line in text.split("\n") + ["%"]:
            if line.rstrip() == "%":
                body = "\n".join(entry).strip("\n")
                if body.strip():
                    docs.append(("fortunes/" + name, "\n".join(l.rstrip() for l in
                                                               body.split("\n")) + "\n"))
                entry = []
            else:
                entry.append(line)
    return docs


def bible_documents():
    try:
        out = subprocess.run(["bible", "-l100000", "Gen1:1-Rev22:21"], capture_output=True,
                             check=False)
    except FileNotFoundError:
        raise DataError("the `bible` program is missing; run: apt-get install bible-kjv")
    if out.returncode != 0:
        raise DataError("`bible` failed: %s" % out.stderr.decode("utf-8", "replace").strip())
    docs = []
    heading, verses = None, []

    def flush():
        if heading is not None and verses:
            docs.append(("kjv", heading + "\n\n" + "\n".join(verses) + "\n"))

    for line in out.stdout.decode("utf-8", errors="replace").split("\n"):
        if not line.strip():
            continue
        if not line.startswith(" "):
            flush()
            heading, verses = line.strip(), []
            continue
        number, _, verse = line.strip().partition(" ")
        if not number.isdigit() or not verse:
            raise DataError("unexpected line from `bible`: %r" % line[:80])
        verses.append(verse.strip())
    flush()
    if len(docs) != 1189:
        raise DataError("expected the 1189 chapters of the KJV, got %d" % len(docs))
    return docs


def encode(docs):
    parts = []
    for _, text in docs:
        ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16) + 1
        parts.append(ids)
        parts.append(np.array([EOT], dtype=np.uint16))
    return np.concatenate(parts).astype("<u2") if parts else np.zeros(0, dtype="<u2")


def build(out_dir, val_fraction, kjv_fraction):
    versions = package_versions()
    sources = {"fortunes": fortune_documents(), "kjv": bible_documents()}
    splits = {"train": [], "val": []}
    stats = {}
    for source, docs in sources.items():
        st = {"documents": {"train": 0, "val": 0}, "bytes": {"train": 0, "val": 0},
              "available_documents": len(docs)}
        for origin, text in docs:
            if source == "kjv" and unit_hash("kjv-keep", text) >= kjv_fraction:
                continue
            split = "val" if unit_hash(source, text) < val_fraction else "train"
            splits[split].append((unit_hash("order", origin + "\n" + text), origin, text))
            st["documents"][split] += 1
            st["bytes"][split] += len(text.encode("utf-8"))
        stats[source] = st
    os.makedirs(out_dir, exist_ok=True)
    info = {
        "packages": versions,
        "install": "apt-get install fortunes bible-kjv",
        "sources": {
            "fortunes": "%s/* except %s; one document per fortune" % (FORTUNE_DIR,
                                                                     sorted(FORTUNE_SKIP)),
            "kjv": "`bible -l100000 Gen1:1-Rev22:21`; one document per chapter (heading, blank "
                   "line, one verse per line, no verse numbers); chapters kept when "
                   "unit_hash('kjv-keep', text) < kjv_fraction",
        },
        "licenses": {"fortunes": "BSD-style fortune-mod package; collected quotations",
                     "kjv": "King James Version (1611), public domain"},
        "tokenization": "byte b -> id b+1; id 0 (<|endoftext|>) after every document",
        "split_rule": "val when unit_hash(source, text) < val_fraction; unit_hash(salt, text) = "
                      "first 8 bytes of sha256(salt + '\\n' + utf8 text) / 2^64",
        "val_fraction": val_fraction,
        "kjv_fraction": kjv_fraction,
        "stats": stats,
        "files": {},
    }
    for split, docs in splits.items():
        docs.sort()
        ids = encode([(origin, text) for _, origin, text in docs])
        path = os.path.join(out_dir, split + ".bin")
        tmp = path + ".tmp"
        ids.tofile(tmp)
        os.replace(tmp, path)
        info["files"][split + ".bin"] = {
            "tokens": int(ids.size), "documents": len(docs),
            "sha256": hashlib.sha256(ids.tobytes()).hexdigest()}
    with open(os.path.join(out_dir, "data_info.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write("\n")
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(REPO_ROOT, ".cache", "train_data"),
                   help="output folder (default: <repo>/.cache/train_data)")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--kjv-fraction", type=float, default=0.5,
                   help="share of the Bible's chapters to use (default 0.5)")
    args = p.parse_args(argv)
    try:
        info = build(args.out, args.val_fraction, args.kjv_fraction)
    except DataError as e:
        print("prepare_data.py: error: %s" % e, file=sys.stderr)
        return 1
    for name, f in sorted(info["files"].items()):
        print("%s: %d tokens, %d documents" % (name, f["tokens"], f["documents"]))
    for source, st in sorted(info["stats"].items()):
        print("%s: train %d docs / %d bytes, val %d docs / %d bytes" % (
            source, st["documents"]["train"], st["bytes"]["train"], st["documents"]["val"],
            st["bytes"]["val"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
