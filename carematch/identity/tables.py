"""Reading canonical extracts (CSV or Parquet) into tables for linkage."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from carematch.identity.ingest import detect_encoding


def read_canonical(path: Path) -> pd.DataFrame:
    """A table of strings with ``record_id``; CSV in UTF-8 (BOM or not) or GBK, or Parquet."""
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path).astype("string").astype(object)
        frame = frame.where(frame.notna(), "")
    else:
        data = path.read_bytes()
        text = data.decode(detect_encoding(data), errors="replace")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "record_id" not in frame.columns:
        raise ValueError(f"{path.name} has no record_id column")
    if frame["record_id"].duplicated().any():
        dup = frame.loc[frame["record_id"].duplicated(), "record_id"].iloc[0]
        raise ValueError(f"{path.name}: record_id {dup!r} appears more than once")
    return frame
