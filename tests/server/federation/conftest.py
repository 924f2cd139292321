"""A professional identity provider on loopback, and a server configured to use it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.server.federation.provider import TestProvider
from tests.server_fixtures import BASE_URL
from tests.serving import HTTP_TIMEOUT
from uhealthsec.server.settings import Settings

CLIENT_ID = "uhealthsec-rp"
CLIENT_SECRET = "provider-issued-secret-for-tests"


@pytest.fixture(scope="session")
def provider_server() -> Iterator[TestProvider]:
    provider = TestProvider(CLIENT_ID, CLIENT_SECRET, f"{BASE_URL}/auth/federated/callback")
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def provider(provider_server: TestProvider) -> TestProvider:
    provider_server.present(None)
    provider_server.id_token_overrides = {}
    provider_server.rogue_key = None
    provider_server.requests.clear()
    return provider_server


@pytest.fixture
def settings(settings: Settings, provider: TestProvider) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
        }
    )


class Browser:
    """Follows redirects the way a browser would, between our server (the test client)
    and the provider (real HTTP), and stops at the client's redirect URI."""

    def __init__(self, client: TestClient, provider: TestProvider) -> None:
        self.client = client
        self.provider = provider

    def open(self, url: str) -> str:
        for _ in range(10):
            if url.startswith(BASE_URL):
                response = self.client.get(url.removeprefix(BASE_URL), follow_redirects=False)
            elif url.startswith(self.provider.issuer):
                response = httpx2.get(url, follow_redirects=False, timeout=HTTP_TIMEOUT)
            else:
                return url
            assert response.status_code == 302, response.text
            url = response.headers["location"]
        raise AssertionError("too many redirects")


@pytest.fixture
def browser(client: TestClient, provider: TestProvider) -> Browser:
    return Browser(client, provider)
