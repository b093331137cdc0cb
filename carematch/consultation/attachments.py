"""What an uploaded file really is, from its bytes (magic numbers), never from its name.

Pure: bytes in, a verdict out. A clinic's upload is only as trustworthy as the clinic's PC, so
the type a browser declares and the file's extension are ignored: an ``.exe`` renamed
``ecg.pdf`` is refused, and a download is served with the type sniffed here, never a type that
could make a browser run it.

Accepted (R-SV-5: an ECG, an image or a report):

- **PDF** — starts with ``%PDF-`` (reports, ECG printouts);
- **PNG** — the eight-byte PNG signature;
- **JPEG** — ``FF D8 FF``;
- **DICOM** — ``DICM`` at offset 128 after the 128-byte preamble (CT, X-ray, ECG waveforms);
- **ECG text export** — UTF-8 text (a BOM allowed) with no control characters besides tab and
  line ends, not markup (an HTML page is not an ECG), whose lines are mostly numbers: the CSV
  or plain-text sample export of a 12-lead machine.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DICOM = "application/dicom"
CSV = "text/csv"
TEXT = "text/plain"
CONTENT_TYPES = (PDF, PNG, JPEG, DICOM, CSV, TEXT)
# What each type is to the specialist: an image, a report or an ECG export.
KINDS = {PDF: "report", PNG: "image", JPEG: "image", DICOM: "image", CSV: "ecg", TEXT: "ecg"}
EXTENSIONS = {PDF: "pdf", PNG: "png", JPEG: "jpg", DICOM: "dcm", CSV: "csv", TEXT: "txt"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_ALLOWED_CONTROL = frozenset("\t\r\n")
# A text export must be at least this share numeric lines to count as an ECG export.
NUMERIC_SHARE = 0.5
MAX_NAME = 200


class UnsupportedFile(ValueError):
    """The bytes are none of the accepted types (the message says which are)."""


@dataclass(frozen=True)
class Sniffed:
    """What a file is: its content type and what it is to the specialist (ecg/image/report)."""

    content_type: str
    kind: str


def _text_type(data: bytes) -> str | None:
    """``text/csv`` or ``text/plain`` for an ECG text export; None for anything else."""
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(not ch.isprintable() and ch not in _ALLOWED_CONTROL for ch in text):
        return None
    if text.lstrip().startswith("<"):
        return None  # HTML, XML or SVG: markup a browser might run, not samples
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    numeric = sum(1 for line in lines if _NUMBER.search(line))
    if numeric / len(lines) < NUMERIC_SHARE:
        return None
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t")
    except csv.Error:
        return TEXT
    widths = {len(row) for row in csv.reader(lines[1:20], dialect)}
    return CSV if len(widths) == 1 and min(widths) >= 2 else TEXT


def sniff(data: bytes) -> Sniffed:
    """The type of a file from its first bytes.

    Raises:
        UnsupportedFile: empty, or none of the accepted types.

    Examples:
        >>> sniff(b"%PDF-1.7 ...").content_type
        'application/pdf'
        >>> sniff(b"\\x00" * 128 + b"DICM" + b"\\x02\\x00").kind
        'image'
        >>> sniff(b"time,I,II\\n0,0.12,0.30\\n2,0.15,0.31\\n").content_type
        'text/csv'
    """
    if not data:
        raise UnsupportedFile("the file is empty")
    if data.startswith(b"%PDF-"):
        content_type = PDF
    elif data.startswith(_PNG_SIGNATURE):
        content_type = PNG
    elif data.startswith(b"\xff\xd8\xff"):
        content_type = JPEG
    elif data[128:132] == b"DICM":
        content_type = DICOM
    else:
        found = _text_type(data)
        if found is None:
            raise UnsupportedFile(
                "the file is not a PDF, PNG, JPEG, DICOM image or ECG text/CSV export"
            )
        content_type = found
    return Sniffed(content_type, KINDS[content_type])


def clean_name(name: str | None, content_type: str) -> str:
    """A file name safe to show and to offer on download: no path, no control characters,
    at most 200 characters, with the extension of what the file really is."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?').strip(" .")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = stem[: MAX_NAME - 8] or "attachment"
    return f"{stem}.{EXTENSIONS[content_type]}"
