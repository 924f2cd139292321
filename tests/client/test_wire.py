"""The SDK reads the server's answers as the protocol's models: a malformed answer is
refused with the caller's refusal and a short reason, and a request written from a
model carries exactly the fields the protocol's JSON carries."""

import uuid

import httpx2
import pytest

from uhealthsec.client.exchange import ExchangeRefused
from uhealthsec.client.wire import body, parse
from uhealthsec.protocol.records import BlobOut, ShareIn, ShareStatementIn

BLOB_ID = uuid.UUID("0b7c3a52-9f0e-4d43-a1b5-2f7f0c1d9e11")


def _answer(content: bytes) -> httpx2.Response:
    return httpx2.Response(200, content=content)


def test_a_well_formed_answer_is_read_as_typed_values():
    sha256 = "A" * 43  # 32 zero bytes
    blob = parse(
        BlobOut,
        _answer(f'{{"id": "{BLOB_ID}", "size": 5, "sha256": "{sha256}"}}'.encode()),
        ExchangeRefused,
        "an upload",
    )
    assert blob == BlobOut(id=BLOB_ID, size=5, sha256=bytes(32))
    assert [b.id for b in parse(list[BlobOut], _answer(b"[]"), ExchangeRefused, "x")] == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"id": "%s", "size": 5, "sha256": "not base64!"}' % str(BLOB_ID).encode(), "sha256: "),
        (b'{"id": "%s", "sha256": ""}' % str(BLOB_ID).encode(), "size: Field required"),
        (b'{"id": "x", "size": 5, "sha256": ""}', "id: "),
        (b"<html>502 Bad Gateway</html>", "it is not JSON"),
        (b"[]", "the answer: "),
    ],
)
def test_a_malformed_answer_is_refused_with_a_short_reason(content, reason):
    with pytest.raises(ExchangeRefused) as refused:
        parse(BlobOut, _answer(content), ExchangeRefused, "an upload")
    message = str(refused.value)
    assert message.startswith("the server's answer for an upload is malformed (")
    assert reason in message
    assert "pydantic" not in message and "\n" not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_a_request_leaves_out_the_optional_fields_it_was_not_given():
    share = ShareIn(recipient_id=BLOB_ID, wrapped_key=b"\x01\x02", expires_at=None)
    assert body(share) == {"recipient_id": str(BLOB_ID), "wrapped_key": "AQI", "expires_at": None}
    statement = ShareStatementIn(
        recipient_email="bob@example.org", signer_key_index=3, signature=bytes(64)
    )
    signed = ShareIn(recipient_id=BLOB_ID, wrapped_key=b"", statement=statement)
    assert body(signed)["statement"] == {
        "recipient_email": "bob@example.org",
        "signer_key_index": 3,
        "signature": "A" * 86,
    }
    assert "expires_at" not in body(signed)
