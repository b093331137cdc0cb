"""The case library on the workbench (/workbench/cases): how policies were carried out.

Every case of ``carematch/data/policy_cases.yaml`` (background, problem, measures, result and
the policies carried out), or, with ``?q=…``, the cases answering a question best first with
the passage that answers (the policy search engine). A plain GET form: works without script
and on a phone. No person data, so nothing to audit.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from carematch.policy.cases import CASE_READERS, PolicyCase, default_cases, search_cases
from carematch.policy.library import default_library
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.i18n import N_
from carematch.web.templating import render

Reader = Annotated[Principal, Depends(require(*CASE_READERS))]
TOP = 10
FIELD_LABELS = {
    "background": N_("Background"),
    "problem": N_("Problem"),
    "measures": N_("Measures"),
    "result": N_("Result"),
}

router = APIRouter(prefix="/cases", include_in_schema=False)


def _view(case: PolicyCase, locale: str) -> dict[str, Any]:
    library = default_library()
    english = locale == "en"
    return {
        **case.as_dict(),
        "policy_titles": [
            (pid, (library[pid].title_en if english else library[pid].title))
            for pid in case.policies
            if pid in library
        ],
    }


@router.get("", response_class=HTMLResponse)
def cases_page(
    request: Request,
    principal: Reader,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """Every case, or the cases answering ``q`` (best first, with the passage that answers)."""
    locale = i18n.negotiate(request)
    t = i18n.translations(locale).gettext
    cases = default_cases()
    question = (q or "").strip()
    if question:
        rows = [
            {
                **_view(hit.case, locale),
                "score": hit.score,
                "field": t(FIELD_LABELS[hit.field]),
                "passage": hit.passage,
            }
            for hit in search_cases(cases, question, TOP)
        ]
    else:
        rows = [_view(case, locale) for case in cases]
    context = {"q": question, "rows": rows, "total": len(cases)}
    return render(request, "workbench/cases.html", context, principal=principal)
