#!/usr/bin/env python3
"""npy_seeds.py DIR - writes a few small .npy files into DIR as the seed
corpus of fuzz_npy: each element type the reader accepts, format versions
1.0, 2.0 and 3.0, 0-d, empty and multi-dimensional shapes. Written by hand
with struct (numpy is not needed) following numpy's format spec."""
import os
import struct
import sys


def npy(version, descr, shape, payload):
    dims = f"{shape[0]}," if len(shape) == 1 else ", ".join(str(d) for d in shape)
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}"
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(text) + 1) % 64) % 64
    header = (text + " " * pad + "\n").encode("latin1")
    if version == 1:
        head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header))
    else:
        head = b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(header))
    return head + header + payload


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "f4_2x3": npy(1, "<f4", (2, 3), struct.pack("<6f", 0, 1, -2, 3.5, 1e30, -0.0)),
        "f8_3": npy(1, "<f8", (3,), struct.pack("<3d", 1.5, -2.25, 1e300)),
        "f2_4": npy(1, "<f2", (4,), struct.pack("<4e", 1.0, -2.0, 65504.0, 6e-8)),
        "i1_2x2": npy(1, "|i1", (2, 2), struct.pack("<4b", -128, -1, 0, 127)),
        "u1_3": npy(1, "|u1", (3,), bytes([0, 128, 255])),
        "i2_2": npy(1, "<i2", (2,), struct.pack("<2h", -32768, 32767)),
        "u2_2": npy(1, "<u2", (2,), struct.pack("<2H", 0, 65535)),
        "i4_2": npy(1, "<i4", (2,), struct.pack("<2i", -7, 7)),
        "u4_2": npy(1, "<u4", (2,), struct.pack("<2I", 0, 4294967295)),
        "i8_1x2x1": npy(1, "<i8", (1, 2, 1), struct.pack("<2q", -(2**63), 2**63 - 1)),
        "u8_1": npy(1, "<u8", (1,), struct.pack("<Q", 2**64 - 1)),
        "b1_3": npy(1, "|b1", (3,), bytes([0, 1, 2])),
        "f4_scalar": npy(1, "<f4", (), struct.pack("<f", 42.0)),
        "f4_empty": npy(1, "<f4", (0, 3), b""),
        "v2_f4": npy(2, "<f4", (1,), struct.pack("<f", 1.0)),
        "v3_i8": npy(3, "<i8", (2,), struct.pack("<2q", 1, 2)),
        "f4_4d": npy(1, "<f4", (1, 2, 2, 1), struct.pack("<4f", 1, 2, 3, 4)),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".npy"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
