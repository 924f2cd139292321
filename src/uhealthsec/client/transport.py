"""The SDK's HTTP footing: the client that retries what can safely be retried, the
idempotency key a write carries so that a retry is answered and not carried out twice,
the shield's proof of work solved when it asks, and an error answer raised as ApiError
(its RFC 9457 problem document kept)."""

from __future__ import annotations

import base64
import binascii
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx2

from uhealthsec.client.errors import ApiError
from uhealthsec.client.proof_of_work import HEADER as PROOF_HEADER
from uhealthsec.client.proof_of_work import solve
from uhealthsec.crypto.journal import MAX_NONCE, request_digest, signed_request_digest

#: Proofs of work solved for one request before giving up (each 429 carries a new one).
MAX_CHALLENGES = 3


def post_with_proof(
    http: httpx2.Client, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx2.Response:
    """POST, solving the shield's proof of work if it asks for one (429 with a
    challenge): free at rest, a moment's computation under attack. Every route that
    checks a secret may ask (docs/PROTOCOL.md 14)."""
    given = dict(headers or {})
    sent = given
    for _ in range(MAX_CHALLENGES):
        response = http.post(path, json=body, headers=sent)
        if response.status_code != 429:
            return response
        try:
            challenge = response.json()["challenge"]
        except (ValueError, KeyError):
            return response
        sent = {**given, PROOF_HEADER: solve(challenge)}
    return response


#: Requests whose repetition has the effect of one (RFC 9110, 9.2.2), retried after a
#: 503 or a lost answer; a write is retried only if it carries an idempotency key.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Sent with a write, the same for each of its retries: a server that carried the write
#: out answers a retry with the first answer (draft-ietf-httpapi-idempotency-key-header).
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
#: The user's signature of a request (PROTOCOL section 13, R3).
SIGNATURE_HEADER = "UHS-Signature"
#: Retries of one request answered 503 (or whose answer was lost), after its first attempt.
MAX_RETRIES = 4
#: The longest wait before a retry, whatever the server's Retry-After says.
MAX_RETRY_DELAY = 30.0


#: The SHA-256 of a streamed body, sent ahead of it (RFC 9530): the request's signature
#: covers it, and the server refuses a body that does not hash to it.
CONTENT_DIGEST_HEADER = "Content-Digest"


def content_digest(sha256: bytes) -> str:
    """The ``Content-Digest`` value for a body of this SHA-256."""
    return f"sha-256=:{base64.b64encode(sha256).decode('ascii')}:"


def sha256_of_content_digest(value: str) -> bytes | None:
    """The SHA-256 a ``Content-Digest`` value written by ``content_digest`` names."""
    prefix, suffix = "sha-256=:", ":"
    if not (value.startswith(prefix) and value.endswith(suffix)):
        return None
    try:
        digest = base64.b64decode(value[len(prefix) : -len(suffix)], validate=True)
    except binascii.Error:
        return None
    return digest if len(digest) == 32 else None


def journaled_digest(request: httpx2.Request, body_sha256: bytes) -> bytes:
    """The digest the journal entry of ``request`` (as sent) must hold: signed, the
    signed digest over its signing time and Idempotency-Key (13.0); else the plain one."""
    target = request.url.raw_path.decode("ascii")
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature is None:
        return request_digest(request.method, target, body_sha256)
    signed_at_ms = int(signature.split(";")[1])
    return signed_request_digest(
        request.method, target, body_sha256, signed_at_ms, signed_nonce(request)
    )


def signed_nonce(request: httpx2.Request) -> str:
    """The single-use nonce a request's signature covers: its Idempotency-Key as the
    server reads it (13.0), unquoted; empty without one, or for a key the server refuses
    before it looks at the signature."""
    nonce = request.headers.get(IDEMPOTENCY_KEY_HEADER, "").strip().strip('"')
    return nonce if len(nonce) <= MAX_NONCE and nonce.isascii() else ""


#: The problem type of a change refused for its signature (PROTOCOL 13.0).
SIGNATURE_REQUIRED = "tag:uhealthsec.fr,2026:problem:signature-required"
#: A server time outside these years is not a clock, whoever says it.
_EARLIEST_MS = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
_LATEST_MS = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp() * 1000)


def stale_signature_time(refusal: ApiError) -> int | None:
    """The server's time (ms) in its refusal of a signature made too far from it; None
    for any other answer."""
    server_ms = refusal.body.get("server_time_ms")
    if (
        refusal.status != 400
        or refusal.body.get("type") != SIGNATURE_REQUIRED
        or type(server_ms) is not int
        or not _EARLIEST_MS <= server_ms < _LATEST_MS
    ):
        return None
    return server_ms


