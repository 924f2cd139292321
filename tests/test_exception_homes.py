"""Where exceptions live: every refusal of the client derives from one base, so that a
program using the SDK can catch them all; every exception of the cryptographic core
is in crypto/errors.py, with an identifier of its own that docs/PROTOCOL.md lists."""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import typer

import uhealthsec.client
import uhealthsec.crypto
from uhealthsec.client.errors import ClientError
from uhealthsec.crypto import errors as crypto_errors
from uhealthsec.crypto.errors import CryptoError

PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "PROTOCOL.md"


def _modules(package: ModuleType) -> list[ModuleType]:
    names = [package.__name__] + [
        info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    ]
    return [importlib.import_module(name) for name in names]


def _exceptions_defined_in(package: ModuleType) -> dict[str, type[BaseException]]:
    """Every exception class written in the package, by qualified name (a class found
    under several modules is counted where it is defined)."""
    found: dict[str, type[BaseException]] = {}
    for module in _modules(package):
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_the_scan_sees_the_exceptions_it_is_about():
    client = _exceptions_defined_in(uhealthsec.client)
    crypto = _exceptions_defined_in(uhealthsec.crypto)
    assert "uhealthsec.client.errors.ApiError" in client
    assert "uhealthsec.client.errors.HistoryIncomplete" in client
    assert "uhealthsec.crypto.errors.InvalidProof" in crypto


def test_every_client_exception_derives_from_the_client_base():
    outside = [
        name
        for name, cls in _exceptions_defined_in(uhealthsec.client).items()
        # A command ending with an exit status is how typer leaves, not a refusal
        # a program using the SDK could meet.
        if not issubclass(cls, (ClientError, typer.Exit))
    ]
    assert outside == []


def test_every_crypto_exception_is_in_the_errors_module():
    elsewhere = [
        name
        for name, cls in _exceptions_defined_in(uhealthsec.crypto).items()
        if cls.__module__ != crypto_errors.__name__
    ]
    assert elsewhere == []


def test_every_crypto_exception_is_a_crypto_error_with_its_own_listed_identifier():
    classes = _exceptions_defined_in(uhealthsec.crypto).values()
    assert all(issubclass(cls, CryptoError) for cls in classes)
    refusals = [cls for cls in classes if cls is not CryptoError]
    identifiers = [cls.identifier for cls in refusals]
    assert len(set(identifiers)) == len(identifiers), identifiers
    section = PROTOCOL.read_text(encoding="utf-8").split("### 8.1 Error identifiers")[1]
    section = section.split("\n## ")[0]
    listed = {name.split(":")[0] for name in re.findall(r"^\| `([a-z_:i]+)` \|", section, re.M)}
    assert listed == set(identifiers)
