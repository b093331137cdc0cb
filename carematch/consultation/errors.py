"""Errors of the consultation domain; each carries its HTTP status and problem type.

404 for what the caller may not see (another district's consultation is not revealed); 403 for
the right consultation but the wrong end (the requesting clinic cannot answer its own request);
409 for a move the current status does not allow; 422 for an attachment that is not an accepted
type (the brief's "clear 422": the upload is well-formed but its content is unusable); 413 for
one over the size limit.
"""

from __future__ import annotations

from carematch.core.errors import CareMatchError, Conflict, Forbidden, InvalidInput, NotFound


class ConsultationNotFound(NotFound):
    """No such consultation, or neither of its ends lies in the caller's jurisdiction."""

    type = "/problems/consultation-not-found"
    title = "Consultation not found"


class AttachmentNotFound(NotFound):
    """No such attachment on this consultation."""

    type = "/problems/consultation-attachment-not-found"
    title = "Attachment not found"


class WrongEnd(Forbidden):
    """The caller sees the consultation but is not the end that makes this move."""

    type = "/problems/consultation-wrong-end"
    title = "Not your end of the consultation"


class InvalidConsultation(InvalidInput):
    """A request the rules refuse as given: a provider that does not ask or answer remote
    consultations, two ends of different medical communities, an empty question …"""

    type = "/problems/invalid-consultation"
    title = "Invalid consultation"


class ConsultationStateConflict(Conflict):
    """The current status does not allow the move (the body lists what it allows)."""

    type = "/problems/consultation-state"
    title = "Consultation state does not allow this"


class UnsupportedAttachment(CareMatchError):
    """The uploaded bytes are none of the accepted types (whatever the file is called)."""

    status = 422
    type = "/problems/unsupported-attachment"
    title = "Unsupported attachment type"


class AttachmentTooLarge(CareMatchError):
    """An uploaded file, or the number of files, is over the configured limit."""

    status = 413
    type = "/problems/attachment-too-large"
    title = "Attachment too large"


class AttachmentIntegrity(CareMatchError):
    """A stored attachment no longer matches what was uploaded (altered, swapped, missing).

    A fault of the server's storage, not of the request, hence 500 — with its own problem type
    so that operators can alert on it; the file is never served.
    """

    status = 500
    type = "/problems/attachment-integrity"
    title = "Attachment failed its integrity check"
