"""Vaccination: schedule, forecaster, pre-screening, follow-up, AEFI, certificates."""
