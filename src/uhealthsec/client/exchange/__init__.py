"""The Python SDK's secure exchange: send, receive, share, revoke, new versions.

Everything secret happens here, on the device: the document key is drawn here, the
file is encrypted here (streamed, constant memory), the key is wrapped here for each
recipient whose public keys the key directory has proven, and the author signs the
version here. A reader checks the author's signature with the author's proven key
before a decrypted file is put in place.

Whom a key is wrapped for never comes from the server's word alone: the author signs
the readers of each version, a reader who shares signs a statement for each person
they add, whoever ends someone's access signs that too, a thread's creator signs its
members, and every address is resolved in the key directory and must belong to the
account signed for it. The server may still leave someone out (a denial of service),
never add anyone, nor bring back someone whose access was ended.
"""

from uhealthsec.client.errors import ApiError, ExchangeRefused
from uhealthsec.client.exchange.client import ExchangeClient
from uhealthsec.client.exchange.history import _served_manifests
from uhealthsec.client.exchange.messaging import (
    Attachment,
    MessagingClient,
    ReceivedMessage,
    _message_body,
)
from uhealthsec.client.exchange.models import (
    DOCUMENTS_PAGE,
    MAX_TITLE_CHARS,
    SHARES_PER_REQUEST,
    BeforeEncrypting,
    DocumentSummary,
    Metadata,
    Progress,
    ReceivedDocument,
    Revoked,
    RevokedReader,
)
from uhealthsec.client.exchange.streams import check_response_stream

__all__ = [
    "DOCUMENTS_PAGE",
    "MAX_TITLE_CHARS",
    "SHARES_PER_REQUEST",
    "ApiError",
    "Attachment",
    "BeforeEncrypting",
    "DocumentSummary",
    "ExchangeClient",
    "ExchangeRefused",
    "MessagingClient",
    "Metadata",
    "Progress",
    "ReceivedDocument",
    "ReceivedMessage",
    "Revoked",
    "RevokedReader",
    "_message_body",
    "_served_manifests",
    "check_response_stream",
]