class ServerClock:
    """The time a request's signature says it was made at (PROTOCOL 13.0): the device's
    clock, or, once the server refused a signature as made more than 10 minutes from its
    own time (its ``server_time_ms``), that time moved on by the device's clock since.
    A device whose clock is wrong (a flat battery, a time zone set by hand) is common.
    Only that refusal teaches the time, never an answer's ``Date``, which a proxy on the
    way may write: a client led to sign ahead of time hands out requests that stay
    fresh longer."""

    def __init__(self, local: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.local = local
        self.offset = timedelta(0)

    def learn(self, refusal: ApiError) -> bool:
        """Take the server's time from its refusal of a stale signature: True if it was
        one (the request may then be signed again, once)."""
        server_ms = stale_signature_time(refusal)
        if server_ms is None:
            return False
        self.offset = datetime.fromtimestamp(server_ms / 1000, UTC) - self.local()
        return True

    def __call__(self) -> datetime:
        return self.local() + self.offset


def idempotency_key() -> str:
    """A new key for one write (a structured-field string, as the draft writes it)."""
    return f'"{uuid.uuid4()}"'


def retry_delay(retry_after: str | None, attempt: int, max_delay: float = MAX_RETRY_DELAY) -> float:
    """How long to wait before retry number ``attempt`` (from 0): never sooner than the
    server's Retry-After (in seconds), and doubling from one second on each attempt."""
    backoff = float(2**attempt)
    try:
        asked = float(retry_after) if retry_after is not None else 0.0
    except ValueError:  # an HTTP date, or nonsense: the backoff alone
        asked = 0.0
    return min(max_delay, max(asked, backoff, 0.0))


class RetryUnavailable(httpx2.BaseTransport):
    """A transport that sends a request again, after the Retry-After the server gives
    with exponential backoff, at most ``retries`` times, when it could not reach the
    server, when the server answered 503 (its database or document store is briefly
    unavailable), or when the answer was lost (the connection broke after the request
    went out). Only requests whose repetition has the effect of one are sent again after
    they went out: idempotent methods, and writes carrying an idempotency key (a 409
    with Retry-After then means the first attempt is still being carried out). The last
    answer or error is given as it is. A streamed upload is never sent twice."""

    def __init__(
        self,
        transport: httpx2.BaseTransport | None = None,
        *,
        retries: int = MAX_RETRIES,
        max_delay: float = MAX_RETRY_DELAY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport or httpx2.HTTPTransport()
        self.retries = retries
        self.max_delay = max_delay
        self.sleep = sleep

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        resendable = isinstance(request.stream, httpx2.ByteStream)
        keyed = IDEMPOTENCY_KEY_HEADER in request.headers
        replayable = resendable and (request.method in IDEMPOTENT_METHODS or keyed)
        attempt = 0
        while True:
            try:
                response = self.transport.handle_request(request)
            except (httpx2.ConnectError, httpx2.ConnectTimeout):  # nothing went out
                if not resendable or attempt >= self.retries:
                    raise
                self.sleep(retry_delay(None, attempt, self.max_delay))
                attempt += 1
                continue
            except (httpx2.NetworkError, httpx2.RemoteProtocolError, httpx2.ReadTimeout):
                if not replayable or attempt >= self.retries:
                    raise
                self.sleep(retry_delay(None, attempt, self.max_delay))
                attempt += 1
                continue
            in_progress = (
                response.status_code == 409 and keyed and "retry-after" in response.headers
            )
            if (
                not (response.status_code == 503 or in_progress)
                or not replayable
                or attempt >= self.retries
            ):
                return response
            delay = retry_delay(response.headers.get("retry-after"), attempt, self.max_delay)
            # Read to the end (a short problem document), so the connection is reused.
            response.read()
            response.close()
            self.sleep(delay)
            attempt += 1

    def close(self) -> None:
        self.transport.close()


def http_client(base_url: str, *, timeout: float = 30.0, **options: Any) -> httpx2.Client:
    """The HTTP client the CLI uses, and that SDK users should: idempotent requests
    answered 503 are retried (``RetryUnavailable``). The server's proxy comes from the
    environment (``HTTPS_PROXY``, ``NO_PROXY``...), as it would without a transport."""
    proxy = _environment_proxy(base_url)
    transport = RetryUnavailable(httpx2.HTTPTransport(proxy=proxy))
    return httpx2.Client(base_url=base_url, timeout=timeout, transport=transport, **options)


def _environment_proxy(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def check_response(response: httpx2.Response) -> httpx2.Response:
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = body.get("detail") or body.get("error_description") or response.reason_phrase
        raise ApiError(response.status_code, str(detail), body)
    return response
