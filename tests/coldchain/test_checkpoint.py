"""Signed notes and checkpoints: known answers from the specs, tampering, wrong keys, bad notes."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.coldchain.checkpoint import (
    EM_DASH,
    MAX_SIGNATURES,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    generate_signer,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    signer_from_pem,
    signer_from_seed,
    verifier_from_pem,
    verify_checkpoint_consistency,
    verify_checkpoint_inclusion,
)
from carematch.coldchain.errors import (
    CheckpointMalformed,
    ConsistencyProofInvalid,
    InclusionProofInvalid,
    KeyInvalid,
    NoteMalformed,
    NoteVerificationFailed,
)
from carematch.coldchain.merkle import MerkleLog, hash_leaf

# --- known answers ------------------------------------------------------------------------
# From golang.org/x/mod/sumdb/note (BSD-3-Clause), the reference implementation of signed
# notes: the package documentation and note_test.go. EnochRoot's key is the one GenerateKey
# derives from an all-zero seed. Ed25519 is deterministic, so signing the same text with the
# same key must give these bytes exactly.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_LINE = (
    f"{EM_DASH} PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_LINE = (
    f"{EM_DASH} EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
# From c2sp.org/signed-note (its example verifier key and note).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    f"{EM_DASH} example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# From c2sp.org/tlog-checkpoint (its example note text).
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

ORIGIN = "carematch.example/coldchain"


def test_signing_reproduces_the_reference_note_byte_for_byte() -> None:
    peter = parse_skey(GO_SKEY)
    assert peter.verifier.vkey() == GO_VKEY
    assert peter.skey() == GO_SKEY
    assert sign_note(GO_TEXT, [peter]) == GO_TEXT + "\n" + PETER_LINE


def test_the_key_id_is_the_spec_hash_of_name_type_and_key() -> None:
    enoch = signer_from_seed("EnochRoot", bytes(32))
    assert enoch.verifier.vkey() == ENOCH_VKEY
    assert enoch.key_id.hex() == "af0cfe78"
    spec = parse_vkey(SPEC_VKEY)
    assert key_id(spec.name, spec.public_key).hex() == "530d903a" == spec.key_id.hex()
    peter = parse_skey(GO_SKEY)
    assert sign_note(GO_TEXT, [peter, enoch]) == GO_TEXT + "\n" + PETER_LINE + ENOCH_LINE


def test_reference_notes_open_with_their_keys() -> None:
    assert open_note(SPEC_NOTE, [parse_vkey(SPEC_VKEY)]).text == "This is an example message.\n"
    both = (GO_TEXT + "\n" + PETER_LINE + ENOCH_LINE).encode()
    peter, enoch = parse_vkey(GO_VKEY), parse_vkey(ENOCH_VKEY)
    # Unknown signatures are ignored; every trusted one that signed is reported.
    assert open_note(both, [peter]).verified_by == (peter,)
    assert open_note(both, [enoch]).verified_by == (enoch,)
    opened = open_note(both, [enoch, peter])
    assert opened.text == GO_TEXT and set(opened.verified_by) == {peter, enoch}


def test_the_spec_checkpoint_text_reads_and_writes_back() -> None:
    cp = parse_checkpoint(SPEC_CHECKPOINT)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.text() == SPEC_CHECKPOINT


# --- our checkpoints ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_key() -> NoteSigner:
    return generate_signer(ORIGIN)


def _checkpoint_of(log: MerkleLog) -> Checkpoint:
    return Checkpoint(ORIGIN, log.size, log.root())


_line = st.text(
    st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1, max_size=30
)
_name = st.text(
    st.characters(min_codepoint=0x21, exclude_categories=["Cs", "Zs", "Zl", "Zp", "Cc"]),
    min_size=1,
    max_size=30,
).filter(lambda s: "+" not in s and not any(c.isspace() for c in s))


@settings(max_examples=50, deadline=None)
@given(
    origin=_name,
    size=st.integers(0, (1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line, max_size=3),
)
def test_any_checkpoint_signs_and_opens_as_itself(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    signer = signer_from_seed(origin, b"\x07" * 32)
    cp = Checkpoint(origin, size, root, tuple(extensions))
    note = sign_checkpoint(cp, signer)
    assert open_checkpoint(note, [signer.verifier], origin=origin) == cp
    assert parse_checkpoint(cp.text()) == cp


def test_changing_any_byte_of_a_signed_checkpoint_is_detected(log_key: NoteSigner) -> None:
    log = MerkleLog(hash_leaf(f"event {i}".encode()) for i in range(1000))
    note = sign_checkpoint(
        Checkpoint(ORIGIN, log.size, log.root(), ("ext line",)), log_key
    ).encode()
    assert open_checkpoint(note, [log_key.verifier]).size == 1000
    accepted = []
    for at in range(len(note)):
        for mask in (0x01, 0x02, 0x20, 0x80):
            forged = bytearray(note)
            forged[at] ^= mask
            try:
                open_checkpoint(bytes(forged), [log_key.verifier])
            except (NoteMalformed, NoteVerificationFailed):
                continue
            accepted.append((at, mask))
    assert accepted == []


def test_a_wrong_key_does_not_open_the_note(log_key: NoteSigner) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, bytes(32)), log_key)
    stranger = generate_signer(ORIGIN)
    # Same name, other key: another key ID, so the signature is unknown and nothing verifies.
    with pytest.raises(NoteVerificationFailed, match="no trusted key"):
        open_checkpoint(note, [stranger.verifier])
    # A verifier that claims the log key's name and ID but holds another key: it must check
    # the signature, and the signature fails.
    impostor = NoteVerifier(ORIGIN, stranger.verifier.public_key, log_key.key_id)
    with pytest.raises(NoteVerificationFailed, match="invalid"):
        open_checkpoint(note, [impostor])
    # Right key, other name: unknown again.
    renamed = NoteVerifier("other.example/log", log_key.verifier.public_key, log_key.key_id)
    with pytest.raises(NoteVerificationFailed):
        open_checkpoint(note, [renamed])
    with pytest.raises(NoteVerificationFailed):
        open_checkpoint(note, [])


def test_a_failing_trusted_signature_rejects_the_note_despite_a_good_one(
    log_key: NoteSigner,
) -> None:
    witness = generate_signer("witness.example/w1")
    text = Checkpoint(ORIGIN, 3, bytes(32)).text()
    good = sign_note(text, [log_key])
    bad_witness = sign_note(text.replace("3", "4"), [witness]).splitlines(keepends=True)[-1]
    note = good + bad_witness
    assert open_note(note, [log_key.verifier]).verified_by == (log_key.verifier,)
    with pytest.raises(NoteVerificationFailed, match=r"witness\.example/w1"):
        open_note(note, [log_key.verifier, witness.verifier])


def test_checkpoints_are_checked_against_the_expected_log(log_key: NoteSigner) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, bytes(32)), log_key)
    with pytest.raises(NoteVerificationFailed):
        open_checkpoint(note, [log_key.verifier], origin="another.example/log")
    with pytest.raises(KeyInvalid):
        sign_checkpoint(Checkpoint("another.example/log", 3, bytes(32)), log_key)


def test_proofs_against_checkpoints(log_key: NoteSigner) -> None:
    log = MerkleLog(hash_leaf(f"event {i}".encode()) for i in range(50))
    old = open_checkpoint(
        sign_checkpoint(Checkpoint(ORIGIN, 20, log.root(20)), log_key), [log_key.verifier]
    )
    new = open_checkpoint(sign_checkpoint(_checkpoint_of(log), log_key), [log_key.verifier])
    verify_checkpoint_consistency(old, new, log.consistency_proof(20))
    verify_checkpoint_inclusion(log.leaf_hash(7), 7, new, log.inclusion_proof(7))
    verify_checkpoint_inclusion(log.leaf_hash(7), 7, old, log.inclusion_proof(7, 20))
    with pytest.raises(InclusionProofInvalid):
        verify_checkpoint_inclusion(hash_leaf(b"forged"), 7, new, log.inclusion_proof(7))
    elsewhere = Checkpoint("another.example/log", new.size, new.root_hash)
    with pytest.raises(ConsistencyProofInvalid):
        verify_checkpoint_consistency(old, elsewhere, log.consistency_proof(20))


# --- malformed notes and checkpoints ----------------------------------------------------------


def _sig(signer: NoteSigner, text: str) -> str:
    return base64.b64encode(signer.key_id + signer.sign(text.encode())).decode()


def _malformed_notes() -> list[tuple[str, str | bytes]]:
    s = signer_from_seed("k.example/a", b"\x01" * 32)
    text = "hello\n"
    line = f"{EM_DASH} k.example/a {_sig(s, text)}\n"
    sig = _sig(s, text)
    # The last base64 character carries two unused bits; flipping one gives a second spelling
    # of the same bytes, which a canonical decoder refuses.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = sig.rstrip("=")[-1]
    twin = sig.rstrip("=")[:-1] + alphabet[alphabet.index(last) ^ 1] + "="
    return [
        ("no blank line", text + line),
        ("no signature", text + "\n"),
        ("no final newline", text + "\n" + line[:-1]),
        ("blank line after the signatures", text + "\n" + line + "\n"),
        ("hyphen for em dash", text + "\n" + line.replace(EM_DASH, "-")),
        ("two spaces", text + "\n" + line.replace(" k.example", "  k.example")),
        ("three fields", text + "\n" + line.replace(" " + sig, " x " + sig)),
        ("bad base64", text + "\n" + line.replace(sig, sig[:-2] + "!=")),
        ("non-canonical base64", text + "\n" + line.replace(sig, twin)),
        (
            "key ID only",
            text + "\n" + f"{EM_DASH} k.example/a {base64.b64encode(b'abcd').decode()}\n",
        ),
        ("plus in the name", text + "\n" + line.replace("k.example/a", "k+a")),
        ("control character", "hel\tlo\n\n" + line),
        ("carriage return", text + "\n" + line.replace("\n", "\r\n")),
        ("not UTF-8", b"hel\xfflo\n\n" + line.encode()),
        ("too many signatures", text + "\n" + line * (MAX_SIGNATURES + 1)),
    ]


@pytest.mark.parametrize(
    ("why", "note"), _malformed_notes(), ids=[w for w, _ in _malformed_notes()]
)
def test_malformed_notes_are_refused(why: str, note: str | bytes) -> None:
    verifier = signer_from_seed("k.example/a", b"\x01" * 32).verifier
    with pytest.raises(NoteMalformed):
        open_note(note, [verifier])


def test_only_text_ending_in_a_newline_is_signed() -> None:
    s = signer_from_seed("k.example/a", b"\x01" * 32)
    for text in ("hello", "hel\x00lo\n", ""):
        with pytest.raises(NoteMalformed):
            sign_note(text, [s])
    with pytest.raises(NoteMalformed):
        sign_note("hello\n", [])


def test_the_last_blank_line_separates_text_from_signatures() -> None:
    s = signer_from_seed("k.example/a", b"\x01" * 32)
    text = "first paragraph\n\nsecond paragraph\n\n"
    note = sign_note(text, [s])
    assert parse_note(note).text == text
    assert open_note(note, [s.verifier]).text == text


@pytest.mark.parametrize(
    "text",
    [
        "origin\n12\n",
        "\n12\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n012\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n+12\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n 12\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n1.0\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n\u0661\u0662\n" + base64.b64encode(bytes(32)).decode() + "\n",
        f"origin\n{1 << 64}\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n12\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "origin\n12\nnot base64!\n",
        "origin\n12\n" + base64.b64encode(bytes(32)).decode() + "\n\nextension\n",
        "origin\n12\n" + base64.b64encode(bytes(32)).decode(),
    ],
    ids=[
        "two lines",
        "empty origin",
        "leading zero",
        "plus sign",
        "space",
        "decimal point",
        "arabic digits",
        "beyond 64 bits",
        "short root",
        "root not base64",
        "empty extension line",
        "no final newline",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(CheckpointMalformed):
        parse_checkpoint(text)


def test_size_zero_is_written_as_zero() -> None:
    cp = parse_checkpoint("origin\n0\n" + base64.b64encode(bytes(32)).decode() + "\n")
    assert cp.size == 0 and cp.text().splitlines()[1] == "0"


# --- keys --------------------------------------------------------------------------------------


def test_keys_round_trip_through_pem_and_raw_bytes(log_key: NoteSigner) -> None:
    vkey = log_key.verifier.vkey()
    assert signer_from_pem(ORIGIN, log_key.to_pem()).verifier.vkey() == vkey
    encrypted = log_key.to_pem(password=b"correct horse")
    assert b"ENCRYPTED" in encrypted
    assert signer_from_pem(ORIGIN, encrypted, b"correct horse").verifier.vkey() == vkey
    assert signer_from_seed(ORIGIN, log_key.seed()).verifier.vkey() == vkey
    assert parse_skey(log_key.skey()).verifier.vkey() == vkey
    assert verifier_from_pem(ORIGIN, log_key.verifier.to_pem()) == log_key.verifier
    assert parse_vkey(vkey) == log_key.verifier
    assert "PRIVATE" not in repr(log_key) and log_key.seed().hex() not in repr(log_key)


def test_unusable_keys_are_refused(log_key: NoteSigner) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    vkey = log_key.verifier.vkey()
    name, hex_id, material = vkey.split("+", 2)
    other_type = base64.b64encode(b"\x02" + log_key.verifier.public_key).decode()
    for call in (
        lambda: signer_from_pem(ORIGIN, ec_pem),
        lambda: verifier_from_pem(ORIGIN, ec_public),
        lambda: signer_from_pem(ORIGIN, b"not a key"),
        lambda: signer_from_pem(ORIGIN, log_key.to_pem(password=b"pw"), b"wrong"),
        lambda: signer_from_seed(ORIGIN, bytes(31)),
        lambda: parse_vkey(f"{name}+{int(hex_id, 16) ^ 1:08x}+{material}"),
        lambda: parse_vkey(f"{name}+{hex_id.upper()}+{material}"),
        lambda: parse_vkey(f"{name}+{hex_id}+{other_type}"),
        lambda: parse_vkey(f"{name}+{hex_id}"),
        lambda: parse_skey(vkey),
        lambda: generate_signer("has space"),
        lambda: generate_signer("has+plus"),
        lambda: generate_signer(""),
    ):
        with pytest.raises(KeyInvalid):
            call()


# --- the example in docs/coldchain.md is a real signed checkpoint --------------------------------


def test_the_documented_example_verifies() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "coldchain.md").read_text()
    vkey = re.search(r"^carematch\.example/coldchain\+[0-9a-f]{8}\+\S+$", doc, re.M)
    note = re.search(r"```text\n(carematch\.example/coldchain\n.*?\n)```", doc, re.S)
    assert vkey and note
    cp = open_checkpoint(note.group(1), [parse_vkey(vkey.group(0))], origin=ORIGIN)
    assert cp.size == 5
    # The demo key is the one the page says it is.
    demo = signer_from_seed(ORIGIN, hashlib.sha256(b"carematch demo cold-chain key").digest())
    assert demo.verifier.vkey() == vkey.group(0)
