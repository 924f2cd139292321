"""Commands about the web application a server serves."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlsplit

import typer

from uhealthsec.client.cli import exit_codes
from uhealthsec.client.cli._common import JsonOutput, connection, console, print_json, usage_error
from uhealthsec.terminal import Refused, command_line

web_app = command_line(help="The web application: check the code a server gives browsers.")

#: What this device verified of each server's web release log, by the server's origin.
PINS_FILE = "web-release-pins.json"


@web_app.command("verify")
def web_verify(
    url: Annotated[
        str, typer.Argument(help="The server's address, e.g. https://sante.example.fr.")
    ],
    as_json: JsonOutput = False,
) -> None:
    """Fetch every file the server serves under /app/, hash it and check it against the
    server's web release log: each file proven in a signed checkpoint, the log's key
    and origin those this device pinned at its first check, and the log an extension
    of the one it verified before."""
    from uhealthsec.client.logs import LogPin
    from uhealthsec.client.profile import config_dir
    from uhealthsec.client.state_files import write_atomically
    from uhealthsec.client.web_release import verify_web_release

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise usage_error(f"{url!r} is not a server's address (http:// or https://)")
    server = f"{parts.scheme}://{parts.netloc}"
    pins_path = config_dir() / PINS_FILE
    pins = json.loads(pins_path.read_text()) if pins_path.is_file() else {}
    with connection(server) as http:
        check = verify_web_release(http, LogPin(**pins.get(server, {})))
    # The log was proven: its checkpoint is pinned even when files do not match it.
    pins[server] = check.pin.to_dict()
    pins_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(pins_path, json.dumps(pins, indent=1, sort_keys=True).encode())
    if as_json:
        print_json(
            {
                "size": check.size,
                "previous_size": check.previous_size,
                "verified": check.verified,
                "changed": check.changed,
                "unlisted": check.unlisted,
            }
        )
    if not check.ok:
        problems = [
            f"{path} is served with other content than the log holds" for path in check.changed
        ]
        problems += [f"{path} is named by the page but not in the log" for path in check.unlisted]
        raise Refused(
            f"{server} serves code its web release log does not hold:\n  " + "\n  ".join(problems),
            exit_codes.REFUSED,
        )
    if not as_json:
        console.print(
            f"[green]Web application verified[/green]: the {len(check.verified)} files "
            f"{server} serves under /app/ are those its web release log holds "
            f"({check.size} entries, extending the {check.previous_size} this device "
            "verified before)."
        )
