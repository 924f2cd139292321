"""edwards25519 in Python integers, written from RFC 8032 §5.1, for tests and vectors only.

It builds the keys an attacker would publish (small-order, non-canonical, off-curve)
and the signatures OpenSSL accepts for them, independently of crypto/signing.py.
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
SQRT_MINUS_ONE = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)

Point = tuple[int, int]


def recover_x(y: int, sign: int) -> int | None:
    """RFC 8032 §5.1.3 steps 2-4 (None where decoding fails)."""
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_MINUS_ONE % P
    if (x * x - x2) % P:
        return None
    return P - x if x & 1 != sign else x


def decode(data: bytes) -> Point | None:
    encoded = int.from_bytes(data, "little")
    y = encoded & ((1 << 255) - 1)
    x = recover_x(y, encoded >> 255)
    return None if x is None else (x, y)


def add(a: Point, b: Point) -> Point:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (
        (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P,
        (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P,
    )


def multiply(k: int, point: Point) -> Point:
    result = IDENTITY
    while k:
        if k & 1:
            result = add(result, point)
        point = add(point, point)
        k >>= 1
    return result


def negate(point: Point) -> Point:
    return ((-point[0]) % P, point[1])


def encode(point: Point) -> bytes:
    x, y = point
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def encode_raw(y: int, sign: int) -> bytes:
    """Any 255-bit y with a sign bit, canonical or not."""
    return (y | (sign << 255)).to_bytes(32, "little")


BASE = (recover_x(4 * pow(5, -1, P) % P, 0) or 0, 4 * pow(5, -1, P) % P)


def small_order_points() -> list[Point]:
    """The eight points T with [8]T = identity, found as [L]Q for a point Q of full order."""
    y = 2
    while True:
        y += 1
        x = recover_x(y, 0)
        if x is None:
            continue
        torsion = multiply(L, (x, y))
        if multiply(4, torsion) != IDENTITY:  # order 8: it generates all eight
            return [multiply(k, torsion) for k in range(8)]


def forge(public_key: bytes, point: Point, message: bytes) -> bytes | None:
    """A signature that the cofactorless check [S]B == R + [k]A accepts for a small-order
    ``point`` encoded as ``public_key``, without any private key: R = [r]B + T, S = r, with T
    in the subgroup of ``point`` chosen so that T = -[k]A. None if no small r works."""
    subgroup = {multiply(k, point) for k in range(8)}
    for r in range(1, 64):
        for torsion in subgroup:
            r_bytes = encode(add(multiply(r, BASE), torsion))
            digest = hashlib.sha512(r_bytes + public_key + message).digest()
            k = int.from_bytes(digest, "little") % L  # reduced mod L, as verifiers do
            if add(torsion, multiply(k % 8, point)) == IDENTITY:
                return r_bytes + r.to_bytes(32, "little")
    return None
