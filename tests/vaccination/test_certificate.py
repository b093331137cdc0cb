"""The e-certificate engine: round trip, tamper detection, wrong keys, malformed input, size."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carematch.vaccination import certificate as cert
from carematch.vaccination.certificate import (
    SIGNING_CONTEXT,
    ZDICT,
    CertifiedDose,
    Holder,
    canonical_json,
    certified_doses,
    issue,
    trust,
    verify,
)
from carematch.vaccination.forecast import GivenDose, parse_registry_doses
from carematch.vaccination.schedule import default_schedule

SEED = bytes(range(32))
KEY = cert.signing_key_from_seed(SEED)
TRUSTED = trust(KEY.public_key())
OTHER_KEY = cert.signing_key_from_seed(bytes(range(1, 33)))
ISSUED_AT = datetime(2024, 5, 15, 8, 30, 15, 123456, tzinfo=UTC)
GIRL = Holder("林小雨", date(2021, 5, 15))
DOSES = (
    CertifiedDose("BCG", date(2021, 5, 16), 1),
    CertifiedDose("HepB", date(2021, 5, 15), 1, "20210301-A"),
    CertifiedDose("HepB", date(2021, 6, 1)),
    CertifiedDose("HepB", date(2021, 6, 15), 2),
)


def make(doses=DOSES, holder=GIRL, key: Ed25519PrivateKey = KEY, **kwargs):
    return issue(key, holder, doses, issuer="CareMatch", issued_at=ISSUED_AT, **kwargs)


ENCODED, CONTENT = make(certificate_id="00112233aabbccdd")
RAW = base64.urlsafe_b64decode(ENCODED + "=" * (-len(ENCODED) % 4))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _deflate(payload: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=ZDICT)
    return deflater.compress(payload) + deflater.flush()


def _signed(body: bytes, key: Ed25519PrivateKey = KEY, version: int = 1) -> str:
    """A certificate with any body, properly signed: what only a key holder could make."""
    signed = bytes([version]) + bytes.fromhex(cert.key_id(key.public_key())) + body
    return _b64(signed + key.sign(SIGNING_CONTEXT + signed))


# --- round trip ------------------------------------------------------------------------------


def test_a_certificate_verifies_and_says_what_was_signed():
    verdict = verify(ENCODED, TRUSTED)

    assert verdict.valid, verdict.detail
    assert verdict.reason is None
    assert verdict.content == CONTENT
    assert CONTENT.issued_at == datetime(2024, 5, 15, 8, 30, 15, tzinfo=UTC)
    assert verdict.as_json() == {
        "valid": True,
        "reason": None,
        "detail": "signature valid",
        "issuer": "CareMatch",
        "issued_at": "2024-05-15T08:30:15Z",
        "key_id": cert.key_id(KEY.public_key()),
        "certificate_id": "00112233aabbccdd",
        "version": 1,
        "person": {"name": "林小雨", "birth_date": "2021-05-15"},
        "doses": [
            {"series": "BCG", "date": "2021-05-16", "dose": 1},
            {"series": "HepB", "date": "2021-05-15", "dose": 1, "lot": "20210301-A"},
            {"series": "HepB", "date": "2021-06-01"},
            {"series": "HepB", "date": "2021-06-15", "dose": 2},
        ],
    }


def test_the_layout_is_version_key_id_deflated_canonical_json_and_signature():
    assert RAW[0] == 1
    assert RAW[1:9].hex() == cert.key_id(KEY.public_key())
    body, signature = RAW[9:-64], RAW[-64:]
    KEY.public_key().verify(signature, SIGNING_CONTEXT + RAW[:-64])
    inflater = zlib.decompressobj(-15, zdict=ZDICT)
    payload = inflater.decompress(body)
    assert inflater.eof and not inflater.unused_data
    # Canonical: sorted keys, no whitespace, UTF-8 rather than \u escapes.
    assert payload.decode("utf-8") == (
        '{"cid":"00112233aabbccdd","doses":[{"date":"2021-05-16","dose":1,"series":"BCG"},'
        '{"date":"2021-05-15","dose":1,"lot":"20210301-A","series":"HepB"},'
        '{"date":"2021-06-01","series":"HepB"},{"date":"2021-06-15","dose":2,"series":"HepB"}],'
        '"holder":{"birth_date":"2021-05-15","name":"林小雨"},"issued_at":"2024-05-15T08:30:15Z",'
        f'"issuer":"CareMatch","kid":"{RAW[1:9].hex()}","v":1}}'
    )


def test_the_personal_data_is_name_and_birth_date_only():
    payload = json.loads(zlib.decompressobj(-15, zdict=ZDICT).decompress(RAW[9:-64]))
    assert set(payload) == {"v", "kid", "cid", "issuer", "issued_at", "holder", "doses"}
    assert set(payload["holder"]) == {"name", "birth_date"}


def test_canonical_json_matches_rfc8785_for_the_values_a_payload_holds():
    # RFC 8785 §3.2.2.2: only " \\ and control characters are escaped, with \b \t \n \f \r
    # short forms and lowercase \u00xx; everything else (CJK, U+2028, DEL) stays literal.
    value = {"b": [1, -2, 0], "a": 'quote" back\\ \b\t\n\f\r\x01\x1f 林\u2028\x7f', "c": {}}
    expected = (
        '{"a":"quote\\" back\\\\ \\b\\t\\n\\f\\r\\u0001\\u001f 林\u2028\x7f","b":[1,-2,0],"c":{}}'
    )
    assert canonical_json(value) == expected.encode()
    with pytest.raises(ValueError):
        canonical_json({"weight": 1.5})
    with pytest.raises(ValueError):
        canonical_json({"名": 1})


def test_issue_refuses_what_cannot_be_checked():
    with pytest.raises(ValueError):
        issue(KEY, Holder(" ", GIRL.birth_date), DOSES, issuer="CareMatch", issued_at=ISSUED_AT)
    with pytest.raises(ValueError):
        issue(KEY, GIRL, DOSES, issuer="CareMatch", issued_at=datetime(2024, 5, 15))


# --- tampering -------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_changing_any_byte_of_the_certificate_is_detected(mask):
    # Given a valid certificate, when any one of its bytes changes, then it no longer verifies.
    for i in range(len(RAW)):
        changed = bytearray(RAW)
        changed[i] ^= mask
        verdict = verify(_b64(bytes(changed)), TRUSTED)
        assert not verdict.valid, f"byte {i} ^ {mask:#x} went unnoticed"
        assert verdict.content is None
        expected = {0: "unsupported_version"}.get(i, "unknown_key" if i < 9 else "bad_signature")
        assert verdict.reason == expected, (i, verdict)


def test_changing_any_character_of_the_text_is_detected():
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, char in enumerate(ENCODED):
        for other in {alphabet[(alphabet.index(char) + step) % 64] for step in (1, 17, 63)} | {
            "+",
            "=",
        }:
            text = ENCODED[:i] + other + ENCODED[i + 1 :]
            assert not verify(text, TRUSTED).valid, f"character {i} {char!r} → {other!r}"


def test_the_last_characters_spare_bits_cannot_hide_a_change():
    # 3n+1 or 3n+2 bytes leave low bits of the last character unused; base64 decoders
    # ignore them, so "…A" and "…B" could decode alike. A certificate has one spelling.
    assert len(RAW) % 3 != 0, "the sample must leave spare bits (change a dose otherwise)"
    for other in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
        if other != ENCODED[-1]:
            assert not verify(ENCODED[:-1] + other, TRUSTED).valid


def test_adding_or_removing_bytes_is_detected():
    for text in (
        ENCODED + "A",
        ENCODED + "AA",
        ENCODED[:-1],
        ENCODED[1:],
        _b64(RAW + b"\x00"),
        _b64(RAW[:-1]),
        _b64(RAW[:9] + RAW[10:]),
        ENCODED + "==",
    ):
        assert not verify(text, TRUSTED).valid, text


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_edits_are_detected(data):
    raw = bytearray(RAW)
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255).filter(lambda b, i=i: b != raw[i]))
    assert not verify(_b64(bytes(raw)), TRUSTED).valid


def test_a_dose_changed_in_the_decoded_payload_breaks_the_signature():
    inflated = zlib.decompressobj(-15, zdict=ZDICT).decompress(RAW[9:-64])
    signature = RAW[-64:]
    for old, new in [
        (b'"2021-06-15","dose":2', b'"2021-06-14","dose":2'),  # the date of a dose
        (b'"2021-06-01","series":"HepB"', b'"2021-06-01","dose":3,"series":"HepB"'),  # counted
        (b'"series":"BCG"', b'"series":"MMR"'),  # another vaccine
        ("林小雨".encode(), "林小雪".encode()),  # another child
        (b'"lot":"20210301-A",', b""),  # the lot removed
    ]:
        assert old in inflated
        edited = inflated.replace(old, new, 1)
        forged = _b64(RAW[:9] + _deflate(edited) + signature)
        verdict = verify(forged, TRUSTED)
        assert (verdict.valid, verdict.reason) == (False, "bad_signature"), old


def test_a_dose_removed_from_the_content_and_re_issued_is_another_certificate():
    # Dropping a dose is only possible by signing anew, which needs the key.
    fewer, _ = make(doses=DOSES[:-1], certificate_id="00112233aabbccdd")
    assert fewer != ENCODED
    forged = _b64(RAW[:9] + base64.urlsafe_b64decode(fewer + "==")[9:-64] + RAW[-64:])
    assert verify(forged, TRUSTED).reason == "bad_signature"


# --- keys ------------------------------------------------------------------------------------


def test_a_certificate_from_another_key_is_unknown_and_a_spliced_key_id_is_a_bad_signature():
    other, _ = make(key=OTHER_KEY)
    assert verify(other, TRUSTED).reason == "unknown_key"
    assert verify(ENCODED, trust(OTHER_KEY.public_key())).reason == "unknown_key"
    assert verify(ENCODED, {}).reason == "unknown_key"
    # Both keys trusted: the other certificate is valid on its own key …
    both = trust(KEY.public_key(), OTHER_KEY.public_key())
    assert verify(other, both).valid and verify(ENCODED, both).valid
    # … but our key id in front of its signature is caught.
    raw_other = base64.urlsafe_b64decode(other + "==")
    spliced = _b64(RAW[:9] + raw_other[9:])
    assert verify(spliced, both).reason == "bad_signature"


def test_a_key_trusted_under_the_wrong_id_does_not_verify():
    assert verify(ENCODED, {cert.key_id(KEY.public_key()): OTHER_KEY.public_key()}).reason == (
        "bad_signature"
    )


def test_public_keys_load_from_pem_or_raw_bytes_and_nothing_else():
    pem = cert.public_key_pem(KEY.public_key())
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert cert.key_id(cert.load_public_key(pem)) == cert.key_id(KEY.public_key())
    raw = KEY.public_key().public_bytes_raw()
    assert cert.key_id(cert.load_public_key(raw)) == cert.key_id(KEY.public_key())
    for bad in (b"", b"not a key", pem[:-20], b"x" * 31):
        with pytest.raises(cert.CertificateKeyError):
            cert.load_public_key(bad)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(cert.CertificateKeyError, match="not an Ed25519 key"):
        cert.load_public_key(ec_pem)
    with pytest.raises(cert.CertificateKeyError):
        cert.signing_key_from_seed(b"short")


# --- malformed input -------------------------------------------------------------------------


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_random_bytes_are_malformed_never_an_exception(raw):
    verdict = verify(_b64(raw), TRUSTED)
    assert not verdict.valid
    assert verdict.reason in ("malformed", "unsupported_version", "unknown_key")


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_random_text_is_refused_never_an_exception(text):
    verdict = verify(text, TRUSTED)
    assert not verdict.valid
    assert verdict.reason is not None and verdict.detail


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_any_signed_body_that_is_not_a_payload_is_malformed_not_an_exception(body):
    # Only a key holder could sign these; the verifier still answers with a verdict.
    verdict = verify(_signed(body), TRUSTED)
    assert not verdict.valid or verdict.content is not None
    if not verdict.valid:
        assert verdict.reason == "malformed"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"[]",
        b"null",
        b'{"v":1}',
        b"\xff\xfe",
        b'{"a":NaN}',
        b"[" * 10000 + b"]" * 10000,
    ],
)
def test_signed_payloads_that_break_the_format_are_malformed(payload):
    verdict = verify(_signed(_deflate(payload)), TRUSTED)
    assert (verdict.valid, verdict.reason) == (False, "malformed")


def _payload(**changes) -> bytes:
    data = CONTENT.payload()
    data.update(changes)
    return canonical_json(data)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (_payload(v=2), "version"),
        (_payload(v=True), "version"),
        (_payload(kid="0" * 16), "another key"),
        (_payload(extra=1), "unknown field"),
        (_payload(holder={"name": "林小雨"}), "missing birth date"),
        (_payload(holder={"name": "", "birth_date": "2021-05-15"}), "empty name"),
        (_payload(holder={"name": "x", "birth_date": "2021-02-30"}), "impossible date"),
        (_payload(issued_at="2024-05-15 08:30:15"), "timestamp"),
        (_payload(doses=[{"series": "HepB", "date": "2021-05-15", "dose": 0}]), "dose 0"),
        (_payload(doses=[{"series": "HepB", "date": "2021-05-15", "dose": True}]), "bool"),
        (_payload(doses=[{"series": "HepB"}]), "no date"),
        (_payload(doses={"HepB": 1}), "doses not a list"),
        (_payload(cid="XYZ"), "cid not hex"),
        (json.dumps(CONTENT.payload(), sort_keys=True).encode(), "not canonical: spaces"),
        (
            _payload().replace(b'"v":1', b'"v":1,"v":1'),
            "duplicate key",
        ),
    ],
)
def test_a_signed_payload_outside_the_format_is_refused(payload, why):
    verdict = verify(_signed(_deflate(payload)), TRUSTED)
    assert (verdict.valid, verdict.reason) == (False, "malformed"), why


def test_a_deflate_bomb_is_refused_and_trailing_data_too():
    bomb = _deflate(b'{"cid":"' + b"0" * 1_000_000 + b'"}')
    assert len(bomb) < 2000
    verdict = verify(_signed(bomb), TRUSTED)
    assert (verdict.reason, "inflates past" in verdict.detail) == ("malformed", True)
    trailing = _signed(_deflate(_payload()) + b"\x00")
    assert verify(trailing, TRUSTED).reason == "malformed"
    assert verify(_signed(_deflate(_payload())), TRUSTED).valid


def test_an_unknown_format_version_is_named_as_such():
    assert verify(_signed(_deflate(_payload()), version=2), TRUSTED).reason == (
        "unsupported_version"
    )


def test_empty_short_and_overlong_input():
    assert verify("", TRUSTED).reason == "malformed"
    assert verify("   \n", TRUSTED).reason == "malformed"
    assert verify("AQ", TRUSTED).reason == "malformed"
    assert "too long" in verify("A" * 10_000, TRUSTED).detail


# --- URLs and QR codes -----------------------------------------------------------------------


def test_a_verify_url_or_surrounding_whitespace_reads_as_the_certificate():
    url = cert.verify_url(ENCODED, "https://carematch.example/")
    assert url == f"https://carematch.example/verify?c={ENCODED}"
    assert verify(url, TRUSTED).valid
    assert verify(f"  {ENCODED}\n", TRUSTED).valid
    assert verify(f"/verify?lang=en&c={ENCODED}", TRUSTED).valid
    assert verify("https://carematch.example/verify?c=", TRUSTED).reason == "malformed"


def test_a_childs_certificate_fits_a_readable_qr_code():
    # Every dose of the whole schedule, with a verify URL: a version a phone reads.
    schedule = default_schedule()
    doses = [
        CertifiedDose(s.code, GIRL.birth_date + timedelta(days=60 * n), n)
        for s in schedule.series
        for n in range(1, len(s.doses) + 1)
    ]
    assert len(doses) >= 20
    encoded, _ = make(doses=doses)
    url = cert.verify_url(encoded, "https://carematch.example.cn")
    code = cert.qr_code(url)
    assert code.version <= 20, code.designator
    assert code.error in ("M", "Q", "H")
    png = cert.qr_png(url)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = cert.qr_svg(url)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")


def test_too_many_doses_for_a_readable_qr_code_is_refused():
    doses = [CertifiedDose("HepB", date(2000, 1, 1) + timedelta(days=i), 1) for i in range(400)]
    encoded, _ = make(doses=doses)
    assert verify(encoded, TRUSTED).valid  # the certificate itself is fine …
    with pytest.raises(cert.CertificateTooLarge):  # … its QR would not be read
        cert.qr_code(encoded)


# --- which doses, numbered how ---------------------------------------------------------------


def test_doses_are_numbered_as_the_schedule_counts_them():
    given, _ = parse_registry_doses(
        "HepB:2021-05-15|BCG:2021-05-16|HepB:2021-06-01|HepB:2021-06-15|Flu:2023-10-01|"
        "HepB:2021-05-15|MMR:2022-01-15|HepB:2022-01-01|HepB:2022-02-01|BCG:2030-01-01"
    )

    doses = certified_doses(default_schedule(), date(2021, 5, 15), date(2024, 5, 15), given)

    assert [(d.series, d.date.isoformat(), d.dose) for d in doses] == [
        ("BCG", "2021-05-16", 1),
        ("Flu", "2023-10-01", None),  # outside the schedule: given, not counted
        ("HepB", "2021-05-15", 1),  # recorded twice, certified once
        ("HepB", "2021-06-01", None),  # before DOB + 1 month: too young
        ("HepB", "2021-06-15", 2),
        ("HepB", "2022-01-01", 3),
        ("HepB", "2022-02-01", None),  # a fourth dose of a three-dose series
        ("MMR", "2022-01-15", 1),
    ]  # and the BCG dated 2030 has not been given on the day of issue


def test_lots_are_certified_where_known():
    given = [GivenDose("HepB", date(2021, 5, 15)), GivenDose("BCG", date(2021, 5, 16))]
    doses = certified_doses(
        default_schedule(),
        date(2021, 5, 15),
        date(2024, 5, 15),
        given,
        lots={("HepB", date(2021, 5, 15)): "L-1"},
    )
    assert [(d.series, d.lot) for d in doses] == [("BCG", None), ("HepB", "L-1")]
