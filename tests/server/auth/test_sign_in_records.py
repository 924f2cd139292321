"""What sign-ins leave in the database is forgotten once it can serve no more
(``uhs-server cleanup``): anyone may ask for passkey options for an address that has
a passkey, or start a sign-in, as often as they like, and each asks leaves a row."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.server.auth.softauthn import SoftAuthenticator
from tests.server_fixtures import ORIGIN
from uhealthsec.server.auth.models import AuthorizationCode, LoginFlow, WebAuthnChallenge
from uhealthsec.server.auth.service import purge_finished_sign_ins


def _rows(ctx) -> list[int]:
    with ctx.sessions() as db:
        return [
            db.scalar(select(func.count()).select_from(model)) or 0
            for model in (WebAuthnChallenge, LoginFlow, AuthorizationCode)
        ]


def test_cleanup_forgets_challenges_sign_ins_and_codes_an_hour_after_they_end(
    users, sdk, ctx, clock
):
    user = users.signed_in("passkey@example.org")
    key = SoftAuthenticator(ORIGIN)
    sdk.add_passkey(
        user.tokens, user.password, key.create(sdk.passkey_registration_options(user.tokens))
    )
    # A stranger asks for the options of this address, again and again, and abandons
    # a sign-in with the password (a ticket left behind).
    for _ in range(30):
        asked = sdk.http.post("/auth/login/passkey-options", json={"email": user.email})
        assert asked.status_code == 200
    sdk.start_login(user.email, user.password)
    challenges, flows, codes = _rows(ctx)
    assert challenges >= 30 and flows >= 2 and codes >= 1

    with ctx.sessions.begin() as db:
        assert purge_finished_sign_ins(db, ctx.now()) == 0  # all still usable
    clock.advance(hours=1, minutes=6)
    with ctx.sessions.begin() as db:
        assert purge_finished_sign_ins(db, ctx.now()) == challenges + flows + codes
    assert _rows(ctx) == [0, 0, 0]
    # The account still signs in, with its password and its passkey.
    users.sign_in_again(user)
