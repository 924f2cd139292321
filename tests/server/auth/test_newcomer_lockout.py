"""An outsider who fails sign-ins on an address must not lock out an account that has
no second factor yet (issue 15, items 3 and 8). The limit on the password itself (100
wrong ones in a row block it until the owner's mailed link, R7) is
test_authenticator_block.py's."""

from __future__ import annotations

import pytest

from tests.server_fixtures import PASSWORD
from uhealthsec.client.api import ApiError, AuthClient
from uhealthsec.server.shield import service as shield
from uhealthsec.server.shield.service import Shield


def _exhaust(ctx, address: str) -> None:
    # 100 failures, each of which paid the backoff's proof of work (minutes of CPU):
    # simulated as the shield's own tests do.
    with ctx.sessions.begin() as db:
        for _ in range(shield.SECOND_FACTOR_AFTER):
            Shield(db, ctx).fail(address)


def test_failures_on_an_address_do_not_lock_out_an_account_that_has_no_factor_yet(
    users, ctx, client
):
    """A colleague just confirmed their address: their account has no second factor
    yet, so it has none to send with the password once the address is past the limit
    of failures, and only a whole sign-in ends the run. The limit applies the
    newcomer rule of the breaker: the password is checked for an account without a
    factor."""
    users.register("newcomer@example.org")  # confirmed, no second factor yet
    _exhaust(ctx, "newcomer@example.org")
    sdk = AuthClient(client)
    with pytest.raises(ApiError) as guessed:
        sdk.start_login("newcomer@example.org", "not the password at all")
    assert guessed.value.status == 401  # the same answer as for an account with a factor
    login = sdk.start_login("newcomer@example.org", PASSWORD)
    assert login.enrolment_required


def test_past_the_limit_an_account_with_a_factor_still_needs_it_with_the_password(users, ctx, sdk):
    user = users.signed_in("factored@example.org")
    _exhaust(ctx, user.email)
    answers = []
    for password in (PASSWORD, "not the password at all"):
        with pytest.raises(ApiError) as refused:
            sdk.start_login(user.email, password)
        answers.append((refused.value.status, refused.value.detail))
    assert answers[0] == answers[1]  # the right password is not told from a wrong one
    code = users.next_totp(user.totp_secret)
    assert sdk.start_login(user.email, PASSWORD, {"totp_code": code}).complete
