"""Errors of the cold-chain domain (冷链): the verifiable log, signed checkpoints, telemetry.

A failed proof or signature is not a malformed request: the caller sent well-formed values that
do not prove what they claim, so those errors are 400s with their own problem types, and the
verify commands turn them into a plain "verification failed" with the reason.
"""

from __future__ import annotations

from carematch.core.errors import CareMatchError, Conflict, InvalidInput, NotFound


class ProofRequestInvalid(InvalidInput):
    """A proof asked for sizes or an index the log cannot prove (beyond its size, size1 > size2)."""

    type = "/problems/proof-request-invalid"
    title = "Proof request invalid"


class ProofVerificationFailed(CareMatchError):
    """A Merkle proof that does not verify: the log or the claim was changed, or never held."""

    status = 400
    type = "/problems/proof-verification-failed"
    title = "Proof verification failed"


class InclusionProofInvalid(ProofVerificationFailed):
    """The leaf is not proven to be in the tree with that root (RFC 9162 §2.1.3.2)."""

    type = "/problems/inclusion-proof-invalid"
    title = "Inclusion proof invalid"


class ConsistencyProofInvalid(ProofVerificationFailed):
    """The older tree head is not proven to be a prefix of the newer (RFC 9162 §2.1.4.2)."""

    type = "/problems/consistency-proof-invalid"
    title = "Consistency proof invalid"


class EmptyTreeConsistency(ConsistencyProofInvalid):
    """Our policy: a consistency proof from the empty tree (size 0) to a larger one is refused.

    It would check nothing about the newer root, so "verified" would mean nothing; see
    ``carematch.coldchain.merkle`` and docs/coldchain.md.
    """

    type = "/problems/empty-tree-consistency"
    title = "Consistency from the empty tree is not verifiable"


class NoteMalformed(InvalidInput):
    """A signed note that breaks the C2SP signed-note format (framing, encoding, names)."""

    type = "/problems/note-malformed"
    title = "Signed note malformed"


class CheckpointMalformed(NoteMalformed):
    """A note text that breaks the C2SP tlog-checkpoint format (origin, size, root, extensions)."""

    type = "/problems/checkpoint-malformed"
    title = "Checkpoint malformed"


class NoteVerificationFailed(CareMatchError):
    """A well-formed note that no trusted key verifies, or that a trusted key's signature fails."""

    status = 400
    type = "/problems/note-verification-failed"
    title = "Signed note verification failed"


class KeyInvalid(InvalidInput):
    """A key (PEM, raw bytes or a note key string) that cannot be used to sign or verify."""

    type = "/problems/key-invalid"
    title = "Key invalid"


class TelemetryInputRejected(InvalidInput):
    """Readings the alarm engine cannot judge: out of order, naive times, non-finite values."""

    type = "/problems/telemetry-input-rejected"
    title = "Telemetry input rejected"


# --- the stored log, lots and telemetry (persistence; the engines above raise none of these) ---


class LotNotFound(NotFound):
    """No such lot, or one outside the caller's jurisdiction (404, never 403)."""

    type = "/problems/lot-not-found"
    title = "Lot not found"


class LotExists(Conflict):
    """A lot with this manufacturer and lot number is already registered."""

    type = "/problems/lot-exists"
    title = "Lot already registered"


class LotNotUsable(Conflict):
    """A lot that may not be used now: expired, VVM stage 3 or 4, suspect, recalled, discarded."""

    type = "/problems/lot-not-usable"
    title = "Lot not usable"


class EventNotFound(NotFound):
    """No event at that leaf index (the log is shorter)."""

    type = "/problems/coldchain-event-not-found"
    title = "Cold-chain event not found"


class CheckpointNotFound(NotFound):
    """No checkpoint of that tree size is stored."""

    type = "/problems/coldchain-checkpoint-not-found"
    title = "Checkpoint not found"


class AlarmNotFound(NotFound):
    """No such alarm."""

    type = "/problems/coldchain-alarm-not-found"
    title = "Alarm not found"


class LogUnavailable(CareMatchError):
    """The log cannot be served as stored: its leaves are not contiguous (run verify)."""

    status = 503
    type = "/problems/coldchain-log-unavailable"
    title = "Cold-chain log unavailable"
