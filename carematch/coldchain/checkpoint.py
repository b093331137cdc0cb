"""Signed checkpoints (签名检查点) of the cold-chain log: C2SP tlog-checkpoint, C2SP signed-note.

A checkpoint is the log's tree head, written as a note text and signed::

    carematch.example/coldchain
    1024
    <base64 of the 32-byte root hash>

    — carematch.example/coldchain <base64(4-byte key ID || 64-byte Ed25519 signature)>

**Note text** (c2sp.org/tlog-checkpoint): at least three non-empty lines, each ending in a
newline: the *origin* (the log's identity; non-empty), the *tree size* (ASCII decimal, no
leading zeroes unless it is ``0``), the *root hash* (standard base64 of the 32-byte RFC 6962
root), then optional *extension lines* (opaque, non-empty; NOT RECOMMENDED by the spec, so we
write none but read them).

**Signed note** (c2sp.org/signed-note): the text, ending in a newline, then a blank line, then
one or more lines ``— <key name> <base64(key ID || signature)>`` (em dash U+2014, a space, the
key name, a space, the signature, a newline). The whole note is UTF-8 without ASCII control
characters other than newline; the text is separated from the signatures by the *last* blank
line. Key names are non-empty, without Unicode spaces or ``+``. For Ed25519 (signature type
``0x01``) the signature is RFC 8032 over the note text (final newline included, separating blank
line excluded) and the key ID is ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``.

**Verification.** A signature whose (key name, key ID) matches no trusted key is ignored, as the
spec requires. One that matches must verify, and if it does not the whole note is rejected (the
spec allows either; we fail closed). With no verified signature from a trusted key the note is
rejected. Base64 must be canonical, so no two encodings of one signature are accepted.

**Keys.** Ed25519 from ``cryptography``: generate, load and save as PEM (PKCS#8 /
SubjectPublicKeyInfo) or as raw 32-byte seeds and public keys, and in the key strings of Go's
``golang.org/x/mod/sumdb/note`` (``<name>+<hex key ID>+<base64(0x01 || public key)>`` and
``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``), which transparency tooling shares.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carematch.coldchain.errors import (
    CheckpointMalformed,
    ConsistencyProofInvalid,
    KeyInvalid,
    NoteMalformed,
    NoteVerificationFailed,
)
from carematch.coldchain.merkle import HASH_SIZE, verify_consistency, verify_inclusion

EM_DASH = "\u2014"
SIGNATURE_PREFIX = EM_DASH + " "
ED25519_TYPE = 0x01
"""The signed-note signature type identifier byte of Ed25519."""

KEY_ID_SIZE = 4
MAX_SIGNATURES = 64
"""Signature lines one note may carry; the spec asks verifiers to accept at least 16."""

MAX_NOTE_BYTES = 1 << 20
MAX_TREE_SIZE = (1 << 64) - 1

_TREE_SIZE = re.compile(r"(?:0|[1-9][0-9]*)")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), canonical only: one value, one encoding."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteMalformed(f"{what} is not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteMalformed(f"{what} is not canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def check_key_name(name: str) -> None:
    """Raise ``KeyInvalid`` unless ``name`` can name a note key (non-empty, no spaces, no ``+``)."""
    if not name:
        raise KeyInvalid("a key name cannot be empty")
    if any(ch.isspace() or ch == "+" or ord(ch) < 0x20 for ch in name):
        raise KeyInvalid(f"key name {name!r} contains a space, a '+' or a control character")


def key_id(name: str, public_key: bytes) -> bytes:
    """The signed-note key ID of an Ed25519 key: ``SHA-256(name || 0x0A || 0x01 || key)[:4]``."""
    check_key_name(name)
    if len(public_key) != 32:
        raise KeyInvalid("an Ed25519 public key is 32 bytes")
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_TYPE]) + public_key).digest()
    return digest[:KEY_ID_SIZE]


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 public key under a name: what a note verifier is configured with."""

    name: str
    public_key: bytes
    key_id: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise KeyInvalid("an Ed25519 public key is 32 bytes")
        if len(self.key_id) != KEY_ID_SIZE:
            raise KeyInvalid(f"a key ID is {KEY_ID_SIZE} bytes")

    @classmethod
    def for_key(cls, name: str, public_key: bytes | Ed25519PublicKey) -> NoteVerifier:
        """The verifier of ``public_key`` (raw 32 bytes or a key object) named ``name``."""
        if isinstance(public_key, Ed25519PublicKey):
            public_key = public_key.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        return cls(name, bytes(public_key), key_id(name, bytes(public_key)))

    def verifies(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``text``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except (InvalidSignature, ValueError):
            return False
        return True

    def vkey(self) -> str:
        """The key as a verifier key string: ``<name>+<hex key ID>+<base64(0x01 || key)>``."""
        material = _b64encode(bytes([ED25519_TYPE]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def to_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo); the name is not part of it."""
        key = Ed25519PublicKey.from_public_bytes(self.public_key)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 private key under a name: signs notes, and knows its own verifier."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise KeyInvalid("a note signer needs an Ed25519 private key")

    @property
    def verifier(self) -> NoteVerifier:
        """The verifier that checks this signer's signatures."""
        return NoteVerifier.for_key(self.name, self.private_key.public_key())

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID written in front of every signature."""
        return self.verifier.key_id

    def sign(self, text: bytes) -> bytes:
        """The raw Ed25519 signature of ``text`` (64 bytes)."""
        return self.private_key.sign(text)

    def seed(self) -> bytes:
        """The raw 32-byte private key (RFC 8032 seed). Secret: store it as a secret."""
        return self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def to_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when a password is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def skey(self) -> str:
        """The key as a signer key string: ``PRIVATE+KEY+<name>+<hex ID>+<base64(0x01||seed)>``."""
        material = _b64encode(bytes([ED25519_TYPE]) + self.seed())
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{material}"


def generate_signer(name: str) -> NoteSigner:
    """A new random Ed25519 signer named ``name``."""
    return NoteSigner(name, Ed25519PrivateKey.generate())


def signer_from_seed(name: str, seed: bytes) -> NoteSigner:
    """A signer from a raw 32-byte Ed25519 private key."""
    if len(seed) != 32:
        raise KeyInvalid("an Ed25519 private key is 32 bytes")
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(seed))


def signer_from_pem(name: str, pem: bytes, password: bytes | None = None) -> NoteSigner:
    """A signer from a PKCS#8 PEM private key (Ed25519 only)."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise KeyInvalid(f"not a usable PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyInvalid("the PEM key is not an Ed25519 private key")
    return NoteSigner(name, key)


def verifier_from_pem(name: str, pem: bytes) -> NoteVerifier:
    """A verifier from a SubjectPublicKeyInfo PEM public key (Ed25519 only)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyInvalid(f"not a usable PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyInvalid("the PEM key is not an Ed25519 public key")
    return NoteVerifier.for_key(name, key)


def _key_material(name: str, hex_id: str, material: str) -> tuple[bytes, bytes]:
    check_key_name(name)
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise KeyInvalid("a key ID is 8 lowercase hexadecimal digits")
    try:
        raw = _b64decode(material, "the key")
    except NoteMalformed as exc:
        raise KeyInvalid(exc.detail) from exc
    if len(raw) != 33 or raw[0] != ED25519_TYPE:
        raise KeyInvalid("only Ed25519 keys (type 0x01, 32 bytes) are supported")
    return bytes.fromhex(hex_id), raw[1:]


def parse_vkey(vkey: str) -> NoteVerifier:
    """A verifier from ``<name>+<hex key ID>+<base64(0x01 || public key)>``; the ID must match."""
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise KeyInvalid("a verifier key is <name>+<key ID>+<key>")
    claimed, public_key = _key_material(*parts)
    verifier = NoteVerifier.for_key(parts[0], public_key)
    if verifier.key_id != claimed:
        raise KeyInvalid("the key ID does not belong to this name and key")
    return verifier


def parse_skey(skey: str) -> NoteSigner:
    """A signer from ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise KeyInvalid("a signer key is PRIVATE+KEY+<name>+<key ID>+<key>")
    claimed, seed = _key_material(*parts[2:])
    signer = signer_from_seed(parts[2], seed)
    if signer.key_id != claimed:
        raise KeyInvalid("the key ID does not belong to this name and key")
    return signer


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: who (name and key ID) and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed, not yet verified, signed note: its text and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class OpenedNote:
    """A note whose text a trusted key vouched for: the text and the keys that verified it."""

    text: str
    verified_by: tuple[NoteVerifier, ...]


def _check_text(text: str, error: type[NoteMalformed]) -> None:
    if not text.endswith("\n"):
        raise error("the note text must end in a newline")
    if _has_control(text):
        raise error("the note text contains an ASCII control character other than newline")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` (ending in a newline) with every signer, in order: the signed note."""
    _check_text(text, NoteMalformed)
    if not signers:
        raise NoteMalformed("a signed note needs at least one signature")
    if len(signers) > MAX_SIGNATURES:
        raise NoteMalformed(f"more than {MAX_SIGNATURES} signatures")
    message = text.encode()
    lines = [
        f"{SIGNATURE_PREFIX}{s.name} {_b64encode(s.key_id + s.sign(message))}\n" for s in signers
    ]
    return text + "\n" + "".join(lines)


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into its text and signature lines; checks the framing only."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise NoteMalformed(f"the note is larger than {MAX_NOTE_BYTES} bytes")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteMalformed("the note is not valid UTF-8") from exc
    elif len(note.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
        raise NoteMalformed(f"the note is larger than {MAX_NOTE_BYTES} bytes")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in note):
        raise NoteMalformed("the note is not valid UTF-8")
    if _has_control(note):
        raise NoteMalformed("the note contains an ASCII control character other than newline")
    if not note.endswith("\n"):
        raise NoteMalformed("a signed note ends in a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteMalformed("no blank line separates the text from the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteMalformed("the note has no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteMalformed(f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteMalformed("a signature line starts with an em dash and a space")
        parts = line[len(SIGNATURE_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise NoteMalformed("a signature line is '— <key name> <signature>'")
        name, encoded = parts
        try:
            check_key_name(name)
        except KeyInvalid as exc:
            raise NoteMalformed(exc.detail) from exc
        raw = _b64decode(encoded, "a signature")
        if len(raw) <= KEY_ID_SIZE:
            raise NoteMalformed("a signature is a 4-byte key ID followed by the signature")
        signatures.append(NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]))
    return Note(text, tuple(signatures))


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Verify a signed note against trusted keys and return its text.

    Signatures from unknown keys (no trusted key with that name *and* key ID) are ignored. A
    signature from a trusted key that fails rejects the note; so does a note that no trusted
    key signed. Raises ``NoteMalformed`` or ``NoteVerificationFailed``.
    """
    parsed = parse_note(note)
    trusted = {(v.name, v.key_id): v for v in verifiers}
    message = parsed.text.encode()
    verified: list[NoteVerifier] = []
    for sig in parsed.signatures:
        verifier = trusted.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verifies(message, sig.signature):
            raise NoteVerificationFailed(f"the signature of trusted key {sig.name} is invalid")
        if verifier not in verified:
            verified.append(verifier)
    if not verified:
        raise NoteVerificationFailed("no trusted key signed this note")
    return OpenedNote(parsed.text, tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head at one size (C2SP tlog-checkpoint): origin, size, root, extensions."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise CheckpointMalformed("the origin cannot be empty")
        if "\n" in self.origin or _has_control(self.origin):
            raise CheckpointMalformed("the origin is one line without control characters")
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise CheckpointMalformed("the tree size is a 64-bit unsigned integer")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointMalformed(f"the root hash is {HASH_SIZE} bytes")
        for line in self.extensions:
            if not line or "\n" in line or _has_control(line):
                raise CheckpointMalformed("an extension line is one non-empty line")

    def text(self) -> str:
        """The checkpoint as note text: origin, size, base64 root and extensions, one per line."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Read a checkpoint from its note text (the part a signature covers)."""
    _check_text(text, CheckpointMalformed)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointMalformed("a checkpoint has an origin, a tree size and a root hash")
    if any(not line for line in lines):
        raise CheckpointMalformed("checkpoint lines cannot be empty")
    origin, size_line, root_line, *extensions = lines
    if not _TREE_SIZE.fullmatch(size_line):
        raise CheckpointMalformed("the tree size is ASCII decimal without leading zeroes")
    try:
        root = _b64decode(root_line, "the root hash")
    except NoteMalformed as exc:
        raise CheckpointMalformed(exc.detail) from exc
    return Checkpoint(origin, int(size_line), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed note of ``checkpoint``; the log signs under its origin, as the spec advises."""
    if signer.name != checkpoint.origin:
        raise KeyInvalid(f"the log key is named {signer.name!r}, the origin {checkpoint.origin!r}")
    return sign_note(checkpoint.text(), [signer])


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[NoteVerifier], origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and read it; with ``origin``, it must be that log's."""
    checkpoint = parse_checkpoint(open_note(note, verifiers).text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteVerificationFailed(f"a checkpoint of {checkpoint.origin!r}, not of {origin!r}")
    return checkpoint


def verify_checkpoint_consistency(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that ``new`` extends ``old`` (same log, RFC 9162 consistency proof)."""
    if old.origin != new.origin:
        raise ConsistencyProofInvalid(f"checkpoints of two logs: {old.origin!r}, {new.origin!r}")
    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)


def verify_checkpoint_inclusion(
    leaf_hash: bytes, leaf_index: int, checkpoint: Checkpoint, proof: Sequence[bytes]
) -> None:
    """Check that ``leaf_hash`` is leaf ``leaf_index`` of the tree ``checkpoint`` commits to."""
    verify_inclusion(leaf_hash, leaf_index, checkpoint.size, proof, checkpoint.root_hash)
