"""The vocabulary of the registry: the service catalogue, provider kinds, ownerships, capabilities.

The catalogue is the packaged ``carematch/data/services.yaml`` (a copy of the shared file, see
its SOURCE.md), read once; codes are checked against it at import rather than by a foreign key,
so a new catalogue version needs no migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

PROVIDER_KINDS = (
    "tertiary_hospital",  # 三级医院
    "community_health_centre",  # 社区卫生服务中心
    "township_hospital",  # 乡镇卫生院
    "village_clinic",  # 村卫生室
    "health_station",  # 健康驿站
    "ngo",  # 社会组织
    "private_clinic",  # 民营诊所
    "mobile_van",  # 流动服务车
)
MOBILE_VAN = "mobile_van"
# R-SP-3: government, social organisations or market actors.
OWNERSHIPS = ("government", "social_organisation", "market")
CAPABILITIES = (
    "elderly_chronic_care",
    "maternal_child",
    "mental_health",
    "occupational_health",
    "tb",
    "vaccination",
    "rehabilitation",
    "emergency",
    "family_doctor",
    "hiv",
)


@dataclass(frozen=True)
class ServiceInfo:
    """One service of the catalogue (服务目录)."""

    code: str
    name: str
    name_en: str
    demand_type: str
    level: str
    slot_minutes: int


@cache
def service_catalogue() -> dict[str, ServiceInfo]:
    """Every service of the packaged catalogue by code, in catalogue order."""
    text = resources.files("carematch.data").joinpath("services.yaml").read_text("utf-8")
    return {
        entry["code"]: ServiceInfo(
            code=entry["code"],
            name=entry["name"],
            name_en=entry["name_en"],
            demand_type=entry["demand_type"],
            level=entry["level"],
            slot_minutes=int(entry["slot_minutes"]),
        )
        for entry in yaml.safe_load(text)
    }
