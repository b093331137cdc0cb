"""Errors of the identity domain."""

from __future__ import annotations

from carematch.core.errors import InvalidInput, NotFound


class UnknownSource(InvalidInput):
    type = "/problems/unknown-source"
    title = "Unknown source"


class IngestRejected(InvalidInput):
    type = "/problems/ingest-rejected"
    title = "File cannot be ingested"


class PersonNotFound(NotFound):
    type = "/problems/person-not-found"
    title = "Person not found"


class RunNotFound(NotFound):
    type = "/problems/ingest-run-not-found"
    title = "Ingest run not found"
