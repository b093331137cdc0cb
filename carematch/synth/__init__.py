"""Synthetic city generator: a fictional 江城市 with residents, providers and departmental extracts.

The city is the project's test bed and demo: every departmental extract (police, health
records, insurance, social security, immunization, poverty registry, surveys) is drawn from one
set of true residents, with per-source noise, and ``truth/`` says who is behind every record.
Pure: no database or web framework is imported here.
"""

from carematch.synth.city import generate_city
from carematch.synth.dates import AS_OF

__all__ = ["AS_OF", "generate_city"]
