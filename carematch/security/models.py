"""Tables of the security domain: roles, users and the hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base

ROLES: dict[str, tuple[str, str]] = {
    "admin": ("系统管理员", "Administrator"),
    "official": ("卫健委官员", "Health-commission official"),
    "doctor": ("医生", "Doctor"),
    "vaccinator": ("接种人员", "Vaccinator"),
    "grid_worker": ("网格员", "Grid worker"),
    "civil_affairs": ("民政工作人员", "Civil-affairs officer"),
    "resident": ("居民", "Resident"),
}
STAFF_ROLES = frozenset(ROLES) - {"admin", "resident"}


class Role(Base):
    """A role (角色) a user holds; what it may do is declared on each endpoint."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(64))
    label_en: Mapped[str] = mapped_column(String(64))


class User(Base):
    """A person who signs in. Staff are bound to a region code and see that region and below."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(ForeignKey("roles.name"))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    person_id: Mapped[str | None] = mapped_column(String(32), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """One append-only audit entry (审计日志), chained to the previous one by its hash.

    ``hash = sha256(canonical(seq, at, actor, action, entity, entity_id, detail, prev_hash))``,
    so changing or deleting any entry breaks the chain at that entry.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row holding the chain's last sequence number and hash.

    Appending updates this row first, which serialises writers (a row lock on PostgreSQL, the
    write lock on SQLite) and lets verification notice entries cut from the end of the log.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
