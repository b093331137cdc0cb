"""Jurisdiction (辖区): a staff user sees records in their region and every region below it."""

from __future__ import annotations


def region_prefix(code: str) -> str:
    """The code prefix shared by a region and everything inside it.

    Six-digit codes pad with zero pairs: 440000 (province) → "44", 449900 (city) → "4499",
    449901 (district) → "449901". Street and community codes are their own prefix.

    Examples:
        >>> region_prefix("449900")
        '4499'
        >>> region_prefix("449901001")
        '449901001'
    """
    code = code.strip()
    if len(code) == 6:
        while code.endswith("00") and len(code) > 2:
            code = code[:-2]
    return code


def within(record_region: str | None, user_region: str | None) -> bool:
    """True when a record in ``record_region`` lies inside ``user_region``.

    ``user_region`` None means no restriction (admin). A record with no region is visible only
    to unrestricted users: an unknown location must not leak to every district.
    """
    if user_region is None:
        return True
    if not record_region:
        return False
    return record_region.startswith(region_prefix(user_region))
