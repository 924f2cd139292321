"""Writes src/uhealthsec/client/breached_passwords.txt, the leaked passwords the clients
refuse offline (rule R6): `.venv/bin/python scripts/breached_passwords.py`.

The source is zxcvbn's "passwords" frequency list (leaked passwords, most common first),
shipped in the Python zxcvbn package, so the build needs no network. Only entries of at
least MIN_LENGTH characters are kept: shorter ones are refused by length before the list
is asked. Each is stored as the first BREACHED_PREFIX_BYTES of SHA-256 of its lowercase
UTF-8, in hex, sorted: the Python client and the browser (web/src/client/passwords.ts)
read this same file. tests/client/test_passwords.py checks that the file is what this
script writes.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from uhealthsec.client.passwords import BREACHED_FILE, MIN_LENGTH, breached_key

TARGET = Path(__file__).resolve().parent.parent / "src/uhealthsec/client" / BREACHED_FILE


def breached_file_text() -> str:
    entries = [word for word in FREQUENCY_LISTS["passwords"] if len(word) >= MIN_LENGTH]
    keys = sorted({breached_key(word).hex() for word in entries})
    header = [
        "# Leaked passwords refused by the clients (R6). Written by scripts/breached_passwords.py:",
        f"# zxcvbn {metadata.version('zxcvbn')} 'passwords' list, the {len(entries)} entries of",
        f"# at least {MIN_LENGTH} characters; each line is the first 4 bytes of SHA-256 of the",
        f"# lowercase UTF-8 password, hex, sorted. {len(keys)} keys: a password not in the list",
        f"# is taken for one with probability at most {len(keys)}/2^32.",
    ]
    return "\n".join([*header, *keys]) + "\n"


def main() -> int:
    TARGET.write_text(breached_file_text(), encoding="ascii")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
