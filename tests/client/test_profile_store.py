"""Where the CLI keeps its sign-in: the refresh token in the keyring where there is one,
in the 0600 profile file otherwise; every state file replaced whole."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError

from uhealthsec.client import state_files
from uhealthsec.client.api import Tokens
from uhealthsec.client.profile import KEYRING_SERVICE, Profile, ProfileStore, system_keyring
from uhealthsec.client.state_files import write_atomically
from uhealthsec.protocol.signin import ACCESS_TOKEN_LONGEST_SECONDS

TOKENS = Tokens("access-token-1", "refresh-token-1", 300)


class InMemoryKeyring(KeyringBackend):
    """A keyring that keeps its passwords in a dict, standing for the system's."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


class LockedKeyring(InMemoryKeyring):
    """A keyring that is there but refuses to store (locked, or access denied)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringError("the keyring is locked")


def _use(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[KeyringBackend]:
    yield from _use(InMemoryKeyring())


@pytest.fixture
def no_keyring() -> Iterator[KeyringBackend]:
    # What keyring falls back to where the system has no keyring (as on a server).
    yield from _use(keyring.backends.fail.Keyring())


def _signed_in_profile() -> Profile:
    profile = Profile(server="https://uhs.example", email="doc@example.org")
    profile.store_tokens(TOKENS)
    return profile


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_without_a_keyring_the_refresh_token_stays_in_the_0600_file(tmp_path, no_keyring):
    assert system_keyring() is None
    store = ProfileStore(tmp_path / "config")
    store.save(_signed_in_profile())
    saved = json.loads(store.path.read_text())
    assert saved["refresh_token"] == TOKENS.refresh_token
    assert "refresh_token_kept_in" not in saved
    assert _mode(store.path) == 0o600 and _mode(store.directory) == 0o700
    assert store.load().refresh_token == TOKENS.refresh_token


def test_with_a_keyring_the_refresh_token_is_kept_there_and_not_in_the_file(
    tmp_path, memory_keyring
):
    assert system_keyring() is memory_keyring
    store = ProfileStore(tmp_path / "config")
    store.save(_signed_in_profile())
    assert TOKENS.refresh_token not in store.path.read_text()
    saved = json.loads(store.path.read_text())
    assert saved["refresh_token_kept_in"] == "keyring"
    assert saved["access_token"] == TOKENS.access_token
    entry = (KEYRING_SERVICE, str(store.path.absolute()))
    assert memory_keyring.passwords == {entry: TOKENS.refresh_token}
    loaded = store.load()
    assert loaded.signed_in and loaded.refresh_token == TOKENS.refresh_token


def test_each_profile_has_its_own_keyring_entry(tmp_path, memory_keyring):
    first, second = ProfileStore(tmp_path / "a"), ProfileStore(tmp_path / "b")
    first.save(_signed_in_profile())
    other = _signed_in_profile()
    other.store_tokens(Tokens("access-token-2", "refresh-token-2", 300))
    second.save(other)
    assert first.load().refresh_token == "refresh-token-1"
    assert second.load().refresh_token == "refresh-token-2"


def test_signing_out_removes_the_token_from_the_keyring(tmp_path, memory_keyring):
    store = ProfileStore(tmp_path / "config")
    profile = _signed_in_profile()
    store.save(profile)
    profile.forget_tokens()
    store.save(profile)
    assert memory_keyring.passwords == {}
    assert not store.load().signed_in
    store.save(profile)  # signed out twice: nothing to delete, no error


def test_a_rotated_refresh_token_replaces_the_one_in_the_keyring(tmp_path, memory_keyring):
    store = ProfileStore(tmp_path / "config")
    profile = _signed_in_profile()
    store.save(profile)
    profile.store_tokens(Tokens("access-token-2", "refresh-token-2", 300))
    store.save(profile)
    assert list(memory_keyring.passwords.values()) == ["refresh-token-2"]
    assert store.load().refresh_token == "refresh-token-2"


def test_a_keyring_that_refuses_leaves_the_token_in_the_file(tmp_path):
    for _ in _use(LockedKeyring()):
        store = ProfileStore(tmp_path / "config")
        store.save(_signed_in_profile())
        assert json.loads(store.path.read_text())["refresh_token"] == TOKENS.refresh_token
        assert store.load().refresh_token == TOKENS.refresh_token


def test_a_token_kept_in_the_file_moves_to_a_keyring_that_appeared(tmp_path, memory_keyring):
    store = ProfileStore(tmp_path / "config")
    for _ in _use(keyring.backends.fail.Keyring()):
        store.save(_signed_in_profile())
    profile = store.load()
    assert profile.refresh_token == TOKENS.refresh_token
    store.save(profile)
    assert TOKENS.refresh_token not in store.path.read_text()
    assert store.load().refresh_token == TOKENS.refresh_token


def test_a_keyring_gone_since_means_signing_in_again(tmp_path, memory_keyring):
    store = ProfileStore(tmp_path / "config")
    store.save(_signed_in_profile())
    for _ in _use(keyring.backends.fail.Keyring()):
        profile = store.load()
    assert not profile.signed_in and profile.email == "doc@example.org"


def test_state_files_are_replaced_whole_and_readable_by_the_user_only(tmp_path):
    path = tmp_path / "state.json"
    write_atomically(path, b'{"size": 1}')
    write_atomically(path, b'{"size": 2}')
    assert path.read_bytes() == b'{"size": 2}'
    assert _mode(path) == 0o600
    assert os.listdir(tmp_path) == ["state.json"]  # no temporary file left behind


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    write_atomically(path, b"previous")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_files.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, b"next")
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["state.json"]


def test_an_access_token_said_to_last_for_years_is_refreshed_within_the_servers_longest():
    """A server's ``expires_in`` of years would leave the CLI on a token the server
    stopped taking long since, never refreshed (docs/PROTOCOL.md, tokens)."""
    profile = Profile(server="https://uhs.example", email="doc@example.org")
    profile.store_tokens(Tokens("access-token-1", "refresh-token-1", 10 * 365 * 24 * 3600))
    assert profile.expires_at <= time.time() + ACCESS_TOKEN_LONGEST_SECONDS
