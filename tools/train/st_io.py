"""Minimal safetensors reading and writing for the training tools, without the safetensors package.

Format (the same one tools/convert_checkpoint.py writes and the engine reads): an 8-byte
little-endian u64 header length, a JSON header {name: {"dtype", "shape", "data_offsets"},
"__metadata__": {str: str}} padded with spaces to a multiple of 8, then the raw little-endian,
row-major tensor bytes; offsets count from the first byte after the header.

read_safetensors(path) -> (metadata dict, OrderedDict name -> torch.Tensor); BF16 and F16 come
back as float32 (exact), F32/F64/I32/I64 keep their type. Raises SafetensorsError on a malformed
file (bad header, offsets outside the data, overlapping or misaligned tensors, unknown dtype).

write_safetensors(path, tensors, metadata): tensors is a list of (name, st_dtype, tensor) with
st_dtype in "F32", "BF16", "I32"; BF16 rounds to nearest even (torch's conversion). Tensors are
written F32/I32 first so every tensor starts at a multiple of its element size, each group in the
given order; the file is written to a temporary name and renamed into place. Deterministic.
"""

import collections
import json
import os
import struct
import tempfile

import numpy as np
import torch

_NP_DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "F16": "<f2", "BF16": "<u2",
              "U8": "u1"}
_SIZES = {"F32": 4, "F64": 8, "I32": 4, "I64": 8, "F16": 2, "BF16": 2, "U8": 1}
_MAX_HEADER = 100 << 20


class SafetensorsError(Exception):
    """A malformed or unsupported safetensors file."""


def _bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError("%s: shorter than the 8-byte header length" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise SafetensorsError("%s: header length %d does not fit the file" % (path, n))
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"),
                            object_pairs_hook=collections.OrderedDict)
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError("%s: header is not JSON: %s" % (path, e))
    if not isinstance(header, dict):
        raise SafetensorsError("%s: header is not a JSON object" % path)
    metadata = header.pop("__metadata__", {}) or {}
    data = memoryview(blob)[8 + n:]
    spans = []
    out = collections.OrderedDict()
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], list(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError("%s: tensor '%s' has a malformed entry" % (path, name))
        if dtype not in _SIZES:
            raise SafetensorsError("%s: tensor '%s' has unsupported dtype %s" % (path, name, dtype))
        count = 1
        for x in shape:
            if not isinstance(x, int) or x < 0:
                raise SafetensorsError("%s: tensor '%s' has a bad shape %s" % (path, name, shape))
            count *= x
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(data)
                and end - begin == count * _SIZES[dtype]):
            raise SafetensorsError("%s: tensor '%s' has bad data_offsets [%s, %s]"
                                   % (path, name, begin, end))
        spans.append((begin, end, name))
        arr = np.frombuffer(data[begin:end], dtype=_NP_DTYPES[dtype]).reshape(shape)
        if dtype == "BF16":
            arr = _bf16_bits_to_f32(arr)
        elif dtype == "F16":
            arr = arr.astype(np.float32)
        out[name] = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), copy=True))
    spans.sort()
    for (b0, e0, n0), (b1, _, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise SafetensorsError("%s: tensors '%s' and '%s' overlap" % (path, n0, n1))
    return metadata, out


def _to_bytes(tensor, st_dtype):
    t = tensor.detach().cpu().contiguous()
    if st_dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    if st_dtype == "F32":
        return t.to(torch.float32).numpy().astype("<f4").tobytes()
    if st_dtype == "I32":
        return t.to(torch.int32).numpy().astype("<i4").tobytes()
    raise ValueError("unsupported output dtype %s" % st_dtype)


def write_safetensors(path, tensors, metadata=None):
    ordered = [e for e in tensors if e[1] != "BF16"] + [e for e in tensors if e[1] == "BF16"]
    header = collections.OrderedDict()
    header["__metadata__"] = collections.OrderedDict(
        sorted((str(k), str(v)) for k, v in (metadata or {}).items()))
    payload = []
    offset = 0
    for name, st_dtype, tensor in ordered:
        if name in header:
            raise ValueError("duplicate tensor name %s" % name)
        raw = _to_bytes(tensor, st_dtype)
        header[name] = collections.OrderedDict([("dtype", st_dtype),
                                                ("shape", list(tensor.shape)),
                                                ("data_offsets", [offset, offset + len(raw)])])
        payload.append(raw)
        offset += len(raw)
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    blob += b" " * (-len(blob) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(blob)))
            f.write(blob)
            for raw in payload:
                f.write(raw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
