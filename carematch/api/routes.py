"""Walking the app's route table, including routes of included routers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: its full path, its methods and the route (APIRoute or a plain route)."""

    path: str
    methods: frozenset[str]
    route: Any

    @property
    def is_api_route(self) -> bool:
        return isinstance(self.route, APIRoute)


def iter_endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every route of the app with its full path.

    FastAPI ≥ 0.120 keeps included routers unflattened; ``iter_route_contexts`` resolves them.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI flattens included routers into app.routes
        for route in app.routes:
            methods = frozenset(getattr(route, "methods", None) or ())
            yield Endpoint(getattr(route, "path", ""), methods, route)
        return
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        methods = frozenset(getattr(route, "methods", None) or ())
        yield Endpoint(ctx.path or "", methods, route)
