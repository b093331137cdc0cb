"""Errors of the booking domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import CareMatchError, Conflict, Forbidden, InvalidInput, NotFound


class SlotNotFound(NotFound):
    """No such slot, or its provider lies outside the caller's jurisdiction."""

    type = "/problems/slot-not-found"
    title = "Slot not found"


class BookingNotFound(NotFound):
    """No such booking, or the caller may not see it."""

    type = "/problems/booking-not-found"
    title = "Booking not found"


class WaitlistEntryNotFound(NotFound):
    type = "/problems/waitlist-entry-not-found"
    title = "Waitlist entry not found"


class BookingDemandNotFound(NotFound):
    """The demand named is not an open demand of the person being booked."""

    type = "/problems/booking-demand-not-found"
    title = "Demand not found"


class SlotFull(Conflict):
    """Every place of the slot is taken (the waitlist is open)."""

    type = "/problems/slot-full"
    title = "Slot is full"


class AlreadyBooked(Conflict):
    """The person already holds a place in this slot."""

    type = "/problems/already-booked"
    title = "Already booked"


class SlotClosed(Conflict):
    """The slot has ended; it takes no more bookings."""

    type = "/problems/slot-closed"
    title = "Slot has ended"


class BookingStateConflict(Conflict):
    """The booking cannot make this change from the status it is in."""

    type = "/problems/booking-state-conflict"
    title = "Booking state conflict"


class AlreadyWaiting(Conflict):
    type = "/problems/already-waiting"
    title = "Already on the waitlist"


class IdempotencyKeyInUse(Conflict):
    """Another request with the same key is being processed; retry to get its result."""

    type = "/problems/idempotency-key-in-use"
    title = "Idempotency key in use"


class IdempotencyKeyReused(CareMatchError):
    """The key was first used with a different request body.

    422, as the IETF draft "The Idempotency-Key HTTP Header Field" prescribes for a reused key:
    the request is well formed but cannot be processed with this key.
    """

    status = 422
    type = "/problems/idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class InvalidSlot(InvalidInput):
    """A slot that cannot exist: it ends before it starts, lies in the past, runs too long."""

    type = "/problems/invalid-slot"
    title = "Invalid slot"


class InvalidBooking(InvalidInput):
    """A change that makes no sense: e.g. rescheduling to a slot of another service."""

    type = "/problems/invalid-booking"
    title = "Invalid booking request"


class ServiceRecordNotFound(NotFound):
    """No such service record, or the caller may not see it."""

    type = "/problems/service-record-not-found"
    title = "Service record not found"


class ServiceRecordExists(Conflict):
    """The booking has its service record already; a visit is recorded once."""

    type = "/problems/service-record-exists"
    title = "Service record already written"


class InvalidServiceRecord(InvalidInput):
    """A record that cannot be: a follow-up date in the past, a walk-in without a provider."""

    type = "/problems/invalid-service-record"
    title = "Invalid service record"


class RatingNotAllowed(Forbidden):
    """Only the resident (for themselves or a registered dependant) rates a visit."""

    type = "/problems/rating-not-allowed"
    title = "Only the resident rates a visit"


class AlreadyRated(Conflict):
    """The visit has been rated; a rating is given once."""

    type = "/problems/already-rated"
    title = "Visit already rated"


class SlaClockNotFound(NotFound):
    """No such SLA clock, or it lies outside the caller's jurisdiction."""

    type = "/problems/sla-clock-not-found"
    title = "SLA clock not found"


class SlaClockStateConflict(Conflict):
    """The clock cannot take this answer (it is stopped, or of a kind a contact does not answer)."""

    type = "/problems/sla-clock-state-conflict"
    title = "SLA clock state conflict"
