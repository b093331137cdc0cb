"""``/verify``: check a vaccination e-certificate, pasted or scanned; ``/verify/key``: the key.

No sign-in: a school nurse or a clinic receptionist checks a parent's certificate by pointing
a phone camera at its QR code (which holds ``/verify?c=<certificate>``) or by pasting it. The
check needs nothing but the published public key: the page reads no database, so a verify-only
server with just the key answers the same.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from carematch.security.authz import public
from carematch.vaccination import certificate
from carematch.vaccination import service as vaccination
from carematch.web import i18n
from carematch.web.i18n import N_
from carematch.web.templating import SECURITY_HEADERS, render

router = APIRouter(dependencies=[Depends(public())], include_in_schema=False)

REASONS = {
    "malformed": N_("This is not a vaccination certificate, or it is damaged or incomplete."),
    "unsupported_version": N_("This certificate is in a format this page does not know."),
    "unknown_key": N_("This certificate was not signed with the key this page trusts."),
    "bad_signature": N_(
        "This certificate was changed after it was signed, or it was not signed by the issuer."
    ),
}


@router.get("/verify", response_class=HTMLResponse)
def verify_page(
    request: Request,
    c: Annotated[
        str | None, Query(description="the certificate, or a verify address holding one")
    ] = None,
) -> HTMLResponse:
    """Paste or scan a certificate; see whether it is valid, why not, and its doses."""
    locale = i18n.negotiate(request)
    public_key = vaccination.installation_public_key()
    context: dict[str, Any] = {
        "pasted": c or "",
        "key_id": certificate.key_id(public_key),
        "verdict": None,
    }
    if c is not None and c.strip():
        verdict = certificate.verify(c, certificate.trust(public_key))
        context["verdict"] = verdict
        context["reason"] = i18n.gettext(locale, REASONS[verdict.reason]) if verdict.reason else ""
        if verdict.content is not None:
            context["doses"] = _doses(verdict.content)
    # A certificate in the address names a person: keep the page out of shared caches.
    response = render(request, "verify/verify.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _doses(content: certificate.CertificateContent) -> list[dict[str, Any]]:
    """The doses for display, each with its series' name from the city's schedule."""
    names = {s.code: s.name for s in vaccination.city_schedule().series}
    return [
        {
            "series": d.series,
            "name": names.get(d.series, ""),
            "dose": d.dose,
            "date": d.date.isoformat(),
            "lot": d.lot,
        }
        for d in content.doses
    ]


@router.get("/verify/key")
def published_key() -> Response:
    """The public key (PEM) that certificates are verified with, for offline verifiers."""
    key = vaccination.installation_public_key()
    return Response(
        certificate.public_key_pem(key),
        media_type="text/plain; charset=utf-8",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": 'inline; filename="carematch-certificate-key.pem"',
            "X-Key-Id": certificate.key_id(key),
        },
    )
