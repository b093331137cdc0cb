"""API shapes of the provider registry."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from carematch.providers.catalogue import service_catalogue
from carematch.providers.models import (
    Provider,
    ProviderHours,
    ProviderQuarantine,
    ProviderService,
    VanStop,
)
from carematch.providers.service import Nearby, ProviderView, split_codes


class ServicePublic(BaseModel):
    """A service a provider offers, with its terms (R-SP-3)."""

    code: str
    name: str
    name_en: str
    price: float
    insured_share: float
    daily_capacity: int
    wait_days: int

    @classmethod
    def of(cls, s: ProviderService) -> ServicePublic:
        info = service_catalogue().get(s.service_code)
        return cls(
            code=s.service_code,
            name=info.name if info else s.service_code,
            name_en=info.name_en if info else s.service_code,
            price=float(s.price),
            insured_share=float(s.insured_share),
            daily_capacity=s.daily_capacity,
            wait_days=s.wait_days,
        )


class HoursPublic(BaseModel):
    """One opening range: weekday 1 = Monday … 7 = Sunday; ``closes`` may be 24:00."""

    weekday: int
    opens: str
    closes: str

    @classmethod
    def of(cls, h: ProviderHours) -> HoursPublic:
        return cls(weekday=h.weekday, opens=h.opens, closes=h.closes)


class VanStopPublic(BaseModel):
    """A weekly stop of a van."""

    weekday: int
    start_time: str
    end_time: str
    lat: float
    lon: float
    region_code: str | None
    site_name: str

    @classmethod
    def of(cls, s: VanStop) -> VanStopPublic:
        return cls(
            weekday=s.weekday,
            start_time=s.start_time,
            end_time=s.end_time,
            lat=s.lat,
            lon=s.lon,
            region_code=s.region_code,
            site_name=s.site_name,
        )


class _ProviderBase(BaseModel):
    id: str
    name: str
    name_en: str
    kind: str
    ownership: str | None
    region_code: str | None
    lat: float
    lon: float
    address: str | None
    phone: str | None
    opening_hours: str
    languages: list[str]
    capabilities: list[str]
    evening_hours: bool
    weekend_hours: bool
    active: bool

    @staticmethod
    def _fields(view: ProviderView) -> dict[str, Any]:
        p: Provider = view.provider
        return {
            "id": p.id,
            "name": p.name,
            "name_en": p.name_en,
            "kind": p.kind,
            "ownership": p.ownership,
            "region_code": p.region_code,
            "lat": p.lat,
            "lon": p.lon,
            "address": p.address,
            "phone": p.phone,
            "opening_hours": p.opening_hours,
            "languages": list(split_codes(p.languages)),
            "capabilities": list(split_codes(p.capabilities)),
            "evening_hours": view.evening_hours,
            "weekend_hours": view.weekend_hours,
            "active": p.active,
        }


class ProviderSummary(_ProviderBase):
    """A provider in a list, with the codes of the services it offers."""

    services: list[str]

    @classmethod
    def of(cls, view: ProviderView) -> ProviderSummary:
        return cls(**cls._fields(view), services=[s.service_code for s in view.services])


class ProvidersPublic(BaseModel):
    items: list[ProviderSummary]
    total: int
    limit: int
    offset: int


class ProviderDetail(_ProviderBase):
    """One provider with its services and terms, opening ranges and van stops."""

    parent_id: str | None
    services: list[ServicePublic]
    hours: list[HoursPublic]
    van_stops: list[VanStopPublic]

    @classmethod
    def of(cls, view: ProviderView) -> ProviderDetail:
        return cls(
            **cls._fields(view),
            parent_id=view.provider.parent_id,
            services=[ServicePublic.of(s) for s in view.services],
            hours=[HoursPublic.of(h) for h in view.hours],
            van_stops=[VanStopPublic.of(s) for s in view.stops],
        )


class NearbyPublic(BaseModel):
    """A search result: the provider, how far, open now or when next, and its terms.

    For a van, ``lat``/``lon`` and ``site_name`` are the stop's.
    """

    id: str
    name: str
    name_en: str
    kind: str
    distance_km: float
    lat: float
    lon: float
    site_name: str | None
    open_now: bool
    next_open: datetime | None
    closes_at: datetime | None
    price: float
    insured_share: float
    daily_capacity: int
    wait_days: int
    phone: str | None
    languages: list[str]
    capabilities: list[str]

    @classmethod
    def of(cls, n: Nearby) -> NearbyPublic:
        c, p, o = n.candidate, n.provider, n.offer
        return cls(
            id=p.id,
            name=p.name,
            name_en=p.name_en,
            kind=p.kind,
            distance_km=round(c.distance_km, 4),
            lat=c.lat,
            lon=c.lon,
            site_name=c.label,
            open_now=c.open_now,
            next_open=c.next_open,
            closes_at=c.closes_at,
            price=o.price,
            insured_share=o.insured_share,
            daily_capacity=o.daily_capacity,
            wait_days=o.wait_days,
            phone=p.phone,
            languages=list(p.languages),
            capabilities=list(p.capabilities),
        )


class NearestPublic(BaseModel):
    """The answer to "nearest providers offering S from here at T"."""

    service: str
    lat: float
    lon: float
    at: datetime
    open_only: bool
    items: list[NearbyPublic]


class QuarantinedProviderRow(BaseModel):
    """A rejected row of a provider import, verbatim, with its reasons."""

    id: str
    file: str
    line: int
    raw: str
    reasons: list[dict[str, Any]]

    @classmethod
    def of(cls, q: ProviderQuarantine) -> QuarantinedProviderRow:
        return cls(id=q.id, file=q.file, line=q.line, raw=q.raw, reasons=json.loads(q.reasons))


class ProviderQuarantinePublic(BaseModel):
    items: list[QuarantinedProviderRow]
    limit: int
    offset: int
