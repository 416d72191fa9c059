"""BCH(127, 64) and CRC-16: the payload's error correction and check value."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.watermark.bch import (
    CODEWORD_BITS,
    CORRECTABLE_ERRORS,
    MESSAGE_BITS,
    bch_decode,
    bch_encode,
    crc16,
)

messages = st.integers(min_value=0, max_value=(1 << MESSAGE_BITS) - 1)


def flip(codeword: int, positions: set[int]) -> int:
    for position in positions:
        codeword ^= 1 << position
    return codeword


def test_crc16_matches_the_ccitt_false_check_value() -> None:
    # The catalogue check value of CRC-16/CCITT-FALSE over "123456789".
    assert crc16(b"123456789") == 0x29B1


# Values of the bit-by-bit CRC that binascii.crc_hqx replaced (the equality was tested on
# random inputs before it went): a stamped image's check value must not change.
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0xFFFF),
        (b"\x00", 0xE1F0),
        (b"\xff", 0xFF00),
        (b"A", 0xB915),
        (bytes(6), 0x0E10),
        (b"\xff" * 6, 0x99CF),
        (bytes.fromhex("0123456789ab"), 0xC475),
        (bytes.fromhex("fedcba987654"), 0x53AA),
        (bytes(range(256)), 0x3FBD),
    ],
)
def test_crc16_keeps_the_values_of_the_bitwise_implementation(data: bytes, expected: int) -> None:
    assert crc16(data) == expected


def test_encoding_is_systematic() -> None:
    message = 0xA1B2_C3D4_E5F6_0718
    codeword = bch_encode(message)
    assert codeword >> (CODEWORD_BITS - MESSAGE_BITS) == message
    assert codeword.bit_length() <= CODEWORD_BITS


@settings(max_examples=150, deadline=None)
@given(
    message=messages,
    positions=st.sets(st.integers(0, CODEWORD_BITS - 1), max_size=CORRECTABLE_ERRORS),
)
def test_up_to_ten_errors_are_corrected(message: int, positions: set[int]) -> None:
    assert bch_decode(flip(bch_encode(message), positions)) == message


@settings(max_examples=60, deadline=None)
@given(
    message=messages,
    positions=st.sets(st.integers(0, CODEWORD_BITS - 1), min_size=11, max_size=11),
)
def test_eleven_errors_never_come_back_as_the_original(message: int, positions: set[int]) -> None:
    # Any other codeword is ≥ 21 bits away, so the decoder either fails or lands elsewhere.
    assert bch_decode(flip(bch_encode(message), positions)) != message


def test_random_words_rarely_decode() -> None:
    rng = random.Random(42)
    decoded = sum(bch_decode(rng.getrandbits(CODEWORD_BITS)) is not None for _ in range(1000))
    # Expected rate: words within 10 bits of a codeword / 2^63 ≈ 3e-5.
    assert decoded <= 2


def test_out_of_range_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="64 bits"):
        bch_encode(1 << MESSAGE_BITS)
    with pytest.raises(ValueError, match="127 bits"):
        bch_decode(1 << CODEWORD_BITS)
