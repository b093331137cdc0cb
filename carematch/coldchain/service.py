"""Use cases of the cold chain: lots and their events in the Merkle log, signed checkpoints,
proofs, verification, telemetry with alarms and exposed lots, and the recall list.

**Leaf format.** Every event is one leaf: canonical JSON (keys sorted, no whitespace, UTF-8,
only strings, integers and null) of ``{"v": 1, "event_id", "kind", "at", "lot_id", "product",
"manufacturer", "lot_number", "location", "detail"}``, with ``at`` in UTC as
``YYYY-MM-DDTHH:MM:SSZ``. The log is public, so a leaf never names a person: an administered
event carries the administration's id, series and dose number only.

**Checkpoints.** Each append signs a checkpoint of the new tree size in the same transaction
(one Ed25519 signature), so every size has a stored signed head and verification can tell which
event a failing head first covers. The key is this installation's log key, a 32-byte seed in the
secrets folder (``coldchain-log.key``, mode 0600, made on first use like the certificate key).

Services flush; the caller (endpoint, CLI command, job) commits.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from carematch.coldchain import frontier, repository
from carematch.coldchain.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    parse_vkey,
    sign_checkpoint,
    signer_from_seed,
    verifier_from_pem,
    verify_checkpoint_consistency,
    verify_checkpoint_inclusion,
)
from carematch.coldchain.errors import (
    AlarmNotFound,
    EventNotFound,
    KeyInvalid,
    LogUnavailable,
    LotExists,
    LotNotFound,
    LotNotUsable,
    ProofRequestInvalid,
    ProofVerificationFailed,
)
from carematch.coldchain.merkle import MerkleLog, hash_leaf
from carematch.coldchain.models import (
    EVENT_KINDS,
    MOVING_KINDS,
    ColdChainAlarm,
    ColdChainCheckpoint,
    ColdChainEvent,
    LotExposureRow,
    RejectedReading,
    VaccineLot,
)
from carematch.coldchain.repository import aware
from carematch.coldchain.telemetry import (
    AlarmKind,
    Dose,
    ExcursionWindow,
    LotExposure,
    LotStay,
    RecallEntry,
    evaluate,
    excursion_windows,
    lots_exposed,
    recall_list,
)
from carematch.core.clock import utcnow
from carematch.core.config import get_settings
from carematch.core.errors import CareMatchError, InvalidInput
from carematch.core.ids import new_id
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.keys import load_or_create_key

LOG_ORIGIN = "carematch.local/coldchain"
"""The log's identity in its checkpoints (C2SP origin) and the name of its key."""
LOG_KEY_FILE = "coldchain-log.key"
LEAF_VERSION = 1
PROOF_FORMAT = "carematch-coldchain-proof/1"
# Places (fridges, boxes, sites) and devices are named by short ids; checked before any query.
PLACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


# --- keys -------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _signer_at(path: str) -> NoteSigner:
    return signer_from_seed(LOG_ORIGIN, load_or_create_key(Path(path), None, 32))


def log_signer() -> NoteSigner:
    """This installation's log key, created on first use (as the certificate key is)."""
    return _signer_at(str((get_settings().secrets_dir / LOG_KEY_FILE).resolve()))


def log_verifier() -> NoteVerifier:
    """The public half: what ``coldchain key publish`` and ``/coldchain/key`` give out."""
    return log_signer().verifier


def load_verifier(data: bytes) -> NoteVerifier:
    """A verifier from a published key: PEM, or a note verifier key string (``name+id+key``).

    Raises:
        KeyInvalid: neither form.
    """
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        return verifier_from_pem(LOG_ORIGIN, text)
    try:
        return parse_vkey(text.decode("ascii"))
    except (UnicodeDecodeError, CareMatchError):
        raise KeyInvalid("the key is neither a PEM public key nor a note verifier key") from None


