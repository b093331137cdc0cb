"""Verifiable vaccination e-certificates (电子接种证明): sign, encode, render as a QR, verify.

The format, version 1::

    certificate = base64url( version || key_id || body || signature )   (no padding)
    version     = 0x01                                                  (1 byte)
    key_id      = SHA-256(raw Ed25519 public key)[:8]                   (8 bytes)
    body        = raw DEFLATE( canonical JSON payload ), preset dictionary ZDICT (level 9)
    signature   = Ed25519( SIGNING_CONTEXT || version || key_id || body )  (64 bytes)

The signature covers the bytes exactly as they travel, compressed: a verifier checks it before
decompressing anything (so an unsigned deflate bomb is never inflated), and there is no second
spelling of a signed certificate: another deflate encoding of the same payload, or a base64
character or padding bit that decodes to the same bytes, still changes the signed bytes or is
refused as non-canonical base64. Any change to any byte is therefore detected.

Size is what decides whether a phone reads the QR: raw DEFLATE (no zlib header or checksum:
the signature already guards the bytes) with a preset dictionary (the payload's skeleton and the
programme's series codes, :data:`ZDICT`) halves a small certificate. A child's six doses take
about 280 characters; 24 doses about 455, a version 17 (85 × 85) code at error correction M as
a verify URL. The dictionary is part of format 1: changing it needs a new version byte.

The payload is canonical JSON: keys sorted, no whitespace, UTF-8 (not ``\\u`` escapes), and
only objects with ASCII keys, arrays, strings and integers. For such values this is byte for
byte RFC 8785 (JCS) output, so another implementation may use a JCS library; the verifier
re-serialises the payload and refuses one that is not canonical. Example (one dose)::

    {"cid":"9f3c…","doses":[{"date":"2021-05-15","dose":1,"series":"HepB"}],
     "holder":{"birth_date":"2021-05-15","name":"林小雨"},"issued_at":"2024-05-15T08:00:00Z",
     "issuer":"CareMatch","kid":"1a2b3c4d5e6f7081","v":1}

Personal data in the certificate is the minimum a checker at a door needs to match it to an ID
document: the holder's name and date of birth. No ID number, sex, phone, address or internal
person id (a QR is easily photographed; an ID number with a name is a complete identity, and an
internal id would let someone holding many certificates join them to the registry). The doses
carry the series, the date, the dose number when the dose counts under the schedule, and the
lot when one is recorded. ``cid`` is a random certificate id that ties the certificate to its
audit-log entry. There is no expiry: a dose given stays given; a newer certificate lists more.

Pure: plain values in, plain values out (cryptography, zlib and segno; no database, no web).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import secrets
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

import segno
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carematch.core.errors import Conflict, InvalidInput
from carematch.vaccination.forecast import GivenDose, forecast
from carematch.vaccination.schedule import Schedule

FORMAT_VERSION: Final = 1
SIGNING_CONTEXT: Final = b"CareMatch vaccination certificate\x00"
"""Prefixed to the signed bytes so that a signature made for a certificate means nothing in any
other protocol that might one day share the key (domain separation)."""
KEY_ID_BYTES: Final = 8
SIGNATURE_BYTES: Final = 64
MAX_ENCODED_CHARS: Final = 8192
"""Longer text is refused before decoding: a QR code holds under 3,000 characters anyway."""
MAX_PAYLOAD_BYTES: Final = 65536
"""The most a signed body may inflate to; a real certificate is a few kilobytes at most."""
ZDICT: Final = (
    b'{"cid":"","doses":[{"date":"20","dose":1,"series":"HepB"},{"date":"20","dose":2,"series":"'
    b'BCG"},{"date":"20Polio"},{"date":"20DTaP"},{"date":"20MMR"},{"date":"20JE-L"},{"date":"20'
    b'MPSV-AC"},{"date":"20HepA-L"},{"date":"20"}],"holder":{"birth_date":"20","name":""},'
    b'"issued_at":"20T00:00:00Z","issuer":"CareMatch","kid":"","v":1}'
)
"""Preset DEFLATE dictionary of format 1: what most payloads repeat (keys, series codes)."""
_WBITS: Final = -15  # raw DEFLATE, 32 KiB window
QR_ERROR: Final = "m"
"""QR error correction M (15 %): survives a smudged print or a scratched phone screen."""
QR_MAX_VERSION: Final = 25
"""117 × 117 modules: still read by an ordinary phone camera at arm's length. About 80 doses
fit; a certificate that needs more is refused rather than printed unreadable."""
QUERY_PARAM: Final = "c"
"""The verify page's query parameter: the QR holds ``<base url>/verify?c=<certificate>``."""

