"""``uhs login --professional``: the CLI waits on a loopback port (RFC 8252) while the
browser goes through the provider."""

from __future__ import annotations

import httpx2

from tests.client.terminal import finished, spawn_uhs
from tests.server.federation.test_federated_login import link, professional, rpps


def test_professional_login_from_the_terminal(sdk, users, browser, provider, live_server, tmp_path):
    user = users.signed_in("doctor@example.org", rpps=rpps("3"))
    link(sdk, browser, provider, user, professional("3"))
    config = tmp_path / "config"

    uhs = spawn_uhs(["login", "--professional"], config, live_server)
    uhs.expect(r"(http://127\.0\.0\.1:\d+/auth/federated/authorize\?\S+)")
    url = uhs.match.group(1)
    to_provider = httpx2.get(url, follow_redirects=False, timeout=60)
    assert to_provider.status_code == 302
    back_to_cli = browser.open(to_provider.headers["location"])
    assert back_to_cli.startswith("http://127.0.0.1:") and "/callback?" in back_to_cli
    assert "return to your terminal" in httpx2.get(back_to_cli, timeout=60).text
    status, output = finished(uhs)
    assert status == 0 and "Signed in." in output

    status, output = finished(spawn_uhs(["whoami"], config, live_server))
    assert status == 0 and "RPPS " + rpps("3") in output
