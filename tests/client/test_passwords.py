"""Rule R6, a new password, on the device (client/passwords.py), against the vectors the
browser's tests read too (tests/vectors/passwords.json, web/test/passwords.test.ts):
CNIL deliberation 2022-100's counting with its 50-bit bar, the leaked-password list, and
zxcvbn's rating with its advice."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest

from uhealthsec.client import passwords
from uhealthsec.client.passwords import (
    MIN_ENTROPY_BITS,
    check_new_password,
    cnil_entropy_bits,
    is_breached,
    rule_problem,
)

VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "passwords.json").read_text("utf-8")
)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("vector", VECTORS["entropy"], ids=lambda v: v["password"])
def test_r6_counts_entropy_as_cnil_deliberation_2022_100(vector):
    assert cnil_entropy_bits(vector["password"]) == pytest.approx(vector["bits"], abs=1e-5)


def test_r6_the_bar_is_50_bits_and_49_point_x_is_refused():
    assert MIN_ENTROPY_BITS == VECTORS["min_entropy_bits"] == 50
    assert pytest.approx(VECTORS["word_bits"]) == passwords.WORD_BITS
    just_under, just_over = "829104736251048", "8291047362510483"
    assert 49 < cnil_entropy_bits(just_under) < 50 < cnil_entropy_bits(just_over)
    assert rule_problem(just_under) == "too_weak"
    assert rule_problem(just_over) is None
    assert check_new_password(just_under).problem == "too_weak"
    # What zxcvbn 3 let through before: 12 digits (39.9 bits), two words.
    for weak in ("493817265031", "correct horse"):
        verdict = check_new_password(weak)
        assert not verdict.acceptable
        assert "add two or three unrelated words" in verdict.reason


@pytest.mark.parametrize("vector", VECTORS["rule"], ids=lambda v: v["password"])
def test_r6_refusals_without_zxcvbn_match_the_vectors(vector):
    assert rule_problem(vector["password"], tuple(vector["identity"])) == vector["problem"]


@pytest.mark.parametrize("vector", VECTORS["judged"], ids=lambda v: v["password"])
def test_r6_whole_rule_with_zxcvbn_matches_the_vectors(vector):
    verdict = check_new_password(vector["password"], tuple(vector["identity"]))
    assert verdict.problem == vector["problem"]
    assert verdict.acceptable == (vector["problem"] is None)
    assert bool(verdict.reason) == (vector["problem"] is not None)


def test_r6_a_password_over_50_bits_that_zxcvbn_rates_low_is_refused_with_its_advice():
    assert cnil_entropy_bits("Password2024!") > 80
    verdict = check_new_password("Password2024!")
    assert verdict.problem == "guessable"
    assert "similar to a commonly used password" in verdict.reason


def test_r6_leaked_passwords_are_refused_whatever_their_case():
    for leaked in ("qwerty123456", "QwErTy123456", "justinbieber", "1qaz2wsx3edc4rfv"):
        assert is_breached(leaked)
        assert check_new_password(leaked).problem == "breached"
    assert not is_breached("plum orchard violin tundra harbour")


def test_r6_the_leaked_list_holds_every_long_entry_of_zxcvbn_passwords():
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    long_ones = [w for w in FREQUENCY_LISTS["passwords"] if len(w) >= passwords.MIN_LENGTH]
    assert len(long_ones) > 200
    assert all(is_breached(word) for word in long_ones)


def test_r6_the_leaked_list_false_positive_rate_is_under_its_stated_bound():
    # The file states its bound: a password not in it matches one of its n 32-bit keys
    # with probability n / 2^32. Random strings of the accepted kind must stay under it.
    keys = passwords._breached_prefixes()
    bound = len(keys) / 2**32
    assert bound < 1e-6
    rng = random.Random(20221016)
    alphabet = string.ascii_letters + string.digits + string.punctuation
    trials = 200_000
    hits = sum(is_breached("".join(rng.choices(alphabet, k=16))) for _ in range(trials))
    # With ~0.01 expected, even 2 hits would be a rate 400 times the bound.
    assert hits / trials <= max(bound, 1 / trials)


def test_r6_the_leaked_list_file_is_what_its_generator_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "breached_passwords", ROOT / "scripts" / "breached_passwords.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    shipped = (ROOT / "src/uhealthsec/client" / passwords.BREACHED_FILE).read_text("ascii")
    assert shipped == generator.breached_file_text()


def test_r6_a_passphrase_longer_than_zxcvbn_reads_is_judged_not_refused_with_an_error():
    """zxcvbn 4.5 raises on more than 72 characters: the rule rates the first 72."""
    long = "correct horse battery staple orange piano violet tulip mountain river forest ocean"
    assert len(long) > 72
    assert check_new_password(long, ()).acceptable