Reason = Literal["malformed", "unsupported_version", "unknown_key", "bad_signature"]

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISSUED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_HEX = re.compile(r"[0-9a-f]+")
_PAYLOAD_KEYS = {"v", "kid", "cid", "issuer", "issued_at", "holder", "doses"}
_HOLDER_KEYS = {"name", "birth_date"}
_DOSE_KEYS = {"series", "date", "dose", "lot"}
_HEADER_BYTES = 1 + KEY_ID_BYTES


class CertificateTooLarge(Conflict):
    """The certificate does not fit a QR code that a phone can still read."""

    type = "/problems/certificate-too-large"
    title = "Certificate too large for a QR code"


class HolderNameUnknown(Conflict):
    """A certificate is checked against an ID document by name; without one it proves nothing."""

    type = "/problems/holder-name-unknown"
    title = "Holder's name unknown"


class CertificateKeyError(InvalidInput):
    """A key file that does not hold an Ed25519 key."""

    type = "/problems/invalid-certificate-key"
    title = "Invalid certificate key"


# --- what a certificate says -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holder:
    """Whom the certificate is about: just enough to compare with an ID document."""

    name: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class CertifiedDose:
    """One dose given: its series, the day, its number in the series when it counts, the lot.

    ``dose`` is None for a dose the schedule does not count (given too early, too soon after
    the last, a vaccine outside the schedule, or one more than the series needs).
    """

    series: str
    date: date
    dose: int | None = None
    lot: str | None = None


