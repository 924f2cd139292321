"""The cryptographic core: pure functions and formats, no I/O, no server imports.

- ``envelope``: documents under AES-256-GCM in a chunked STREAM construction.
- ``wrap``: document keys wrapped for recipients with ``cryptography``'s HPKE (X-Wing
  hybrid by default).
- ``signing``: Ed25519 signatures over domain-separated digests.
- ``keys`` / ``keystore``: a user's key pairs, sealed under a password and a recovery key.
- ``xwing``: X-Wing keys (seed and 1216-byte encoding) for that HPKE.
- ``hpke`` / ``xwing``: our RFC 9180 and X-Wing combiner on ``cryptography`` primitives,
  kept to open version 1 wrapped keys and as the reference for the vectors.

Every format is specified byte for byte in docs/PROTOCOL.md.
"""
