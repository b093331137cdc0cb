"""Resident identity card numbers (居民身份证号码) per GB 11643-1999.

An 18-character number is: a 6-digit administrative division code (where the hukou was first
registered), the birth date ``YYYYMMDD``, a 3-digit sequence whose last digit is odd for men and
even for women, and a check character computed with ISO 7064 MOD 11-2 (``0``-``9`` or ``X``).
Older cards carry 15 digits (2-digit year, no check character); every such holder was born in
the 1900s, which is what makes the upgrade to 18 characters unambiguous.

The scalar helpers are pure and used by ingest; the vectorised builders are used by the
generator so that a million numbers cost a few matrix operations.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from carematch.synth.dates import components

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
"""Weight of each of the first 17 digits: 2**(17 - i) mod 11."""

CHECK_CHARS = "10X98765432"
"""Check character for each weighted sum modulo 11."""

_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)
_CHECK_ASCII = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)


def check_digit(first17: str) -> str:
    """Return the GB 11643 check character (``0``-``9`` or ``X``) for 17 leading digits.

    Raises:
        ValueError: if ``first17`` is not exactly 17 ASCII digits.

    Examples:
        >>> check_digit("11010519491231002")
        'X'
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _real_date(yyyymmdd: str) -> bool:
    try:
        dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return True


def is_valid_id(s: str) -> bool:
    """True if ``s`` is an 18-character ID with a real birth date and a correct check character.

    A lower-case ``x`` is accepted as the check character because data-entry systems often
    store it that way; the number is the same.

    Examples:
        >>> is_valid_id("11010519491231002X")
        True
        >>> is_valid_id("11010519491231002Y")
        False
    """
    if not isinstance(s, str) or len(s) != 18 or not s.isascii():
        return False
    body, check = s[:17], s[17].upper()
    if not body.isdigit() or not _real_date(body[6:14]):
        return False
    return check_digit(body) == check


def upgrade_15_to_18(s: str) -> str:
    """Convert a legacy 15-digit ID to its 18-character form (insert ``19``, append the check).

    Raises:
        ValueError: if ``s`` is not 15 digits or its birth date is not a real date.

    Examples:
        >>> upgrade_15_to_18("110105491231002")
        '11010519491231002X'
    """
    if not isinstance(s, str) or len(s) != 15 or not s.isascii() or not s.isdigit():
        raise ValueError(f"expected 15 digits, got {s!r}")
    first17 = s[:6] + "19" + s[6:]
    if not _real_date(first17[6:14]):
        raise ValueError(f"no real birth date in {s!r}")
    return first17 + check_digit(first17)


# --- vectorised builders (generator only) -------------------------------------------------


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative integers as an (n, width) matrix, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (np.asarray(values, dtype=np.int64)[:, None] // powers) % 10


def id_digit_matrix(area: np.ndarray, birth: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """Build 18-character IDs as an (n, 18) matrix of ASCII codes, check character included."""
    year, month, day = components(birth)
    body = np.concatenate(
        [
            _digits(area, 6),
            _digits(year, 4),
            _digits(month, 2),
            _digits(day, 2),
            _digits(sequence, 3),
        ],
        axis=1,
    )
    check = _CHECK_ASCII[(body @ _WEIGHTS) % 11]
    return np.concatenate([body.astype(np.uint8) + ord("0"), check[:, None]], axis=1)


def recompute_check(chars: np.ndarray) -> np.ndarray:
    """Check characters (ASCII codes) for the first 17 columns of an ID matrix."""
    body = chars[:, :17].astype(np.int64) - ord("0")
    return _CHECK_ASCII[(body @ _WEIGHTS) % 11]


def fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An (n, w) matrix of ASCII codes as an Arrow string array of n strings of width w."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())]
    )


def to_15_digits(chars: np.ndarray) -> np.ndarray:
    """The legacy 15-digit form of 18-character IDs: drop the century and the check character."""
    return np.concatenate([chars[:, :6], chars[:, 8:17]], axis=1)
