"""Binary BCH(127, 64) error correction and the CRC-16 check value of the payload.

The watermark payload is 64 bits (a 48-bit id and its CRC-16); BCH(127, 64) adds 63
parity bits and corrects any 10 bit errors in the 127-bit codeword. Plain Python over
GF(2^7) — one decode is a few hundred table look-ups, far below the cost of reading
the image::

    codeword = bch_encode(message_64_bits)
    assert bch_decode(codeword ^ 0b1011) == message_64_bits

Codewords and messages are Python ints; bit ``i`` of a codeword is the coefficient of
``x**i`` (Lin & Costello, *Error Control Coding*, 2nd ed., ch. 6).
"""

from __future__ import annotations

import binascii
from functools import cache

__all__ = [
    "CODEWORD_BITS",
    "CORRECTABLE_ERRORS",
    "MESSAGE_BITS",
    "bch_decode",
    "bch_encode",
    "crc16",
]

FIELD_BITS = 7
CODEWORD_BITS = (1 << FIELD_BITS) - 1  # n = 2^m - 1 = 127
MESSAGE_BITS = 64  # k
CORRECTABLE_ERRORS = 10  # t: roots alpha^1 .. alpha^2t, designed distance 21
PARITY_BITS = CODEWORD_BITS - MESSAGE_BITS
PRIMITIVE_POLYNOMIAL = 0b1000_1001  # x^7 + x^3 + 1


@cache
def _field_tables() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """exp and log tables of GF(2^7); exp is doubled so sums of logs need no modulo."""
    exp = [0] * (2 * CODEWORD_BITS)
    log = [0] * (CODEWORD_BITS + 1)
    value = 1
    for power in range(CODEWORD_BITS):
        exp[power] = value
        log[value] = power
        value <<= 1
        if value & (1 << FIELD_BITS):
            value ^= PRIMITIVE_POLYNOMIAL
    for power in range(CODEWORD_BITS, 2 * CODEWORD_BITS):
        exp[power] = exp[power - CODEWORD_BITS]
    return tuple(exp), tuple(log)


def _gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    exp, log = _field_tables()
    return exp[log[a] + log[b]]


def _gf_inverse(a: int) -> int:
    exp, log = _field_tables()
    return exp[CODEWORD_BITS - log[a]]


def _gf2_poly_mul(a: int, b: int) -> int:
    """Carry-less product of two GF(2) polynomials held as ints."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        b >>= 1
    return product


def _gf2_poly_mod(dividend: int, divisor: int) -> int:
    divisor_degree = divisor.bit_length() - 1
    while dividend.bit_length() - 1 >= divisor_degree:
        dividend ^= divisor << (dividend.bit_length() - 1 - divisor_degree)
    return dividend


def _minimal_polynomial(power: int) -> int:
    """Minimal polynomial over GF(2) of alpha^power: product over its cyclotomic coset."""
    coset = []
    member = power
    while member not in coset:
        coset.append(member)
        member = (member * 2) % CODEWORD_BITS
    exp, _ = _field_tables()
    coefficients = [1]  # in GF(2^7), lowest degree first
    for member in coset:
        root = exp[member]
        shifted = [0, *coefficients]
        for index, coefficient in enumerate(coefficients):
            shifted[index] ^= _gf_mul(coefficient, root)
        coefficients = shifted
    # The coefficients of a minimal polynomial lie in GF(2).
    return sum(coefficient << index for index, coefficient in enumerate(coefficients))


@cache
def _generator_polynomial() -> int:
    """LCM of the minimal polynomials of alpha^1 .. alpha^2t (BCH bound)."""
    generator = 1
    seen: set[int] = set()
    for power in range(1, 2 * CORRECTABLE_ERRORS + 1):
        minimal = _minimal_polynomial(power)
        if minimal not in seen:
            seen.add(minimal)
            generator = _gf2_poly_mul(generator, minimal)
    if generator.bit_length() - 1 != PARITY_BITS:
        raise AssertionError("BCH(127, 64) generator must have degree 63")
    return generator


def bch_encode(message: int) -> int:
    """Systematic codeword: the message in the high 64 bits, parity in the low 63."""
    if message < 0 or message >> MESSAGE_BITS:
        raise ValueError(f"message must fit in {MESSAGE_BITS} bits")
    shifted = message << PARITY_BITS
    return shifted | _gf2_poly_mod(shifted, _generator_polynomial())


def _syndromes(received: int) -> list[int]:
    exp, _ = _field_tables()
    positions = [index for index in range(CODEWORD_BITS) if received >> index & 1]
    syndromes = []
    for power in range(1, 2 * CORRECTABLE_ERRORS + 1):
        value = 0
        for position in positions:
            value ^= exp[(position * power) % CODEWORD_BITS]
        syndromes.append(value)
    return syndromes


def _berlekamp_massey(syndromes: list[int]) -> list[int]:
    """Error-locator polynomial (lowest degree first) from the syndromes."""
    locator = [1]
    previous = [1]
    length = 0
    shift = 1
    previous_discrepancy = 1
    for step, syndrome in enumerate(syndromes):
        discrepancy = syndrome
        for index in range(1, length + 1):
            if index < len(locator):
                discrepancy ^= _gf_mul(locator[index], syndromes[step - index])
        if discrepancy == 0:
            shift += 1
            continue
        factor = _gf_mul(discrepancy, _gf_inverse(previous_discrepancy))
        candidate = locator + [0] * max(0, len(previous) + shift - len(locator))
        for index, coefficient in enumerate(previous):
            candidate[index + shift] ^= _gf_mul(factor, coefficient)
        if 2 * length <= step:
            previous, length = locator, step + 1 - length
            previous_discrepancy = discrepancy
            shift = 1
        else:
            shift += 1
        locator = candidate
    while len(locator) > 1 and locator[-1] == 0:
        locator.pop()
    return locator


def _error_positions(locator: list[int]) -> list[int]:
    """Chien search: position i is in error when locator(alpha^-i) = 0."""
    exp, _ = _field_tables()
    positions = []
    for position in range(CODEWORD_BITS):
        inverse_power = (CODEWORD_BITS - position) % CODEWORD_BITS
        value = 0
        for degree, coefficient in enumerate(locator):
            value ^= _gf_mul(coefficient, exp[(inverse_power * degree) % CODEWORD_BITS])
        if value == 0:
            positions.append(position)
    return positions


def bch_decode(received: int) -> int | None:
    """The corrected 64-bit message, or ``None`` when more than 10 bits are wrong."""
    if received < 0 or received >> CODEWORD_BITS:
        raise ValueError(f"codeword must fit in {CODEWORD_BITS} bits")
    syndromes = _syndromes(received)
    if any(syndromes):
        locator = _berlekamp_massey(syndromes)
        degree = len(locator) - 1
        if degree > CORRECTABLE_ERRORS:
            return None
        positions = _error_positions(locator)
        if len(positions) != degree:
            return None  # the locator does not split: uncorrectable
        for position in positions:
            received ^= 1 << position
        if any(_syndromes(received)):
            return None
    return received >> PARITY_BITS


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) — the payload's check value.

    ``binascii.crc_hqx`` is this CRC (MSB first, no reflection, no final XOR) once it
    starts from 0xFFFF; the bit-by-bit loop it replaced gave the same value on every
    input, so stamped images decode as before.
    """
    return binascii.crc_hqx(data, 0xFFFF)
