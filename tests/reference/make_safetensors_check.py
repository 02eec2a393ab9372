#!/usr/bin/env python3
"""make_safetensors_check.py — an independent reader and writer of safetensors files,
with nothing but Python's json and struct and numpy (Debian: python3, python3-numpy).

    python3 make_safetensors_check.py check OURS THEIRS

reads OURS, a file moments wrote (tests/io/python_check.cpp), checks every tensor bit
for bit against the values both sides compute from the same formula, and its metadata;
then writes THEIRS the way the safetensors Python package lays a file out (names
sorted, compact JSON with non-ASCII escaped, padded with spaces to a multiple of 8),
which moments must load with the same values.

Exit status: 0 when OURS is right, 1 with a message when it is not, 77 (the test is
skipped) when numpy is not installed.

The values: element i of a tensor with pattern index k is ((7 i + k) mod 17 - 8) / 4
(as tests/testing.hpp's pattern()), plus one tensor of special float32 bit patterns.
"""
import json
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("make_safetensors_check.py: numpy is not available, skipping")
    sys.exit(77)

# name: (shape, pattern index k)
SHAPES = {
    "scalar": ([], 1),
    "vector": ([5], 2),
    "matrix": ([3, 4], 3),
    "rank3": ([2, 3, 4], 4),
    "rank4": ([2, 1, 3, 2], 5),
    "empty": ([3, 0], 6),
}
# 0, -0, the smallest denormal, the largest denormal, the largest float, inf, -inf, a quiet NaN,
# a NaN with a payload and the sign bit, 1/3
SPECIALS = [0x00000000, 0x80000000, 0x00000001, 0x007FFFFF, 0x7F7FFFFF, 0x7F800000, 0xFF800000,
            0x7FC00000, 0xFFC12345, 0x3EAAAAAB]


def expected_tensors(writer):
    """The tensors a writer ("moments" or "numpy") puts in its file, by name."""
    out = {}
    for name, (shape, k) in SHAPES.items():
        if writer == "numpy":
            k += 10
        n = int(np.prod(shape, dtype=np.int64))
        i = np.arange(n, dtype=np.int64)
        values = ((((7 * i + k) % 17) - 8) * 0.25).astype(np.float32)
        out[writer + "." + name] = values.reshape(shape)
    out[writer + ".specials"] = np.array(SPECIALS, dtype="<u4").view("<f4")
    return out


EXPECTED_METADATA = {
    "moments": {"writer": "moments", "note": "h\u00e9llo \u2713"},
    "numpy": {"writer": "numpy", "note": "na\u00efve \u2713"},
}


def read_safetensors(path):
    """Reads a file by the format's description, checking its layout on the way."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if n % 8 != 0:
        raise ValueError(f"header length {n} is not a multiple of 8")
    text = data[8:8 + n].decode("utf-8")
    if not text.startswith("{") or not text.rstrip(" ").endswith("}"):
        raise ValueError("the header must be one JSON object, padded at the end with spaces")
    header = json.loads(text)
    metadata = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors, covered = {}, 0
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        if info["dtype"] != "F32" or begin != covered:
            raise ValueError(f"{name}: dtype {info['dtype']}, offsets {begin}..{end}, expected F32 from {covered}")
        tensors[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(info["shape"])
        covered = end
    if covered != len(body):
        raise ValueError(f"the tensors cover {covered} of {len(body)} data bytes")
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Lays a file out as safetensors' Python package does: sorted names, data in that order."""
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")  # non-ASCII as \uXXXX escapes
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(a.view("<u4"), b.view("<u4"))


def main():
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        print(__doc__)
        return 2
    ours, theirs = sys.argv[2], sys.argv[3]
    tensors, metadata = read_safetensors(ours)
    expected = expected_tensors("moments")
    if sorted(tensors) != sorted(expected):
        print(f"{ours}: tensors {sorted(tensors)}, expected {sorted(expected)}")
        return 1
    for name, values in expected.items():
        if not same_bits(tensors[name], values):
            print(f"{ours}: tensor {name} is {tensors[name]!r}, expected {values!r}")
            return 1
    if metadata != EXPECTED_METADATA["moments"]:
        print(f"{ours}: metadata {metadata}, expected {EXPECTED_METADATA['moments']}")
        return 1
    write_safetensors(theirs, expected_tensors("numpy"), EXPECTED_METADATA["numpy"])
    print(f"{ours}: {len(tensors)} tensors match bit for bit; wrote {theirs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
