"""OAuth values that the server and its first-party clients must agree on."""

from __future__ import annotations

CLI_CLIENT_ID = "uhs-cli"
WEB_CLIENT_ID = "uhs-web"
#: The CLI listens on an ephemeral port of this loopback URI (RFC 8252 §7.3).
CLI_REDIRECT_URI = "http://127.0.0.1/callback"
#: The audience of every access token the server issues.
AUDIENCE = "uhealthsec-api"
