#!/usr/bin/env python3
"""Reference values of the chunked constructions, written from their published
definitions with Python's hashlib only (no code shared with imghash).

Usage: chunked_reference.py FILE CHUNK_SIZE ALGORITHM...
Prints one line per algorithm: NAME VALUE.
"""
import base64
import hashlib
import sys

BASE = {
    "merkle-sha256": "sha256",
    "merkle-sha512": "sha512",
    "blkhash-sha256": "sha256",
    "glacier-sha256": "sha256",
    "s3-etag": "md5",
    "s3-sha256-composite": "sha256",
}


def chunks(path, size):
    with open(path, "rb") as f:
        while True:
            chunk = f.read(size)
            if not chunk:
                return
            yield chunk


def h(name, *parts):
    d = hashlib.new(name)
    for p in parts:
        d.update(p)
    return d.digest()


def merkle(name, leaves):
    """RFC 6962 Merkle Tree Hash over already-hashed leaves (H(0x00 || chunk))."""
    if not leaves:
        return h(name)
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return h(name, b"\x01", merkle(name, leaves[:k]), merkle(name, leaves[k:]))


def glacier(level):
    """AWS Glacier tree hash: pairs level by level, an odd node moves up."""
    if not level:
        return h("sha256")
    while len(level) > 1:
        nxt = [h("sha256", level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def value(path, chunk_size, algorithm):
    name = BASE[algorithm]
    if algorithm.startswith("merkle-"):
        leaves = [h(name, b"\x00", c) for c in chunks(path, chunk_size)]
        return merkle(name, leaves).hex()
    if algorithm == "blkhash-sha256":
        outer, length = hashlib.sha256(), 0
        for c in chunks(path, chunk_size):
            outer.update(h(name, c))
            length += len(c)
        outer.update(length.to_bytes(8, "little"))
        return outer.hexdigest()
    if algorithm == "glacier-sha256":
        return glacier([h(name, c) for c in chunks(path, 1 << 20)]).hex()
    parts = [h(name, c) for c in chunks(path, chunk_size)] or [h(name)]
    outer = h(name, *parts)
    if algorithm == "s3-etag":
        return parts[0].hex() if len(parts) == 1 else f"{outer.hex()}-{len(parts)}"
    return f"{base64.b64encode(outer).decode()}-{len(parts)}"


def main():
    path, chunk_size = sys.argv[1], int(sys.argv[2])
    for algorithm in sys.argv[3:]:
        print(algorithm, value(path, chunk_size, algorithm))


main()
