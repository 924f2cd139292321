"""Consistency signals: what a request's own headers say about the client.

Each can be forged by a careful bot, so none blocks on its own and none identifies
anyone; they are read in memory from the request, never stored, and each raises the
cost of the proof of work asked of that request.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Sent by our own clients: what the page itself can see of automation
#: (``navigator.webdriver``) and of a headless browser.
SIGNALS_HEADER = "uhs-client-signals"


def risk(headers: Mapping[str, str]) -> list[str]:
    """The names of the signals this request raises (empty for a coherent client)."""
    raised: list[str] = []
    agent = headers.get("user-agent", "")
    declared = {
        part.strip().partition("=")[0]
        for part in headers.get(SIGNALS_HEADER, "").split(",")
        if part.strip().endswith("=1")
    }
    if "webdriver" in declared:
        raised.append("automation")
    if "headless" in declared or "HeadlessChrome" in agent:
        raised.append("headless")
    if not agent:
        raised.append("no-user-agent")
    # Browsers (every engine since 2023) send Fetch Metadata; a browser's user agent
    # without it is a script wearing a browser's name.
    if agent.startswith("Mozilla/") and "sec-fetch-mode" not in headers:
        raised.append("incoherent-headers")
    # Chromium sends client hints with its user agent on every request.
    if "Chrome/" in agent and "sec-fetch-mode" in headers and "sec-ch-ua" not in headers:
        raised.append("incoherent-headers")
    if headers.get("sec-fetch-site") == "cross-site":
        raised.append("cross-site")
    return sorted(set(raised))
