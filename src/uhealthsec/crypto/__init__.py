"""The cryptographic core: pure functions and formats, no I/O, no server imports.

- ``envelope``: documents under AES-256-GCM in a chunked STREAM construction.
- ``wrap``: document keys wrapped for recipients with HPKE (X-Wing hybrid by default).
- ``signing``: Ed25519 signatures over domain-separated digests.
- ``keys`` / ``keystore``: a user's key pairs, sealed under a password and a recovery key.
- ``hpke`` / ``xwing``: RFC 9180 and the X-Wing KEM, built on ``cryptography`` primitives.

Every format is specified byte for byte in docs/PROTOCOL.md.
"""
