"""A new password judged by the CLI (client/passwords.py, Python zxcvbn) and by the
browser (web/src/app/password_strength.ts, @zxcvbn-ts with the common and French word
lists) with the same rules and threshold: each refuses a guessable one with zxcvbn's
feedback (the browser's in the page's language) and takes a strong one."""

from __future__ import annotations

import pytest

from tests.web.node_jobs import job_runner
from uhealthsec.client.passwords import MIN_SCORE, check_new_password

IDENTITY = ("claire.martin@cabinet.test", "Claire Martin")
WEAK = "Password2024!"
STRONG = "cheval agrafe pile correcte bleu"


@pytest.fixture(scope="module")
def browser_judges(tmp_path_factory):
    run = job_runner("password_strength", tmp_path_factory.mktemp("passwords"))

    def judge(password: str, language: str = "fr") -> str:
        [(ok, said)] = run([{"password": password, "identity": IDENTITY, "language": language}])
        assert ok
        return said

    return judge


def test_a_guessable_password_is_refused_with_feedback_by_the_cli_and_the_browser(browser_judges):
    cli = check_new_password(WEAK, IDENTITY)
    assert not cli.acceptable
    assert "similar to a commonly used password" in cli.reason
    said = browser_judges(WEAK).split(" | ")
    assert said[0] == "guessable"
    assert "Ce mot de passe est similaire à un mot de passe couramment utilisé." in said
    assert "similar to a commonly used password" in browser_judges(WEAK, "en")


def test_a_strong_password_is_taken_and_both_use_one_threshold(browser_judges):
    assert check_new_password(STRONG, IDENTITY).acceptable
    assert browser_judges(STRONG) == "accepted"
    assert MIN_SCORE == 3  # web/src/app/password_strength.ts MIN_SCORE
    # A city and a year: zxcvbn rates it 3 of 4 in both, which the shared threshold takes.
    assert check_new_password("Marseille2024!", IDENTITY).acceptable
    assert browser_judges("Marseille2024!") == "accepted"
    # Short, or made of the person's name: refused before zxcvbn by both.
    refused_first = (("Court1!", "too_short"), ("claire.martin-rivage-42", "contains_identity"))
    for refused, problem in refused_first:
        assert not check_new_password(refused, IDENTITY).acceptable
        assert browser_judges(refused) == problem
