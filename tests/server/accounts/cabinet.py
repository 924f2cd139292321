"""A practice whose patient accepted its invitation, and an outside practitioner, made
through the API: the starting point of the tests of who may reach whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from tests.server_fixtures import Outbox, User, Users, device, send_signed


@dataclass
class Cabinet:
    id: str
    alice: User  # verified practitioner, admin of the practice
    carol: User  # patient, who accepted the practice's invitation
    mallory: User  # verified practitioner of another practice

    _devices: dict[str, Any] = field(default_factory=dict, repr=False)

    def headers(self, user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {user.tokens.access_token}"}

    def send(
        self, client: TestClient, user: User, method: str, path: str, json_body: object = None
    ) -> Any:
        """A change of ``user``'s, signed by them (R3): its answer, whatever its status."""
        if user.email not in self._devices:
            self._devices[user.email] = device(client, None, user)
        exchange = self._devices[user.email]
        token = user.tokens.access_token
        return send_signed(client, exchange, token, method, path, json_body=json_body)


def make_cabinet(client: TestClient, users: Users) -> Cabinet:
    alice = users.signed_in("alice@example.org")
    carol = users.signed_in("carol@example.org", "patient")
    mallory = users.signed_in("mallory@example.org")
    headers = {"Authorization": f"Bearer {alice.tokens.access_token}"}
    practice = client.post("/practices", json={"name": "Cabinet"}, headers=headers).json()["id"]
    users.join_practice(alice, practice, carol)
    return Cabinet(practice, alice, carol, mallory)


def join_unverified(
    client: TestClient, users: Users, outbox: Outbox, cabinet: Cabinet, role: str
) -> User:
    """A practitioner who joined the practice by invitation (``role``), with an identity
    nobody verified: what anyone can become by asking an admin for an invitation."""
    client.post(
        f"/practices/{cabinet.id}/invitations",
        json={"email": "self.declared@example.org", "role": role},
        headers=cabinet.headers(cabinet.alice),
    )
    return users.signed_in(
        "self.declared@example.org",
        verified=False,
        invitation=outbox.last_code("self.declared@example.org", "Invitation code"),
    )
