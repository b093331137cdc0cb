"""Booking: slots, appointments, service records, satisfaction, SLA clocks, health points."""
