"""Dependencies shared by every router: the request's unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from carematch.core.db import session_factory


def get_db() -> Iterator[Session]:
    """One session per request; the request edge commits, or rolls back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the session commits before the response is sent, so a client that follows
# a redirect after a change sees it, and a failed commit is never reported as success.
SessionDep = Annotated[Session, Depends(get_db, scope="function")]

# Pagination shared by every list endpoint. The offset is bounded because databases store
# 64-bit integers: an unbounded one turns a typo into a server error.
MAX_OFFSET = 10_000_000
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
