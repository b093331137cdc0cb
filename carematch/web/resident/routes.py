"""The resident portal shell: what a resident will find here, without invented data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from carematch.security.authz import Principal, require
from carematch.web.guards import page_guard
from carematch.web.templating import render

RESIDENTS = ("resident",)
Resident = Annotated[Principal, Depends(require(*RESIDENTS))]

router = APIRouter(dependencies=[Depends(page_guard(*RESIDENTS))], include_in_schema=False)


@router.get("/portal", response_class=HTMLResponse)
def portal(request: Request, principal: Resident) -> HTMLResponse:
    """The portal shell: "my record" and "my services", each saying what is coming."""
    context = {"linked": principal.person_id is not None}
    return render(request, "resident/portal.html", context, principal=principal)
