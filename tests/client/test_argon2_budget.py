"""A hostile server cannot choose what signing in costs the client (docs/PROTOCOL.md 7.1)."""

from __future__ import annotations

import httpx2
import pytest

from uhealthsec.client.api import AuthClient
from uhealthsec.crypto import keystore
from uhealthsec.crypto.errors import ParametersAboveBudget
from uhealthsec.protocol.encoding import b64u_encode


def test_prelogin_parameters_above_the_budget_are_refused_before_argon2(monkeypatch):
    # The former ceiling: 1 GiB, 16 passes, 8 lanes, about 24 s per sign-in.
    costly = keystore.Argon2Params(1024 * 1024, 16, 8, bytes(16))

    def hostile(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/auth/prelogin"
        return httpx2.Response(200, json={"argon2_params": b64u_encode(costly.encode())})

    def no_derivation(*args, **kwargs):
        raise AssertionError("Argon2id ran with parameters the server chose")

    monkeypatch.setattr(keystore, "Argon2id", no_derivation)
    client = AuthClient(
        httpx2.Client(base_url="http://server", transport=httpx2.MockTransport(hostile))
    )
    with pytest.raises(ParametersAboveBudget):
        client.derive_auth_secret("camille@demo.test", "a password")
