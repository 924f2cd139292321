"""E-mail addresses as every domain compares them: one normal form, checked once.

Accounts, sign-in, the shield, records, messages and consents all look people up by
address; they share this rule without depending on one another for it.
"""

from __future__ import annotations

import re

from uhealthsec.server.errors import InvalidInput

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    """``email`` trimmed and in lower case.

    :raises InvalidInput: not an address, or longer than 320 characters.
    """
    address = email.strip().lower()
    if len(address) > 320 or not _EMAIL.match(address):
        raise InvalidInput("this is not a valid e-mail address")
    return address
