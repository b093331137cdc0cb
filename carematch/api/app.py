"""The FastAPI application: API under /api/v1, web pages, problem+json errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text

from carematch import __version__
from carematch.api.deps import SessionDep
from carematch.api.problems import install_problem_handlers
from carematch.assessments.endpoints import router as assessments_router
from carematch.booking.endpoints import router as booking_router
from carematch.coldchain.endpoints import router as coldchain_router
from carematch.consultation.endpoints import router as consultation_router
from carematch.core.config import get_settings
from carematch.core.logging import configure_logging
from carematch.familydoctor.endpoints import router as familydoctor_router
from carematch.feedback.endpoints import router as feedback_router
from carematch.forecasting.endpoints import router as forecasting_router
from carematch.identity.endpoints import router as identity_router
from carematch.identity.exchange_endpoints import router as exchange_router
from carematch.identity.review_endpoints import router as review_router
from carematch.indicators.endpoints import router as indicators_router
from carematch.indicators.funds_endpoints import router as funds_router
from carematch.matching.cohort_endpoints import router as allocation_router
from carematch.matching.endpoints import router as matching_router
from carematch.monitoring.endpoints import router as monitoring_router
from carematch.notifications.endpoints import router as notifications_router
from carematch.points.endpoints import router as points_router
from carematch.policy.endpoints import router as policy_router
from carematch.policy.governance_endpoints import router as policy_governance_router
from carematch.profiling.endpoints import router as profiling_router
from carematch.providers.endpoints import router as providers_router
from carematch.relief.endpoints import router as relief_router
from carematch.security.authz import public
from carematch.security.endpoints import router as auth_router
from carematch.vaccination.administration_endpoints import router as administration_router
from carematch.vaccination.appointment_endpoints import router as vaccination_appointments_router
from carematch.vaccination.endpoints import router as vaccination_router
from carematch.vaccination.safety_endpoints import router as vaccination_safety_router

API_PREFIX = "/api/v1"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Cap the request threads at the connection pool (see Settings.db_pool_size)."""
    settings = get_settings()
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = settings.db_pool_size + settings.db_max_overflow
    yield


def create_app() -> FastAPI:
    """Assemble the app; every route declares its authorisation (see security.authz)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        lifespan=_lifespan,
        title="CareMatch API",
        version=__version__,
        description="健康服务精准对接平台 — regional public-health service matching",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    install_problem_handlers(app)

    @app.get("/healthz", tags=["ops"], dependencies=[Depends(public())])
    def healthz(session: SessionDep) -> dict[str, str]:
        """Liveness and database reachability."""
        session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth_router)
    api.include_router(identity_router)
    api.include_router(review_router)
    api.include_router(exchange_router)
    api.include_router(providers_router)
    api.include_router(profiling_router)
    api.include_router(matching_router)
    api.include_router(allocation_router)
    api.include_router(notifications_router)
    api.include_router(points_router)
    api.include_router(familydoctor_router)
    api.include_router(booking_router)
    api.include_router(consultation_router)
    api.include_router(feedback_router)
    api.include_router(forecasting_router)
    api.include_router(vaccination_router)
    api.include_router(vaccination_safety_router)
    api.include_router(vaccination_appointments_router)
    api.include_router(administration_router)
    api.include_router(coldchain_router)
    api.include_router(assessments_router)
    api.include_router(policy_router)
    api.include_router(funds_router)
    api.include_router(relief_router)
    api.include_router(policy_governance_router)
    api.include_router(indicators_router)
    api.include_router(monitoring_router)
    app.include_router(api)

    from carematch.web.pages import mount_web

    mount_web(app)
    return app
