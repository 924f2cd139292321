"""Every interface a lower domain asks the context for (``ctx.find``) is provided at
start by an implementation that has all of the interface's methods, and a provided
implementation stands in for the upper domain: the lower one sees its answers."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from sqlalchemy import select

from uhealthsec.server.accounts.interfaces import KeyPublication
from uhealthsec.server.accounts.models import Account
from uhealthsec.server.keys.models import DirectoryRecord

SERVER = Path(__file__).resolve().parents[2] / "src" / "uhealthsec" / "server"


def _asked_for() -> set[str]:
    return {
        name
        for path in SERVER.rglob("*.py")
        for name in re.findall(r"ctx\.find\(\s*(\w+)\s*,", path.read_text())
    }


def _members(interface: type) -> set[str]:
    return {
        name
        for klass in interface.__mro__
        if klass.__module__.endswith(".interfaces")
        for name in vars(klass)
        if not name.startswith("_")
    }


def test_every_interface_asked_for_is_provided_with_all_its_methods(ctx):
    asked = _asked_for()
    assert asked, "the domains ask for interfaces through ctx.find"
    assert {interface.__name__ for interface in ctx.providers} == asked
    with ctx.sessions() as db:
        for interface in ctx.providers:
            found = ctx.find(interface, db)
            missing = {m for m in _members(interface) if not callable(getattr(found, m, None))}
            assert not missing, f"{interface.__name__}: {type(found).__name__} lacks {missing}"


def test_activation_publishes_through_the_provided_directory(ctx, users):
    """Accounts publish a confirmed account's keys through ``KeyPublication`` (never
    importing keys): what the provided directory publishes is the directory's entry."""
    published: list[uuid.UUID] = []
    directory = ctx.providers[KeyPublication]

    class Recording:
        def __init__(self, db, ctx):
            self.directory = directory(db, ctx)

        def publish(self, account):
            published.append(account.id)
            return self.directory.publish(account)

        def current_version(self, account_id):
            return self.directory.current_version(account_id)

        def revoke(self, account, reason):
            return self.directory.revoke(account, reason)

        def address_retired(self, address):
            return self.directory.address_retired(address)

    ctx.provide(KeyPublication, Recording)
    users.register("camille@demo.test", "patient")
    with ctx.sessions() as db:
        camille = db.scalar(select(Account.id).where(Account.email == "camille@demo.test"))
        owners = db.scalars(select(DirectoryRecord.account_id)).all()
    assert published == [camille]
    assert camille in owners
