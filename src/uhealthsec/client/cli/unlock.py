"""`uhs unlock` and `uhs lock`: the password asked once for a working session, the
keys then kept by the key agent (client/agent.py) for a limited time."""

from __future__ import annotations

import typer

from uhealthsec.client.cli._common import (
    SignedIn,
    connection,
    console,
    open_store,
    unlock_keys,
)


def unlock(
    minutes: int = typer.Option(
        60, "--minutes", min=1, max=480, help="Lock again after this long, whatever happens."
    ),
    idle_minutes: int = typer.Option(
        15, "--idle-minutes", min=1, max=480, help="Lock again after this long unused."
    ),
) -> None:
    """Unlock your keys for a while: commands stop asking for your password until
    `uhs lock`, `uhs logout`, or the time is up. The keys stay in a process of yours
    that only you can reach, never on disk."""
    from uhealthsec.client import agent

    store = open_store()
    profile = store.load()
    with connection(profile.server) as http:
        signed_in = SignedIn(http, profile, store)
        keystore = signed_in.auth.keystore(signed_in.token())
    keys = unlock_keys(keystore)
    agent.start(agent.socket_path(store.path), keys, lifetime=minutes * 60, idle=idle_minutes * 60)
    console.print(
        f"Keys unlocked for {minutes} minutes, locked sooner after {idle_minutes} minutes"
        " unused. `uhs lock` locks them now."
    )


def lock() -> None:
    """Lock your keys now: the next command asks for your password again."""
    console.print("Keys locked." if lock_agent() else "Your keys were not unlocked.")


def lock_agent() -> bool:
    """Ends this profile's key agent; whether one was running."""
    from uhealthsec.client import agent

    try:
        path = agent.existing_socket_path(open_store().path)
        return agent.lock(path) if path is not None else False
    except agent.AgentError:
        return False
