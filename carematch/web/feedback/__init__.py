"""The public progress board page (公示): complaints and the rectification ledger, no sign-in."""
