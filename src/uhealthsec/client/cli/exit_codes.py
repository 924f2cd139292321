"""What ``uhs`` exits with, in one table: scripts tell a refusal from a typing mistake,
an expired session from a wrong password, and a cancellation from a failure (the
codes of age, gh and restic where they agree)."""

from __future__ import annotations

#: Done.
OK = 0
#: Refused by the server, or a check on this device failed (a signature, a proof).
REFUSED = 1
#: The command line was wrong: an unknown option, a missing or ambiguous argument.
USAGE = 2
#: Signed out, session expired, or the second factor was not proven.
AUTHENTICATION = 4
#: The password does not unlock the keys on this device.
WRONG_PASSWORD = 12
#: Ctrl-C, or a question answered no.
CANCELLED = 130

MEANINGS = (
    (OK, "done"),
    (REFUSED, "refused by the server, or a verification failed"),
    (USAGE, "wrong usage (option, argument, ambiguous id)"),
    (AUTHENTICATION, "not signed in, session expired, or second factor not proven"),
    (WRONG_PASSWORD, "wrong password (the keys on this device stay locked)"),
    (CANCELLED, "cancelled (Ctrl-C, or a question answered no)"),
)

#: The end of ``uhs --help``; ``\b`` keeps Click from rewrapping the table.
HELP = "Exit status:\n\n\b\n" + "\n".join(f"  {code:<4} {what}" for code, what in MEANINGS)
