"""RPPS numbers: 11 digits whose last is a Luhn check digit (R8).

The RPPS identifier is issued by the national directory of health professionals; the
directory itself is not reachable from here, so a number is checked by its form only.
"""

from __future__ import annotations


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_valid_rpps(number: str) -> bool:
    return len(number) == 11 and number.isascii() and number.isdigit() and luhn_valid(number)


def luhn_check_digit(partial: str) -> str:
    """The digit that completes ``partial`` into a Luhn-valid number."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return digit
    raise AssertionError("unreachable: one digit always completes a Luhn number")
