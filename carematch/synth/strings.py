"""Vectorised string building on Arrow arrays, so no Python loop runs once per resident."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ArrayLike: TypeAlias = pa.Array | pa.ChunkedArray | np.ndarray | str


def as_arrow(values: ArrayLike, length: int | None = None) -> pa.Array | pa.Scalar:
    """Turn numpy arrays into Arrow arrays; plain strings become Arrow scalars for broadcasting."""
    if isinstance(values, str):
        return pa.scalar(values, pa.string())
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "iu":
            return pa.array(values).cast(pa.string())
        return pa.array(values, type=pa.string())
    return values


def concat(*parts: ArrayLike, sep: str = "") -> pa.Array:
    """Element-wise concatenation; a null part is skipped (so optional pieces simply vanish)."""
    arrays = [as_arrow(p) for p in parts]
    return pc.binary_join_element_wise(*arrays, sep, null_handling="skip")


def int_str(values: np.ndarray, width: int = 0) -> pa.Array:
    """Integers as decimal strings, zero-padded to ``width`` when given."""
    text = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return text


def prefixed_ids(prefix: str, count: int, width: int = 7) -> pa.Array:
    """Sequential identifiers like ``POL0000001`` (width grows if ``count`` needs more digits)."""
    width = max(width, len(str(count)))
    return concat(prefix, int_str(np.arange(1, count + 1), width))


def pick(table: Sequence[str], index: np.ndarray) -> pa.Array:
    """Look up ``table[index]`` for every element; a negative index gives null."""
    index = np.asarray(index, dtype=np.int64)
    values = pa.array(list(table), type=pa.string())
    mask = index < 0
    return values.take(pa.array(np.where(mask, 0, index), mask=mask))


def where(mask: np.ndarray, when_true: ArrayLike, when_false: ArrayLike) -> pa.Array:
    """Element-wise choice between two string arrays (or scalars)."""
    return pc.if_else(
        pa.array(np.asarray(mask, dtype=bool)), as_arrow(when_true), as_arrow(when_false)
    )


def join_lists(row: np.ndarray, values: pa.Array, n_rows: int, sep: str) -> pa.Array:
    """Join variable-length groups of strings into one string per row.

    Args:
        row: the row each value belongs to, sorted ascending.
        values: the strings, aligned with ``row``.
        n_rows: number of output rows (rows with no values get an empty string).
        sep: separator placed between values of one row.
    """
    counts = np.bincount(np.asarray(row, dtype=np.int64), minlength=n_rows)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), as_arrow(values))
    return pc.binary_join(lists, sep)


def decimal(values: np.ndarray, places: int, null: np.ndarray | None = None) -> pa.Array:
    """Non-negative numbers as fixed-point text (``7.0``, ``123.45``); ``null`` rows stay empty.

    Fixed decimals keep money and glucose readable (Arrow would write 7.0 as ``7``) and the
    output byte-stable.
    """
    scaled = np.round(np.nan_to_num(np.asarray(values, dtype=np.float64)) * 10**places).astype(
        np.int64
    )
    whole, frac = np.divmod(scaled, 10**places)
    text = concat(int_str(whole), ".", int_str(frac, places))
    if null is None:
        return text
    return pc.if_else(
        pa.array(np.asarray(null, dtype=bool)), pa.nulls(len(text), pa.string()), text
    )


def nullable_int(values: np.ndarray, null: np.ndarray) -> pa.Array:
    """Integers with nulls where ``null`` is true."""
    return pa.array(np.asarray(values, dtype=np.int64), mask=np.asarray(null, dtype=bool))


def dates(values: np.ndarray) -> pa.Array:
    """ISO dates (``YYYY-MM-DD``); NaT becomes null."""
    return pa.array(np.asarray(values, dtype="datetime64[D]")).cast(pa.string())
