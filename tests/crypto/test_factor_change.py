"""The signed change of second factors (docs/PROTOCOL.md, 16.4) against its vectors."""

import uuid

import pytest

from tests.conftest import load_vectors
from uhealthsec.crypto.errors import SignatureVerificationFailed
from uhealthsec.crypto.factor_change import FactorAction, FactorChange

VECTORS = load_vectors("factor_change.json")["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["action"] for v in VECTORS])
def test_factor_change_vector(vector):
    change = FactorChange(
        uuid.UUID(vector["account_id"]),
        FactorAction(vector["action"].encode()),
        bytes.fromhex(vector["subject"]),
        bytes.fromhex(vector["nonce"]),
    )
    assert change.digest().hex() == vector["digest"]
    public, signature = (
        bytes.fromhex(vector["signing_public_key"]),
        bytes.fromhex(vector["signature"]),
    )
    change.verify(public, signature)
    # Another action, factor, nonce or account: the signature does not verify.
    other_action = next(a for a in FactorAction if a is not change.action)
    for other in (
        FactorChange(change.account_id, other_action, change.subject, change.nonce),
        FactorChange(change.account_id, change.action, change.subject + b"x", change.nonce),
        FactorChange(change.account_id, change.action, change.subject, bytes(32)),
        FactorChange(uuid.uuid4(), change.action, change.subject, change.nonce),
    ):
        with pytest.raises(SignatureVerificationFailed):
            other.verify(public, signature)