@dataclass(frozen=True, slots=True)
class CertificateContent:
    """Everything a certificate asserts, signed as one payload."""

    holder: Holder
    doses: tuple[CertifiedDose, ...]
    issuer: str
    issued_at: datetime
    certificate_id: str
    key_id: str
    version: int = FORMAT_VERSION

    def payload(self) -> dict[str, Any]:
        """The payload as JSON values (empty optional fields left out)."""
        return {
            "v": self.version,
            "kid": self.key_id,
            "cid": self.certificate_id,
            "issuer": self.issuer,
            "issued_at": _iso_instant(self.issued_at),
            "holder": {"name": self.holder.name, "birth_date": self.holder.birth_date.isoformat()},
            "doses": [_dose_json(d) for d in self.doses],
        }

    def as_json(self) -> dict[str, Any]:
        """The content as readable JSON (the CLI's verdict and the API's response)."""
        return {
            "issuer": self.issuer,
            "issued_at": _iso_instant(self.issued_at),
            "key_id": self.key_id,
            "certificate_id": self.certificate_id,
            "version": self.version,
            "person": {"name": self.holder.name, "birth_date": self.holder.birth_date.isoformat()},
            "doses": [_dose_json(d) for d in self.doses],
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of :func:`verify`: valid with the content, or invalid with the reason.

    The content of an invalid certificate is never returned: nothing in it can be trusted.
    """

    valid: bool
    reason: Reason | None = None
    detail: str = ""
    content: CertificateContent | None = field(default=None)

    def as_json(self) -> dict[str, Any]:
        """``{"valid", "reason", "detail"}`` plus the content's fields when valid."""
        out: dict[str, Any] = {"valid": self.valid, "reason": self.reason, "detail": self.detail}
        if self.content is not None:
            out.update(self.content.as_json())
        return out


def _dose_json(dose: CertifiedDose) -> dict[str, Any]:
    out: dict[str, Any] = {"series": dose.series, "date": dose.date.isoformat()}
    if dose.dose is not None:
        out["dose"] = dose.dose
    if dose.lot:
        out["lot"] = dose.lot
    return out


def _iso_instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def certified_doses(
    schedule: Schedule,
    birth_date: date,
    as_of: date,
    given: Iterable[GivenDose],
    lots: Mapping[tuple[str, date], str] | None = None,
) -> tuple[CertifiedDose, ...]:
    """The doses a certificate issued on ``as_of`` lists, numbered as the forecaster counts them.

    Every recorded dose is listed once (a dose recorded twice on one day is one dose), ordered
    by series code then date; doses dated after ``as_of`` have not been given yet and are left
    out. A dose's number is its place among the series' doses that count (the forecaster's
    valid doses); a dose that does not count is listed without a number.

    Args:
        schedule: the schedule that decides which doses count.
        birth_date: the holder's date of birth.
        as_of: the day of issue.
        given: the doses in the holder's records.
        lots: the lot of a (series, date) dose where the record has one.
    """
    recorded = sorted({(g.series, g.date) for g in given if g.date <= as_of})
    result = forecast(schedule, birth_date, as_of, (GivenDose(s, d) for s, d in recorded))
    not_counted = {(d.series, d.date) for d in result.invalid}
    sizes = {s.code: len(s.doses) for s in schedule.series}
    counted: dict[str, int] = {}
    out = []
    for series, day in recorded:
        number: int | None = None
        if (series, day) not in not_counted and series in sizes:
            counted[series] = counted.get(series, 0) + 1
            if counted[series] <= sizes[series]:
                number = counted[series]
        out.append(CertifiedDose(series, day, number, (lots or {}).get((series, day))))
    return tuple(out)


# --- canonical JSON --------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that are compressed and signed.

    For objects with ASCII keys, arrays, strings and integers (the only values a payload holds)
    this equals RFC 8785 (JCS). Floats are refused: their spelling is where JSON libraries
    disagree.
    """
    _check_canonical_values(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _check_canonical_values(value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | str):
        return
    if isinstance(value, list):
        for item in value:
            _check_canonical_values(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise ValueError(f"payload keys must be ASCII strings, got {key!r}")
            _check_canonical_values(item)
        return
    raise ValueError(f"a payload holds no {type(value).__name__}")


# --- keys ------------------------------------------------------------------------------------


def signing_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """The Ed25519 signing key for a 32-byte seed (the form the key file keeps).

    Raises:
        CertificateKeyError: the seed is not 32 bytes.
    """
    if len(seed) != 32:
        raise CertificateKeyError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A key's id: the first 8 bytes of SHA-256 of its raw 32 bytes, in hex (16 characters)."""
    return hashlib.sha256(_raw_public(key)).digest()[:KEY_ID_BYTES].hex()


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """The key as PEM (SubjectPublicKeyInfo), the form ``keys publish`` and ``/verify/key`` give."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or from its 32 raw bytes.

    Raises:
        CertificateKeyError: anything else (an RSA key, a private key, a broken file).
    """
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateKeyError(f"not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateKeyError(f"not an Ed25519 key but {type(key).__name__}")
    return key


def trust(*keys: Ed25519PublicKey) -> dict[str, Ed25519PublicKey]:
    """The trusted keys by key id, as :func:`verify` takes them."""
    return {key_id(k): k for k in keys}


# --- issuing ---------------------------------------------------------------------------------


def new_certificate_id() -> str:
    """A random certificate id (64 bits, hex): unique enough to find its audit entry."""
    return secrets.token_hex(8)


def issue(
    key: Ed25519PrivateKey,
    holder: Holder,
    doses: Iterable[CertifiedDose],
    *,
    issuer: str,
    issued_at: datetime,
    certificate_id: str | None = None,
) -> tuple[str, CertificateContent]:
    """Sign a certificate; return its encoded text and what it says.

    Raises:
        ValueError: ``issued_at`` is naive, or a text field is empty.
    """
    if not holder.name.strip() or not issuer.strip():
        raise ValueError("a certificate needs the holder's name and an issuer")
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    public = key.public_key()
    content = CertificateContent(
        holder=holder,
        doses=tuple(doses),
        issuer=issuer,
        issued_at=issued_at.astimezone(UTC).replace(microsecond=0),
        certificate_id=certificate_id or new_certificate_id(),
        key_id=key_id(public),
    )
    deflater = zlib.compressobj(9, zlib.DEFLATED, _WBITS, zdict=ZDICT)
    body = deflater.compress(canonical_json(content.payload())) + deflater.flush()
    signed = bytes([FORMAT_VERSION]) + bytes.fromhex(content.key_id) + body
    signature = key.sign(SIGNING_CONTEXT + signed)
    return _b64encode(signed + signature), content


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def verify_url(encoded: str, base_url: str) -> str:
    """The address a phone camera opens: ``<base_url>/verify?c=<certificate>``."""
    return f"{base_url.rstrip('/')}/verify?{QUERY_PARAM}={encoded}"


def qr_code(text: str) -> segno.QRCode:
    """The QR code of a certificate or its verify URL (error correction M or better).

    Raises:
        CertificateTooLarge: it needs a version above :data:`QR_MAX_VERSION`.
    """
    try:
        code = segno.make_qr(text, error=QR_ERROR, boost_error=True)
    except segno.DataOverflowError:
        code = None
    if code is None or not isinstance(code.version, int) or code.version > QR_MAX_VERSION:
        raise CertificateTooLarge(
            f"{len(text)} characters need a QR code above version {QR_MAX_VERSION}; "
            "issue a certificate with fewer doses"
        )
    return code


def qr_svg(text: str, scale: int = 4) -> str:
    """The QR code as a standalone SVG document (no XML declaration, quiet zone kept)."""
    buffer = io.BytesIO()
    qr_code(text).save(buffer, kind="svg", scale=scale, xmldecl=False, svgclass="certificate-qr")
    return buffer.getvalue().decode("utf-8")


def qr_png(text: str, scale: int = 6) -> bytes:
    """The QR code as a PNG image (6 pixels a module, 4-module quiet zone)."""
    buffer = io.BytesIO()
    qr_code(text).save(buffer, kind="png", scale=scale)
    return buffer.getvalue()


# --- verifying -------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


def extract_certificate(text: str) -> str:
    """The certificate in what was pasted or scanned: the bare text, or a verify URL's ``c``.

    Whitespace around it is dropped (a trailing newline in a file); nothing else is changed.
    """
    text = text.strip()
    if "?" in text or "://" in text:
        values = parse_qs(urlsplit(text).query, keep_blank_values=True).get(QUERY_PARAM)
        if values:
            return values[0].strip()
    return text


def verify(text: str, trusted: Mapping[str, Ed25519PublicKey]) -> Verdict:
    """Check a certificate (or a verify URL holding one) against the trusted public keys.

    Never raises for bad input: every failure is a verdict with a reason — ``malformed`` (not a
    certificate, or a body that breaks the format), ``unsupported_version``, ``unknown_key`` (a
    key this verifier does not trust) or ``bad_signature`` (changed after signing, or signed
    by someone else).
    """
    try:
        content = _verify(extract_certificate(text), trusted)
    except _Refused as refused:
        return Verdict(False, refused.reason, refused.detail)
    return Verdict(True, None, "signature valid", content)


def _verify(encoded: str, trusted: Mapping[str, Ed25519PublicKey]) -> CertificateContent:
    raw = _b64decode(encoded)
    if len(raw) < _HEADER_BYTES + SIGNATURE_BYTES + 1:
        raise _Refused("malformed", f"{len(raw)} bytes is too short for a certificate")
    if raw[0] != FORMAT_VERSION:
        raise _Refused("unsupported_version", f"format version {raw[0]} is not supported")
    kid = raw[1:_HEADER_BYTES].hex()
    key = trusted.get(kid)
    if key is None:
        raise _Refused("unknown_key", f"signed with key {kid}, which this verifier does not trust")
    signed, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    try:
        key.verify(signature, SIGNING_CONTEXT + signed)
    except InvalidSignature:
        raise _Refused("bad_signature", "the signature does not match the content") from None
    payload = _inflate(signed[_HEADER_BYTES:])
    return _read_payload(payload, kid)


def _b64decode(encoded: str) -> bytes:
    if not encoded:
        raise _Refused("malformed", "no certificate given")
    if len(encoded) > MAX_ENCODED_CHARS:
        raise _Refused("malformed", f"{len(encoded)} characters is too long for a certificate")
    if not _BASE64URL.fullmatch(encoded):
        raise _Refused("malformed", "a certificate is base64url text (A–Z a–z 0–9 - _)")
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise _Refused("malformed", "not valid base64url") from None
    # Unused low bits of the last character must be zero, so that one certificate has one
    # spelling: otherwise "…A" and "…B" could decode to the same bytes and a changed character
    # would go unnoticed.
    if _b64encode(raw) != encoded:
        raise _Refused("malformed", "not canonical base64url")
    return raw


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj(_WBITS, zdict=ZDICT)
    try:
        payload = inflater.decompress(body, MAX_PAYLOAD_BYTES)
    except zlib.error as exc:
        raise _Refused("malformed", f"the body does not decompress ({exc})") from None
    if inflater.unconsumed_tail:
        raise _Refused("malformed", f"the body inflates past {MAX_PAYLOAD_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise _Refused("malformed", "the body is not exactly one DEFLATE stream")
    return payload


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _read_payload(payload: bytes, kid: str) -> CertificateContent:
    try:
        data = json.loads(
            payload.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
        content = _content(data)
        canonical = canonical_json(data) == payload
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Refused("malformed", f"the payload breaks the format: {exc}") from None
    if not canonical:
        raise _Refused("malformed", "the payload is not canonical JSON")
    if content.key_id != kid:
        raise _Refused("malformed", "the payload names another key than its header")
    return content


def _object(value: Any, keys: set[str], required: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object")
    unknown = set(value) - keys
    if unknown:
        raise ValueError(f"{what} has unknown fields {sorted(unknown)}")
    missing = required - set(value)
    if missing:
        raise ValueError(f"{what} lacks {sorted(missing)}")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _day(value: Any, what: str) -> date:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(f"{what} must be a date YYYY-MM-DD")
    return date.fromisoformat(value)


def _content(data: Any) -> CertificateContent:
    top = _object(data, _PAYLOAD_KEYS, _PAYLOAD_KEYS, "the payload")
    if isinstance(top["v"], bool) or top["v"] != FORMAT_VERSION:
        raise ValueError(f"payload version {top['v']!r} is not {FORMAT_VERSION}")
    kid = _text(top["kid"], "kid")
    cid = _text(top["cid"], "cid")
    if not _HEX.fullmatch(kid) or not _HEX.fullmatch(cid):
        raise ValueError("kid and cid must be lowercase hex")
    issued = _text(top["issued_at"], "issued_at")
    if not _ISSUED_AT.fullmatch(issued):
        raise ValueError("issued_at must be YYYY-MM-DDTHH:MM:SSZ")
    holder = _object(top["holder"], _HOLDER_KEYS, _HOLDER_KEYS, "holder")
    if not isinstance(top["doses"], list):
        raise ValueError("doses must be a list")
    doses = []
    for i, raw in enumerate(top["doses"]):
        item = _object(raw, _DOSE_KEYS, {"series", "date"}, f"doses[{i}]")
        number = item.get("dose")
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or number < 1
        ):
            raise ValueError(f"doses[{i}].dose must be a positive integer")
        lot = item.get("lot")
        doses.append(
            CertifiedDose(
                series=_text(item["series"], f"doses[{i}].series"),
                date=_day(item["date"], f"doses[{i}].date"),
                dose=number,
                lot=None if lot is None else _text(lot, f"doses[{i}].lot"),
            )
        )
    return CertificateContent(
        holder=Holder(
            _text(holder["name"], "holder.name"), _day(holder["birth_date"], "holder.birth_date")
        ),
        doses=tuple(doses),
        issuer=_text(top["issuer"], "issuer"),
        issued_at=datetime.strptime(issued, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
        certificate_id=cid,
        key_id=kid,
        version=FORMAT_VERSION,
    )