# --- leaves -----------------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that become a leaf."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _instant(moment: datetime) -> str:
    return aware(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _whole_seconds(moment: datetime) -> datetime:
    return instant(moment).replace(microsecond=0)


def instant(moment: datetime) -> datetime:
    """A time given by a caller, in UTC.

    Raises:
        InvalidInput: no UTC offset, or one that takes it off the calendar (year 1 at +01:00).
    """
    if moment.tzinfo is None:
        raise InvalidInput("times carry their UTC offset")
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(f"{moment.isoformat()} is outside the calendar in UTC") from None


def leaf_of(event: ColdChainEvent, lot: VaccineLot, detail: dict[str, Any]) -> bytes:
    """The canonical leaf bytes of an event (see the module docstring)."""
    return canonical_json(
        {
            "v": LEAF_VERSION,
            "event_id": event.event_id,
            "kind": event.kind,
            "at": _instant(event.at),
            "lot_id": lot.id,
            "product": lot.product,
            "manufacturer": lot.manufacturer,
            "lot_number": lot.lot_number,
            "location": event.location_id,
            "detail": detail,
        }
    )


def append_event(
    session: Session,
    principal: Principal | str,
    lot: VaccineLot,
    kind: str,
    *,
    at: datetime | None = None,
    location_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> ColdChainEvent:
    """Append one event of ``lot`` to the log, and sign a checkpoint of the new size.

    A moving event (received, stored, shipped) moves the lot to ``location_id``; a discarded
    event marks it discarded. The index is claimed under the log head's lock (see repository).
    """
    if kind not in EVENT_KINDS:
        raise InvalidInput(f"unknown event kind {kind!r}")
    if location_id is not None and not PLACE_ID.match(location_id):
        raise InvalidInput("a location id is 1-64 letters, digits, '_', '.', ':' or '-'")
    if kind in MOVING_KINDS and location_id is None:
        raise InvalidInput(f"a {kind} event says where the lot is")
    actor = principal if isinstance(principal, str) else principal.username
    index, state = repository.claim_next_index(session)
    event = ColdChainEvent(
        leaf_index=index,
        event_id=new_id(),
        kind=kind,
        lot_id=lot.id,
        location_id=location_id if location_id is not None else lot.location_id,
        at=_whole_seconds(at or utcnow()),
        recorded_by=actor,
    )
    event.leaf = leaf_of(event, lot, detail or {})
    event.leaf_hash = hash_leaf(event.leaf)
    repository.add_event(session, event)
    if kind in MOVING_KINDS:
        lot.location_id = location_id
    elif kind == "discarded":
        lot.status = "discarded"
    state = frontier.append(state, index, event.leaf_hash)
    repository.store_frontier(session, state)
    session.flush()
    _sign(session, index + 1, frontier.root(state, index + 1))
    return event


# --- the tree ---------------------------------------------------------------------------------


def proof_tree(session: Session) -> MerkleLog:
    """The tree of the leaf hashes recorded at append, to serve proofs from.

    A proof is checked by its verifier against a signed head and the leaf bytes it is given, so
    a stored hash or leaf that was changed makes the proof fail rather than lie; the verify
    command is what recomputes the tree from the leaf bytes.

    Raises:
        LogUnavailable: the stored leaves are not numbered 0, 1, 2 … (rows were deleted).
    """
    rows = repository.leaf_hashes(session)
    for position, (index, _) in enumerate(rows):
        if index != position:
            raise LogUnavailable(f"leaf {position} is missing from the stored log")
    return MerkleLog(h for _, h in rows)


def _sign(session: Session, size: int, root: bytes) -> ColdChainCheckpoint:
    """Sign and store the checkpoint of ``size`` (the stored one if there is one)."""
    stored = repository.checkpoint_of_size(session, size)
    if stored is not None:
        return stored
    signer = log_signer()
    checkpoint = Checkpoint(LOG_ORIGIN, size, root)
    row = ColdChainCheckpoint(
        size=size,
        root_hash=root.hex(),
        note=sign_checkpoint(checkpoint, signer),
        key_id=signer.key_id.hex(),
        created_at=utcnow(),
    )
    if not repository.add_checkpoint(session, row):
        found = repository.checkpoint_of_size(session, size)
        assert found is not None
        return found
    return row


def make_checkpoint(session: Session) -> ColdChainCheckpoint:
    """Sign and store a checkpoint of the log's current size (the stored one if it exists).

    The head comes from the frontier kept at append; it is signed only while the stored events
    still number as many as were appended.

    Raises:
        LogUnavailable: events were deleted (the verify command says which heads they break).
    """
    found = repository.head(session)
    if found is None:
        tree = MerkleLog(hash_leaf(leaf) for _, leaf in repository.leaves(session))
        return _sign(session, tree.size, tree.root())
    size, state = found
    if repository.log_size(session) != size:
        raise LogUnavailable(f"the log head says {size} events, the table holds another number")
    return _sign(session, size, frontier.root(state, size))


def latest_checkpoint(session: Session) -> ColdChainCheckpoint:
    """The newest stored checkpoint, signing one of the empty log if there is none yet."""
    return repository.latest_checkpoint(session) or make_checkpoint(session)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def inclusion_bundle(session: Session, index: int) -> dict[str, Any]:
    """Everything an offline verifier needs for event ``index``: the leaf, its inclusion proof
    and the newest signed checkpoint (the proof is against that checkpoint's size).

    Raises:
        EventNotFound: no event at ``index``.
    """
    event = repository.event_at(session, index) if 0 <= index < 2**62 else None
    if event is None:
        raise EventNotFound(f"no event at leaf index {index}")
    head = latest_checkpoint(session)
    if head.size <= index:
        head = make_checkpoint(session)
    tree = proof_tree(session)
    proof = tree.inclusion_proof(index, head.size)
    return {
        "format": PROOF_FORMAT,
        "origin": LOG_ORIGIN,
        "leaf_index": index,
        "tree_size": head.size,
        "leaf": _b64(bytes(event.leaf)),
        "event": json.loads(bytes(event.leaf)),
        "inclusion_proof": [_b64(h) for h in proof],
        "checkpoint": head.note,
    }


def consistency_bundle(session: Session, first: int, second: int) -> dict[str, Any]:
    """A consistency proof between two stored checkpoint sizes, with both signed notes.

    Raises:
        ProofRequestInvalid: sizes out of order or beyond the log; EmptyTreeConsistency for a
            first size of 0 (our documented policy: such a proof proves nothing).
    """
    tree = proof_tree(session)
    if not (0 <= first <= second <= tree.size):
        raise ProofRequestInvalid(f"need 0 <= first <= second <= {tree.size}")
    proof = tree.consistency_proof(first, second)
    old = repository.checkpoint_of_size(session, first)
    new = repository.checkpoint_of_size(session, second)
    return {
        "origin": LOG_ORIGIN,
        "first": first,
        "second": second,
        "first_root": _b64(tree.root(first)),
        "second_root": _b64(tree.root(second)),
        "consistency_proof": [_b64(h) for h in proof],
        "first_checkpoint": old.note if old else None,
        "second_checkpoint": new.note if new else None,
    }


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ProofVerificationFailed(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProofVerificationFailed(f"{what} is not valid base64") from None


def verify_bundle(bundle: Any, verifier: NoteVerifier) -> dict[str, Any]:
    """Check an exported event offline: the checkpoint's signature, then the inclusion proof.

    Returns the event and the checkpoint size. Raises a CareMatchError (a 400 problem) saying
    what failed: the note's signature, the checkpoint format, or the proof.
    """
    if not isinstance(bundle, dict) or bundle.get("format") != PROOF_FORMAT:
        raise ProofVerificationFailed(f"not a {PROOF_FORMAT} document")
    note = bundle.get("checkpoint")
    if not isinstance(note, str):
        raise ProofVerificationFailed("the document holds no checkpoint")
    checkpoint = open_checkpoint(note, [verifier], origin=verifier.name)
    index = bundle.get("leaf_index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ProofVerificationFailed("leaf_index is not a non-negative integer")
    leaf = _unb64(bundle.get("leaf"), "leaf")
    path = bundle.get("inclusion_proof")
    if not isinstance(path, list):
        raise ProofVerificationFailed("inclusion_proof is not a list")
    proof = [_unb64(h, "a proof hash") for h in path]
    verify_checkpoint_inclusion(hash_leaf(leaf), index, checkpoint, proof)
    try:
        event = json.loads(leaf)
    except ValueError:
        event = None
    return {"valid": True, "leaf_index": index, "tree_size": checkpoint.size, "event": event}


# --- verification of the stored log -----------------------------------------------------------


@dataclass
class LogReport:
    """What ``verify_log`` found: the log's size, the checkpoints checked and every problem."""

    size: int = 0
    checkpoints: int = 0
    latest: int | None = None
    problems: list[str] = field(default_factory=list)
    unsigned: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "checkpoints": self.checkpoints,
            "latest_checkpoint": self.latest,
            "unsigned_events": self.unsigned,
            "problems": self.problems,
        }


def _describe(event: ColdChainEvent) -> str:
    return f"event {event.leaf_index} ({event.kind}, lot {event.lot_id}, id {event.event_id})"


def _check_event(event: ColdChainEvent, position: int) -> list[str]:
    """Problems of one stored event: its bytes against its recorded hash and its columns."""
    name = _describe(event)
    found: list[str] = []
    if event.leaf_index != position:
        return [f"leaf {position} is missing (next stored leaf is {event.leaf_index})"]
    leaf = bytes(event.leaf)
    if hash_leaf(leaf) != bytes(event.leaf_hash):
        found.append(f"{name} was changed: its stored bytes no longer hash to its leaf hash")
    try:
        data = json.loads(leaf)
    except ValueError:
        return [*found, f"{name} is not JSON any more"]
    if not isinstance(data, dict) or canonical_json(data) != leaf:
        found.append(f"{name} is not canonical JSON any more")
        return found
    expected = {
        "event_id": event.event_id,
        "kind": event.kind,
        "lot_id": event.lot_id,
        "location": event.location_id,
        "at": _instant(event.at),
    }
    for key, value in expected.items():
        if data.get(key) != value:
            found.append(f"{name}: its {key} column ({value!r}) differs from the logged leaf")
    return found


def verify_log(session: Session, verifier: NoteVerifier | None = None) -> LogReport:
    """Recompute the tree from the stored events and check every stored checkpoint against it.

    Each event's bytes must hash to the hash recorded when it was appended and agree with its
    columns; each checkpoint must carry a valid signature of the log key and the root computed
    from the stored leaves at its size; each checkpoint must be consistent with the next (RFC
    9162 proof from the recomputed tree). A checkpoint at every size means the first failing one
    names the event that was changed.
    """
    verifier = verifier or log_verifier()
    report = LogReport()
    stored = repository.events(session)
    report.size = len(stored)
    for position, event in enumerate(stored):
        report.problems.extend(_check_event(event, position))
    tree = MerkleLog(hash_leaf(bytes(e.leaf)) for e in stored)
    heads = repository.checkpoints(session)
    report.checkpoints = len(heads)
    previous: Checkpoint | None = None  # the last checkpoint whose root matched
    named = False
    for row in heads:
        try:
            signed = open_checkpoint(row.note, [verifier], origin=verifier.name)
        except CareMatchError as exc:
            report.problems.append(f"checkpoint {row.size}: {exc.detail}")
            continue
        report.latest = signed.size
        if signed.size != row.size:
            report.problems.append(f"checkpoint {row.size}: its note says size {signed.size}")
            continue
        if signed.size > tree.size:
            report.problems.append(
                f"checkpoint {signed.size} is beyond the stored log ({tree.size} events): "
                "events were deleted"
            )
            continue
        if tree.root(signed.size) != signed.root_hash:
            where = "the log"
            if not named and signed.size > 0:
                low = previous.size if previous else 0
                where = (
                    _describe(stored[low])
                    if low == signed.size - 1
                    else f"one of events {low}..{signed.size - 1}"
                )
                named = True
            report.problems.append(
                f"checkpoint {signed.size}: the root recomputed from the stored events differs "
                f"from the signed root; {where} was changed"
            )
            continue
        if previous is not None and previous.size > 0:
            try:
                proof = tree.consistency_proof(previous.size, signed.size)
                verify_checkpoint_consistency(previous, signed, proof)
            except CareMatchError as exc:
                report.problems.append(
                    f"checkpoints {previous.size} and {signed.size} are not consistent: "
                    f"{exc.detail}"
                )
        previous = signed
    if report.latest is not None:
        report.unsigned = max(0, tree.size - report.latest)
    elif tree.size:
        report.problems.append("no checkpoint covers the log")
    return report


# --- lots -------------------------------------------------------------------------------------


def visible_lot(session: Session, principal: Principal, lot_id: str) -> VaccineLot:
    """A lot the caller may see (its region inside their jurisdiction); 404 otherwise."""
    lot = repository.get_lot(session, lot_id) if len(lot_id) <= 32 else None
    if lot is None or not principal.can_see(lot.region_code):
        raise LotNotFound(f"no lot {lot_id}")
    return lot


def register_lot(
    session: Session,
    principal: Principal,
    *,
    manufacturer: str,
    product: str,
    lot_number: str,
    expiry: date,
    vvm_stage: int,
    location_id: str,
    received_at: datetime | None = None,
    region_code: str | None = None,
) -> tuple[VaccineLot, ColdChainEvent]:
    """Register a lot received at ``location_id`` and log its "received" event.

    Staff register lots in their own jurisdiction (an admin names the region).

    Raises:
        InvalidInput: an unknown product (not a series of the city's schedule), a VVM stage
            outside 1-4, a bad location id.
        LotExists: the manufacturer's lot number is registered already (409).
    """
    from carematch.vaccination.service import city_schedule

    codes = {s.code for s in city_schedule().series}
    if product not in codes:
        raise InvalidInput(f"unknown product {product!r}; one of {sorted(codes)}")
    if not 1 <= vvm_stage <= 4:
        raise InvalidInput("the VVM stage is 1 to 4")
    region = region_code if principal.unrestricted else principal.region_code
    if region is not None and not principal.can_see(region):
        raise InvalidInput("a lot is registered inside the caller's jurisdiction")
    if repository.lot_by_number(session, manufacturer, lot_number) is not None:
        raise LotExists(f"lot {lot_number} of {manufacturer} is registered already")
    lot = VaccineLot(
        id=new_id(),
        manufacturer=manufacturer,
        product=product,
        lot_number=lot_number,
        expiry=expiry,
        vvm_stage=vvm_stage,
        location_id=None,
        region_code=region,
        status="usable",
        created_by=principal.username,
        created_at=utcnow(),
    )
    session.add(lot)
    session.flush()
    event = append_event(
        session,
        principal,
        lot,
        "received",
        at=received_at,
        location_id=location_id,
        detail={"expiry": expiry.isoformat(), "vvm_stage": vvm_stage},
    )
    return lot, event


USER_EVENT_KINDS = ("stored", "shipped", "discarded")
"""What staff log by hand; administered, suspect and recalled come from their own use cases."""


def record_event(
    session: Session,
    principal: Principal,
    lot_id: str,
    kind: str,
    *,
    location_id: str | None = None,
    at: datetime | None = None,
    vvm_stage: int | None = None,
    note: str | None = None,
) -> ColdChainEvent:
    """Log a step of a lot's path (stored, shipped, discarded), with a new VVM reading if any.

    Raises:
        LotNotFound: not visible; InvalidInput: another kind, or a missing location;
        LotNotUsable: the lot was discarded already (409).
    """
    lot = visible_lot(session, principal, lot_id)
    if kind not in USER_EVENT_KINDS:
        raise InvalidInput(f"kind is one of {list(USER_EVENT_KINDS)}")
    if lot.status == "discarded":
        raise LotNotUsable(f"lot {lot.id} was discarded")
    detail: dict[str, Any] = {}
    if vvm_stage is not None:
        if not 1 <= vvm_stage <= 4:
            raise InvalidInput("the VVM stage is 1 to 4")
        lot.vvm_stage = vvm_stage
        detail["vvm_stage"] = vvm_stage
    if note:
        detail["note"] = note
    return append_event(
        session, principal, lot, kind, at=at, location_id=location_id, detail=detail
    )


def recall_lot(session: Session, principal: Principal, lot_id: str, reason: str) -> VaccineLot:
    """Withdraw a lot (召回): no dose may be given from it, and the recall is logged."""
    lot = visible_lot(session, principal, lot_id)
    if lot.status == "recalled":
        return lot
    lot.status = "recalled"
    append_event(session, principal, lot, "recalled", detail={"reason": reason})
    return lot


def lot_stays(events: Iterable[ColdChainEvent]) -> list[LotStay]:
    """Where each lot was, and when, read from its moving events (ordered by lot and time)."""
    stays: list[LotStay] = []
    by_lot: dict[str, list[ColdChainEvent]] = defaultdict(list)
    for event in events:
        by_lot[event.lot_id].append(event)
    for lot_id, found in by_lot.items():
        current: tuple[str, datetime] | None = None
        for event in found:
            if event.kind in MOVING_KINDS or event.kind == "discarded":
                at = aware(event.at)
                if current is not None:
                    stays.append(LotStay(lot_id, current[0], current[1], at))
                current = (event.location_id or "", at) if event.kind in MOVING_KINDS else None
        if current is not None:
            stays.append(LotStay(lot_id, current[0], current[1], None))
    return stays


# --- telemetry --------------------------------------------------------------------------------

EARLIEST_READING_YEAR = 2000
"""Readings dated before this, or more than a day ahead, come from a logger whose clock is wrong."""
MAX_CELSIUS = 100.0
"""Readings beyond ±100 °C are sensor faults, not temperatures: rejected, never alarmed on."""


@dataclass
class ImportResult:
    """What an import did: rows stored, rows already stored, rows rejected, and the effects."""

    source: str
    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    new_alarms: list[str] = field(default_factory=list)
    new_suspect_lots: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": [{"line": line, "reason": reason} for line, reason in self.rejected],
            "devices": self.devices,
            "new_alarms": self.new_alarms,
            "new_suspect_lots": self.new_suspect_lots,
        }


def _parse_row(row: dict[str, str | None]) -> tuple[str, datetime, float]:
    """A CSV row as (device, time, celsius), or ValueError with the reason."""
    device = (row.get("device_id") or "").strip()
    if not PLACE_ID.match(device):
        raise ValueError("device_id is missing or not 1-64 letters, digits, '_', '.', ':' or '-'")
    raw_at = (row.get("at") or "").strip()
    try:
        at = datetime.fromisoformat(raw_at.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"at {raw_at!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ValueError("at has no UTC offset")
    try:
        at = at.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"at {raw_at!r} is outside the calendar in UTC") from None
    if at.year < EARLIEST_READING_YEAR or at > utcnow() + timedelta(days=1):
        raise ValueError(f"at {raw_at!r} is not a plausible reading time (past 2000, not ahead)")
    raw_c = (row.get("celsius") or "").strip()
    try:
        celsius = float(raw_c)
    except ValueError:
        raise ValueError(f"celsius {raw_c!r} is not a number") from None
    if not math.isfinite(celsius) or abs(celsius) > MAX_CELSIUS:
        raise ValueError(f"celsius {raw_c} is not a plausible temperature")
    return device, at, celsius


def import_readings(
    session: Session, principal: Principal | str, text: str, source: str
) -> ImportResult:
    """Store the readings of a CSV (``device_id,at,celsius``), then evaluate the devices.

    Rows that cannot be used are kept with their reason (once, however often the file is
    imported); a reading already stored for that device and time is a duplicate and skipped
    (one with another value is rejected). Every device with new readings is evaluated again
    over all its stored readings, so the alarms do not depend on how the files were cut.
    """
    result = ImportResult(source=source[:200])
    reader = csv.DictReader(io.StringIO(text))
    header = set(reader.fieldnames or ())
    missing = {"device_id", "at", "celsius"} - header
    if missing:
        raise InvalidInput(f"the CSV lacks the column(s) {sorted(missing)}")
    parsed: dict[str, dict[datetime, tuple[float, int]]] = defaultdict(dict)
    for row in reader:
        line = reader.line_num
        try:
            if None in row:
                raise ValueError("more fields than columns")
            device, at, celsius = _parse_row(row)
            seen = parsed[device].get(at)
            if seen is not None and seen[0] != celsius:
                raise ValueError(f"a second reading at {at.isoformat()} with another value")
            parsed[device][at] = (celsius, line)
        except ValueError as exc:
            _reject(session, result, line, row, str(exc))
    for device, readings in sorted(parsed.items()):
        stored = repository.existing_readings(session, device, readings.keys())
        new_rows = []
        for at, (celsius, line) in sorted(readings.items()):
            if at in stored:
                if stored[at] != celsius:
                    raw = {"device_id": device, "at": at.isoformat(), "celsius": str(celsius)}
                    _reject(session, result, line, raw, "stored already with another value")
                else:
                    result.duplicates += 1
                continue
            new_rows.append(
                {"device_id": device, "at": at, "celsius": celsius, "source": result.source}
            )
        repository.add_readings(session, new_rows)
        result.stored += len(new_rows)
        if new_rows:
            result.devices.append(device)
    session.flush()
    for device in result.devices:
        alarms, lots = evaluate_device(session, principal, device)
        result.new_alarms.extend(alarms)
        result.new_suspect_lots.extend(lots)
    return result


def _reject(
    session: Session, result: ImportResult, line: int, row: dict[Any, Any], reason: str
) -> None:
    raw = json.dumps(row, ensure_ascii=False, sort_keys=True, default=str)
    digest = hashlib.sha256(f"{result.source}\n{line}\n{raw}".encode()).hexdigest()
    repository.add_rejection(
        session,
        RejectedReading(id=digest, source=result.source, line=line, raw=raw, reason=reason[:500]),
    )
    result.rejected.append((line, reason))


def _alarm_id(device: str, kind: str, since: datetime) -> str:
    return hashlib.sha256(f"{device}\n{kind}\n{_instant(since)}".encode()).hexdigest()[:32]


def evaluate_device(
    session: Session, principal: Principal | str, device_id: str
) -> tuple[list[str], list[str]]:
    """Run the alarm engine over a device's stored readings; store new alarms, mark exposed lots.

    Returns the ids of the alarms and the lots that are new. Running it again changes nothing
    (alarms are keyed by device, kind and start; an exposure by lot and alarm).
    """
    readings = repository.device_readings(session, device_id)
    new_alarms: list[str] = []
    windows = excursion_windows(readings)
    ends = {(w.kind.value, w.start): w for w in windows}
    for alarm in evaluate(readings):
        alarm_id = _alarm_id(device_id, alarm.kind.value, alarm.since)
        window = ends.get((alarm.kind.value, alarm.since))
        row = repository.get_alarm(session, alarm_id)
        if row is None:
            repository.add_alarm(
                session,
                ColdChainAlarm(
                    id=alarm_id,
                    device_id=device_id,
                    kind=alarm.kind.value,
                    since=alarm.since,
                    raised_at=alarm.raised_at,
                    celsius=alarm.celsius,
                    window_end=window.end if window else None,
                    extreme_c=window.extreme_c if window else None,
                    created_at=utcnow(),
                ),
            )
            new_alarms.append(alarm_id)
        elif window is not None:
            row.window_end = window.end
            row.extreme_c = window.extreme_c
    return new_alarms, _mark_exposed(session, principal, device_id, windows)


def _mark_exposed(
    session: Session, principal: Principal | str, device_id: str, windows: list[ExcursionWindow]
) -> list[str]:
    if not windows:
        return []
    lot_ids = repository.lots_ever_at(session, device_id)
    stays = lot_stays(repository.events_at_locations(session, lot_ids))
    newly: list[str] = []
    for exposure in lots_exposed({device_id: windows}, stays):
        alarm_id = _alarm_id(device_id, exposure.window.kind.value, exposure.window.start)
        if repository.exposure(session, exposure.lot_id, alarm_id) is not None:
            continue
        lot = repository.get_lot(session, exposure.lot_id)
        assert lot is not None
        if lot.status == "usable":
            lot.status = "suspect"
            newly.append(lot.id)
        event = append_event(
            session,
            principal,
            lot,
            "suspect",
            at=exposure.window.alarm_at,
            detail={
                "alarm_id": alarm_id,
                "device_id": device_id,
                "excursion": exposure.window.kind.value,
                "since": _instant(exposure.window.start),
            },
        )
        repository.add_exposure(
            session,
            LotExposureRow(
                lot_id=lot.id, alarm_id=alarm_id, event_index=event.leaf_index, created_at=utcnow()
            ),
        )
    return newly


def alarm(session: Session, alarm_id: str) -> ColdChainAlarm:
    found = repository.get_alarm(session, alarm_id) if len(alarm_id) <= 32 else None
    if found is None:
        raise AlarmNotFound(f"no alarm {alarm_id}")
    return found


def _window_of(row: ColdChainAlarm) -> ExcursionWindow:
    return ExcursionWindow(
        AlarmKind(row.kind),
        aware(row.since),
        aware(row.since),
        aware(row.window_end) if row.window_end else None,
        aware(row.raised_at),
        row.extreme_c if row.extreme_c is not None else 0.0,
    )


# --- recall -----------------------------------------------------------------------------------


def recall_entries(
    session: Session,
    principal: Principal,
    *,
    lot_id: str | None = None,
    alarm_id: str | None = None,
) -> tuple[list[str], list[RecallEntry]]:
    """The recall list (召回名单): every person dosed from the affected lots.

    For an alarm, the lots it exposed; for a lot, that lot. Doses are listed whatever their
    time (``after_exposure`` tells those given after the lot's first exposure); a recalled lot
    with no exposure counts every dose as after. Only persons in the caller's jurisdiction are
    listed, and the read is audited (a list of persons).
    """
    from carematch.vaccination import administration

    exposures: list[LotExposure] = []
    if alarm_id is not None:
        row = alarm(session, alarm_id)
        window = _window_of(row)
        lots = [e.lot_id for e in repository.exposures_of_alarm(session, row.id)]
        exposures = [LotExposure(lot, row.device_id, window) for lot in lots]
    elif lot_id is not None:
        lot = visible_lot(session, principal, lot_id)
        lots = [lot.id]
        for _exp, found in repository.exposures_of_lot(session, lot.id):
            exposures.append(LotExposure(lot.id, found.device_id, _window_of(found)))
        if not exposures:
            # A lot recalled for another reason (a manufacturer's notice): every dose counts as
            # given after, so the engine is told of a window open since the beginning of time.
            dawn = datetime.min.replace(tzinfo=UTC)
            always = ExcursionWindow(AlarmKind.HEAT, dawn, dawn, None, dawn, 0.0)
            exposures = [LotExposure(lot.id, lot.location_id or "", always)]
    else:
        raise InvalidInput("name a lot or an alarm")
    doses = [
        Dose(a.person_id, a.lot_id, aware(a.administered_at))
        for a in administration.doses_from_lots(session, lots)
        if principal.can_see(a.region_code)
    ]
    entries = recall_list(exposures, doses)
    audit.record(
        session,
        actor=principal.username,
        action="read_recall_list",
        entity="vaccine_lot",
        entity_id=alarm_id or lot_id or "*",
        detail={"lots": len(lots), "persons": len({e.person_id for e in entries})},
    )
    return lots, entries


def parse_events(rows: Sequence[ColdChainEvent]) -> list[dict[str, Any]]:
    """The stored events as the API and the CLI show them (the logged leaf and its index)."""
    out = []
    for event in rows:
        try:
            leaf = json.loads(bytes(event.leaf))
        except ValueError:
            leaf = None
        out.append(
            {
                "leaf_index": event.leaf_index,
                "leaf_hash": bytes(event.leaf_hash).hex(),
                "event": leaf,
            }
        )
    return out
