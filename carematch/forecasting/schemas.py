"""API shapes of the forecasting domain."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class HotspotPublic(BaseModel):
    """A district × service whose weekly demand is expected to rise (需求热点)."""

    id: str = Field(description="district:service")
    district: str
    service: str
    recent_weekly: float = Field(description="observed mean of the last `horizon` weeks")
    expected_weekly: float = Field(description="mean forecast per week over the horizon")
    expected_lo80: float
    expected_hi80: float
    rise: float = Field(description="expected_weekly - recent_weekly, demands per week")
    rise_relative: float | None = Field(description="rise / recent_weekly; null when tiny")
    peak_week: date
    peak_forecast: float
    peak_lo80: float
    peak_hi80: float
    history_weeks: int
    method: str


class HotspotsPublic(BaseModel):
    """Hot spots, largest rise first."""

    as_of: date
    horizon: int
    rank: str
    total: int
    items: list[HotspotPublic]


class WeekValuePublic(BaseModel):
    week: date
    value: float


class WeekForecastPublic(BaseModel):
    week: date
    forecast: float
    lo80: float
    hi80: float


class SeriesPublic(BaseModel):
    """One district × service: weekly new demands and the forecast with its 80 % interval."""

    district: str
    service: str
    measure: str = "demands created per week"
    method: str
    history: list[WeekValuePublic]
    forecast: list[WeekForecastPublic]
