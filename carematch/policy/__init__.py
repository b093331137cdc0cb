"""Policy docking (政策对接): the policy library, eligibility, and versions of policies.

``library`` loads and checks library files (policies.yaml format); ``eligibility`` answers
which policies hold for persons (a DuckDB batch, or one person with why); ``service`` keeps
versions with effective dates and reads a database person's policies; ``search`` answers a
question in everyday Chinese with the policy and clause (jieba, BM25, a colloquial synonym
map); ``cases`` is the case library of how policies were carried out. See docs/policy.md.
"""
