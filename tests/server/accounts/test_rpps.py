from hypothesis import given
from hypothesis import strategies as st

from uhealthsec.server.accounts.rpps import is_valid_rpps, luhn_check_digit, luhn_valid


def test_luhn_reference_numbers():
    # Published Luhn examples (ISO/IEC 7812-1 annex): 79927398713 is valid.
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert luhn_check_digit("7992739871") == "3"


def test_rpps_form():
    assert is_valid_rpps("79927398713")
    assert not is_valid_rpps("7992739871")  # 10 digits
    assert not is_valid_rpps("799273987130")  # 12 digits
    assert not is_valid_rpps("7992739871a")
    assert not is_valid_rpps("٧٩٩٢٧٣٩٨٧١٣")  # non-ASCII digits


@given(st.text(alphabet="0123456789", min_size=10, max_size=10), st.integers(0, 9))
def test_exactly_one_check_digit_completes_a_number(partial, wrong):
    digit = luhn_check_digit(partial)
    assert is_valid_rpps(partial + digit)
    if str(wrong) != digit:
        assert not is_valid_rpps(partial + str(wrong))
