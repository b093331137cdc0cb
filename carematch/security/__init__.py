"""Security: users, roles, jurisdiction, tokens, field encryption and the audit chain."""
