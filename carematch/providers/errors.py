"""Errors of the provider registry; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import InvalidInput, NotFound


class ProviderNotFound(NotFound):
    type = "/problems/provider-not-found"
    title = "Provider not found"


class ImportRunNotFound(NotFound):
    type = "/problems/provider-import-run-not-found"
    title = "Provider import run not found"


class UnknownService(InvalidInput):
    type = "/problems/unknown-service"
    title = "Unknown service"


class InvalidQuery(InvalidInput):
    type = "/problems/invalid-provider-query"
    title = "Invalid provider query"


class ProviderImportRejected(InvalidInput):
    type = "/problems/provider-import-rejected"
    title = "Provider file cannot be imported"
