"""RFC 9457 problem+json for every error, including FastAPI's own and unexpected ones."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from carematch.core.errors import CareMatchError
from carematch.core.logging import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger("api")


def problem_response(
    status: int, body: dict[str, Any], headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own HTTP errors (unknown path, wrong method) as problem+json."""
    body = {
        "type": "about:blank",
        "title": str(exc.detail) if exc.status_code != 404 else "Not found",
        "status": exc.status_code,
        "detail": str(exc.detail),
        "instance": request.url.path,
    }
    return problem_response(exc.status_code, body, getattr(exc, "headers", None))


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(CareMatchError)
    async def _domain(request: Request, exc: CareMatchError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 429 and "retry_after" in exc.extra:
            headers = {"Retry-After": str(exc.extra["retry_after"])}
        return problem_response(exc.status, exc.problem(request.url.path), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        body = {
            "type": "/problems/validation",
            "title": "Malformed request",
            "status": 422,
            "detail": "the request does not match the expected shape",
            "instance": request.url.path,
            "errors": errors,
        }
        return problem_response(422, body)

    app.add_exception_handler(StarletteHTTPException, http_problem)  # type: ignore[arg-type]

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=request.url.path, error=type(exc).__name__)
        body = {
            "type": "/problems/internal",
            "title": "Internal error",
            "status": 500,
            "detail": "an unexpected error occurred; it has been logged",
            "instance": request.url.path,
        }
        return problem_response(500, body)
