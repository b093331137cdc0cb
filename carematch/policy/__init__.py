"""Policy docking (政策对接): the policy library, eligibility, and versions of policies.

``library`` loads and checks library files (policies.yaml format); ``eligibility`` answers
which policies hold for persons (a DuckDB batch, or one person with why); ``service`` keeps
versions with effective dates and reads a database person's policies. See docs/policy.md.
"""
