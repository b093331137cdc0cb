"""API shapes of the cold chain and of the doses given (pydantic)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from carematch.coldchain.models import ColdChainAlarm, VaccineLot

PlaceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class LotCreate(BaseModel):
    """A lot received at a fridge, box or site: what the manufacturer printed on it."""

    manufacturer: Name
    product: Code
    lot_number: Code
    expiry: date
    vvm_stage: int = Field(1, ge=1, le=4)
    location_id: PlaceId
    received_at: AwareDatetime | None = None
    region_code: Annotated[str, Field(pattern=r"^[0-9]{2,12}$")] | None = None


class LotPublic(BaseModel):
    """A lot and where it is now."""

    id: str
    manufacturer: str
    product: str
    lot_number: str
    expiry: date
    vvm_stage: int
    location_id: str | None
    region_code: str | None
    status: str

    @classmethod
    def of(cls, lot: VaccineLot) -> LotPublic:
        return cls(
            id=lot.id,
            manufacturer=lot.manufacturer,
            product=lot.product,
            lot_number=lot.lot_number,
            expiry=lot.expiry,
            vvm_stage=lot.vvm_stage,
            location_id=lot.location_id,
            region_code=lot.region_code,
            status=lot.status,
        )


class LotsPublic(BaseModel):
    items: list[LotPublic]
    total: int
    limit: int
    offset: int


class EventCreate(BaseModel):
    """A step of a lot's path logged by hand; administered, suspect and recalled are not."""

    kind: Literal["stored", "shipped", "discarded"]
    location_id: PlaceId | None = None
    at: AwareDatetime | None = None
    vvm_stage: int | None = Field(None, ge=1, le=4)
    note: (
        Annotated[
            str,
            Field(
                max_length=500,
                pattern=r"^[^\x00-\x1f\x7f]*$",
                description="goes into the public log: never a person's name or details",
            ),
        ]
        | None
    ) = None


class EventPublic(BaseModel):
    """An event of the log: its leaf index, leaf hash (hex) and the logged leaf."""

    leaf_index: int
    leaf_hash: str
    event: dict[str, Any] | None


class EventsPublic(BaseModel):
    items: list[EventPublic]
    size: int
    limit: int
    offset: int


class RecallCreate(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]


class CheckpointPublic(BaseModel):
    """A signed checkpoint: the C2SP signed note, and its size and root for convenience."""

    size: int
    root_hash: str
    key_id: str
    note: str


class InclusionPublic(BaseModel):
    format: str
    origin: str
    leaf_index: int
    tree_size: int
    leaf: str
    event: Any
    inclusion_proof: list[str]
    checkpoint: str


class ConsistencyPublic(BaseModel):
    origin: str
    first: int
    second: int
    first_root: str
    second_root: str
    consistency_proof: list[str]
    first_checkpoint: str | None
    second_checkpoint: str | None


class VerifyPublic(BaseModel):
    ok: bool
    size: int
    checkpoints: int
    latest_checkpoint: int | None
    unsigned_events: int
    problems: list[str]


class TelemetryReadingIn(BaseModel):
    device_id: Annotated[str, Field(max_length=200)]
    at: Annotated[str, Field(max_length=64)]
    celsius: Annotated[str, Field(max_length=64)] | float


class TelemetryUpload(BaseModel):
    """Readings posted by a logger; checked one by one like the rows of a CSV."""

    source: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
    readings: list[TelemetryReadingIn] = Field(max_length=10_000)


class RejectedRowPublic(BaseModel):
    line: int
    reason: str


class RejectedReadingPublic(BaseModel):
    """A telemetry row that was not used, with where it came from and why."""

    source: str
    line: int
    raw: str
    reason: str
    created_at: datetime


class RejectedReadingsPublic(BaseModel):
    items: list[RejectedReadingPublic]
    limit: int
    offset: int


class ImportPublic(BaseModel):
    source: str
    stored: int
    duplicates: int
    rejected: list[RejectedRowPublic]
    devices: list[str]
    new_alarms: list[str]
    new_suspect_lots: list[str]


class AlarmPublic(BaseModel):
    id: str
    device_id: str
    kind: str
    since: datetime
    raised_at: datetime
    celsius: float | None
    window_end: datetime | None
    extreme_c: float | None

    @classmethod
    def of(cls, row: ColdChainAlarm) -> AlarmPublic:
        return cls(
            id=row.id,
            device_id=row.device_id,
            kind=row.kind,
            since=row.since,
            raised_at=row.raised_at,
            celsius=row.celsius,
            window_end=row.window_end,
            extreme_c=row.extreme_c,
        )


class AlarmsPublic(BaseModel):
    items: list[AlarmPublic]
    total: int
    limit: int
    offset: int


class RecallEntryPublic(BaseModel):
    person_id: str
    lot_id: str
    administered_at: datetime
    after_exposure: bool


class RecallPublic(BaseModel):
    lots: list[str]
    persons: list[str]
    doses: list[RecallEntryPublic]
