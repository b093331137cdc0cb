"""Feedback: complaints, the rectification ledger and the public progress board (公示)."""
