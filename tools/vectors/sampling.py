#!/usr/bin/env python3
"""Test vectors of client/core/src/sampling.rs, computed apart from it (hashlib and the
`cryptography` package's ChaCha20): the answer seed of request 00 01 .. 1f without and with
the client seed 42, and the Gumbel noise of tokens 0..3 at position 7 under the first."""
import hashlib
import math
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

DOMAIN = b"chainference sampling seed v1"
REQUEST = bytes(range(32))


def answer_seed(client_seed=None):
    tail = b"\x00" if client_seed is None else b"\x01" + struct.pack("<Q", client_seed)
    return hashlib.sha256(DOMAIN + REQUEST + tail).digest()


def gumbel_noise(seed, position, vocabulary):
    # cryptography's 16-byte ChaCha20 nonce is the 32-bit block counter, then RFC 8439's nonce.
    nonce = struct.pack("<I", 0) + struct.pack("<Q", position) + b"\0" * 4
    stream = Cipher(algorithms.ChaCha20(seed, nonce), mode=None).encryptor()
    words = struct.unpack(f"<{vocabulary}I", stream.update(b"\0" * 4 * vocabulary))
    return [-math.log(-math.log((word + 0.5) / 2**32)) for word in words]


print("seed, no client seed:", answer_seed().hex())
print("seed, client seed 42:", answer_seed(42).hex())
print("noise at position 7: ", gumbel_noise(answer_seed(), 7, 4))
