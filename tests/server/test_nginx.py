"""deploy/nginx/uhealthsec.conf, as shipped (tests/proxy.py), in front of a real
`uhs-server serve`."""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.proxy import SITE, Proxy, nginx_in_front
from tests.serving import HTTP_TIMEOUT, free_port, serve_process
from uhealthsec.server.settings import Settings


@dataclass
class ServedProxy(Proxy):
    """The proxy in front of one API process, whose log the tests read."""

    api_log: Path


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProxy]:
    folder = tmp_path_factory.mktemp("nginx")
    https_port, http_port = free_port(), free_port()
    public = f"https://localhost:{https_port}"
    with (
        serve_process(folder, "--public-url", public) as (api, api_log),
        nginx_in_front(folder, [int(api.rsplit(":", 1)[1])], https_port, http_port) as served,
    ):
        yield ServedProxy(**vars(served), api_log=api_log)


def test_only_tls_1_3_is_spoken(proxy):
    """R4: the shipped proxy speaks TLS 1.3 only."""
    with proxy.client() as client:
        assert client.get("/health").status_code == 200
    with (
        pytest.raises(httpx2.ConnectError),
        httpx2.Client(verify=proxy.tls(ssl.TLSVersion.TLSv1_2), timeout=HTTP_TIMEOUT) as old_client,
    ):
        old_client.get(f"{proxy.https}/health")


def test_every_answer_has_one_hsts_header_and_no_version(proxy):
    """R4: every answer through the proxy carries HSTS."""
    with proxy.client() as client:
        for path in ("/health", "/app/", "/no-such-page"):
            answer = client.get(path)
            assert answer.headers.get_list("strict-transport-security") == [
                "max-age=63072000; includeSubDomains"
            ], path
            assert not re.search(r"\d", answer.headers.get("server", "")), path


def test_plain_http_is_sent_to_https(proxy):
    answer = httpx2.get(
        f"http://127.0.0.1:{proxy.http_port}/app/",
        headers={"Host": "localhost"},
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 308
    assert answer.headers["location"] == "https://localhost/app/"


def test_the_web_application_is_served_through_the_proxy_with_its_policy(proxy):
    with proxy.client() as client:
        page = client.get("/app/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "require-trusted-types-for 'script'" in policy


def test_an_address_a_client_claims_is_never_believed(proxy):
    """nginx replaces X-Forwarded-For with the address it was connected from; the API
    believes that header from the proxy only (UHS_TRUSTED_PROXIES)."""
    marker = f"/claimed-{time.monotonic_ns()}"
    with proxy.client() as client:
        client.get(marker, headers={"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"})
    deadline = time.monotonic() + 10
    while marker not in (log := proxy.api_log.read_text()):
        assert time.monotonic() < deadline, "the API did not log the request"
        time.sleep(0.1)
    line = next(line for line in log.splitlines() if marker in line)
    assert "203.0.113.9" not in log
    assert "127.0.0.1" in line


def test_an_upload_streams_to_the_api_without_touching_the_proxy_disk(proxy):
    """With request buffering, nginx writes a body larger than 16 KiB to
    client_body_temp_path before the API sees a byte; here it must stay empty while
    a large upload is under way."""
    raw = socket.create_connection(("127.0.0.1", int(proxy.https.rsplit(":", 1)[1])), timeout=10)
    with proxy.tls().wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(
            b"POST /blobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
            b"application/octet-stream\r\nContent-Length: 8388608\r\n\r\n"
        )
        tls.sendall(b"\0" * (2 << 20))
        time.sleep(0.5)
        spooled = [p for p in (proxy.folder / "body").rglob("*") if p.is_file()]
        assert spooled == []
        answer = tls.recv(4096)  # the API refused it (no token) without waiting for all
    assert answer.startswith(b"HTTP/1.1 401"), answer[:100]


def test_the_proxy_limits_match_the_servers_settings():
    site = SITE.read_text()

    def value(directive: str) -> str:
        found = re.findall(rf"^\s*{directive}\s+(\S+);", site, re.MULTILINE)
        assert len(found) == 1, directive
        return found[0]

    settings = Settings(_env_file=None)
    units = {"g": 1024**3, "m": 1024**2, "k": 1024}
    size = value("client_max_body_size")
    assert int(size[:-1]) * units[size[-1]] == settings.max_upload_bytes
    assert value("client_header_timeout") == f"{settings.header_timeout_seconds:g}s"
    assert value("client_body_timeout") == f"{settings.body_timeout_seconds:g}s"
    assert value("keepalive_timeout") == f"{settings.keep_alive_seconds}s"
    assert value("ssl_protocols") == "TLSv1.3"
    assert value("proxy_request_buffering") == "off"
    assert value("proxy_buffering") == "off"
