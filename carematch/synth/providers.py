"""Health-service providers of the city (资源清单): who offers what, where, when, in which language.

The registry mirrors R-SP-1: tertiary hospitals, a community health centre (社区卫生服务中心) per
urban street, a township hospital (乡镇卫生院) per town, a village clinic (村卫生室) per village,
health stations (健康驿站) in industrial parks and urban villages, NGOs, private clinics, and
mobile service vans (流动服务车) with weekly routes to parks, sites and markets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import yaml

from carematch.synth.regions import Geography, Region

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
PROVIDER_KINDS = (
    "tertiary_hospital",
    "community_health_centre",
    "township_hospital",
    "village_clinic",
    "health_station",
    "ngo",
    "private_clinic",
    "mobile_van",
)
WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")

# Services each kind offers: (code, probability that one provider of the kind offers it).
_OFFER: dict[str, tuple[tuple[str, float], ...]] = {
    "tertiary_hospital": (
        ("general_outpatient", 1),
        ("emergency_care", 1),
        ("injury_care", 1),
        ("cross_province_settlement", 1),
        ("remote_consultation", 1),
        ("online_consultation", 1),
        ("medication_delivery", 0.7),
        ("prenatal_check", 0.7),
        ("tb_screening", 0.5),
        ("hiv_testing", 0.7),
        ("cervical_breast_screening", 0.7),
        ("mental_counseling", 0.7),
        ("occupational_screening", 0.5),
        ("health_certificate", 0.5),
        ("vaccination_adult", 0.5),
    ),
    "community_health_centre": (
        ("general_outpatient", 1),
        ("vaccination_child", 1),
        ("vaccination_adult", 1),
        ("home_vaccination", 0.4),
        ("prenatal_check", 0.9),
        ("postnatal_visit", 1),
        ("child_health_check", 1),
        ("family_doctor_signing", 1),
        ("chronic_followup", 1),
        ("elderly_checkup", 1),
        ("health_education", 1),
        ("home_rehab", 0.5),
        ("home_sickbed", 0.4),
        ("online_consultation", 0.6),
        ("medication_delivery", 0.4),
        ("cross_province_settlement", 0.6),
        ("health_certificate", 0.7),
        ("tb_screening", 0.3),
        ("hiv_testing", 0.3),
        ("cervical_breast_screening", 0.8),
        ("mental_counseling", 0.3),
        ("lifestyle_guidance", 0.8),
        ("fitness_support", 0.3),
        ("medical_assistance", 0.7),
        ("temporary_relief", 0.3),
        ("occupational_screening", 0.2),
        ("remote_consultation", 0.5),
    ),
    "township_hospital": (
        ("general_outpatient", 1),
        ("emergency_care", 1),
        ("injury_care", 1),
        ("vaccination_child", 1),
        ("vaccination_adult", 1),
        ("home_vaccination", 0.5),
        ("prenatal_check", 1),
        ("postnatal_visit", 1),
        ("child_health_check", 1),
        ("family_doctor_signing", 1),
        ("chronic_followup", 1),
        ("elderly_checkup", 1),
        ("health_education", 1),
        ("home_rehab", 0.5),
        ("home_sickbed", 0.6),
        ("remote_consultation", 1),
        ("cross_province_settlement", 0.5),
        ("tb_screening", 0.5),
        ("cervical_breast_screening", 0.8),
        ("medical_assistance", 1),
        ("temporary_relief", 0.5),
    ),
    "village_clinic": (
        ("general_outpatient", 1),
        ("family_doctor_signing", 1),
        ("chronic_followup", 1),
        ("elderly_checkup", 0.5),
        ("health_education", 1),
        ("medication_delivery", 0.5),
        ("home_sickbed", 0.3),
    ),
    "health_station": (
        ("chronic_followup", 1),
        ("health_education", 1),
        ("lifestyle_guidance", 1),
        ("fitness_support", 0.6),
        ("online_consultation", 1),
        ("mental_counseling", 0.4),
        ("family_doctor_signing", 0.7),
        ("health_certificate", 0.3),
    ),
    "private_clinic": (
        ("general_outpatient", 1),
        ("health_certificate", 0.8),
        ("online_consultation", 0.8),
        ("lifestyle_guidance", 0.5),
        ("elderly_checkup", 0.3),
        ("occupational_screening", 0.4),
    ),
    "mobile_van": (
        ("vaccination_child", 1),
        ("vaccination_adult", 1),
        ("health_certificate", 1),
        ("occupational_screening", 1),
        ("chronic_followup", 1),
        ("tb_screening", 0.6),
        ("hiv_testing", 0.5),
        ("health_education", 1),
        ("family_doctor_signing", 0.7),
    ),
}
# The NGOs, each with its own focus (name, English, services, capabilities, languages).
_NGOS = (
    (
        "江城市心灵港湾心理服务中心",
        "Harbour of Hearts Psychological Service Centre",
        ("mental_counseling", "health_education", "online_consultation"),
        ("mental_health",),
        ("zh", "en"),
    ),
    (
        "江城市新市民健康服务中心",
        "New Citizens Health Service Centre",
        (
            "health_education",
            "cross_province_settlement",
            "medical_assistance",
            "temporary_relief",
            "mental_counseling",
        ),
        ("mental_health", "occupational_health"),
        ("zh", "ug", "bo", "yue"),
    ),
    (
        "江城市阳光康复协会",
        "Sunshine Rehabilitation Association",
        ("rehab_aids", "home_rehab", "health_education"),
        ("rehabilitation",),
        ("zh", "yue"),
    ),
    (
        "江城市红丝带志愿服务中心",
        "Red Ribbon Volunteer Centre",
        ("hiv_testing", "reproductive_health", "health_education"),
        ("hiv",),
        ("zh", "en"),
    ),
)
_PRIVATE = (
    ("康民门诊部", "Kangmin Outpatient Clinic"),
    ("仁心诊所", "Renxin Clinic"),
    ("益寿堂中医诊所", "Yishoutang TCM Clinic"),
    ("安心健康体检中心", "Anxin Health Check Centre"),
)
# Base price (yuan) and insured share of each service; basic public-health services are free.
_PRICE: dict[str, tuple[float, float]] = {
    "general_outpatient": (30, 0.6),
    "emergency_care": (200, 0.7),
    "injury_care": (300, 0.7),
    "cross_province_settlement": (0, 0),
    "remote_consultation": (200, 0.5),
    "online_consultation": (20, 0.5),
    "medication_delivery": (10, 0),
    "vaccination_child": (0, 0),
    "vaccination_adult": (150, 0),
    "home_vaccination": (50, 0),
    "prenatal_check": (120, 0.6),
    "postnatal_visit": (0, 0),
    "child_health_check": (0, 0),
    "tb_screening": (0, 0),
    "hiv_testing": (0, 0),
    "cervical_breast_screening": (0, 0),
    "health_certificate": (60, 0),
    "family_doctor_signing": (0, 0),
    "chronic_followup": (0, 0),
    "elderly_checkup": (0, 0),
    "occupational_screening": (150, 0),
    "health_education": (0, 0),
    "home_rehab": (120, 0.5),
    "home_sickbed": (80, 0.6),
    "rehab_aids": (300, 0.3),
    "reproductive_health": (0, 0),
    "mental_counseling": (100, 0.3),
    "lifestyle_guidance": (0, 0),
    "fitness_support": (0, 0),
    "medical_assistance": (0, 0),
    "temporary_relief": (0, 0),
}
_PRICE_FACTOR = {"tertiary_hospital": 1.5, "private_clinic": 1.3, "ngo": 0.5, "village_clinic": 0.7}
_CAPACITY = {
    "tertiary_hospital": (60, 400),
    "community_health_centre": (30, 160),
    "township_hospital": (20, 100),
    "village_clinic": (10, 30),
    "health_station": (15, 40),
    "ngo": (8, 30),
    "private_clinic": (20, 60),
    "mobile_van": (30, 80),
}
_HOURS = {
    "office": "Mo-Fr 08:00-12:00,14:00-17:30",
    "office_sat": "Mo-Fr 08:00-12:00,14:00-17:30; Sa 08:00-12:00",
    "evening": "Mo-Fr 08:00-12:00,14:00-21:00; Sa-Su 08:00-12:00",
    "always": "24/7",
    "village": "Mo-Sa 08:00-12:00,14:30-17:30",
    "station": "Mo-Su 09:00-21:00",
    "ngo": "Mo-Fr 09:00-18:00",
    "ngo_weekend": "Mo-Fr 09:00-21:00; Sa-Su 10:00-18:00",
    "private": "Mo-Su 08:30-21:30",
}


@dataclass
class Provider:
    """One provider (机构) of the registry."""

    provider_id: str
    name: str
    name_en: str
    kind: str
    ownership: str
    community: Region
    lat: float
    lon: float
    phone: str
    opening_hours: str
    languages: tuple[str, ...]
    capabilities: tuple[str, ...]
    parent_id: str = ""
    quality: float = 0.0
    services: list[tuple[str, int, float, float]] = field(default_factory=list)

    @property
    def evening_hours(self) -> bool:
        """Open at or after 19:00 on some day (what shift workers need)."""
        return (
            any(_closes_after(p, 19) for p in self.opening_hours.split("; "))
            or self.opening_hours == "24/7"
        )

    @property
    def weekend_hours(self) -> bool:
        """Open on Saturday or Sunday."""
        return self.opening_hours == "24/7" or any(d in self.opening_hours for d in ("Sa", "Su"))


def _closes_after(part: str, hour: int) -> bool:
    """Whether a rule like ``Mo-Fr 08:00-12:00,14:00-21:00`` has a span ending at ``hour``+."""
    return any(
        int(span.split("-")[1][:2]) >= hour
        for span in part.split(" ")[-1].split(",")
        if "-" in span and ":" in span
    )


@dataclass
class VanStop:
    """One weekly stop of a mobile service van."""

    provider_id: str
    weekday: int  # 1 = Monday … 7 = Sunday
    start: str
    end: str
    lat: float
    lon: float
    community_code: str
    site_name: str


def load_services() -> list[dict]:
    """The packaged service catalogue (services.yaml)."""
    text = resources.files("carematch.data").joinpath("services.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def build_providers(
    rng: np.random.Generator, geo: Geography
) -> tuple[list[Provider], list[VanStop]]:
    """Build the provider registry, each provider's services and the vans' weekly routes."""
    services = {s["code"] for s in load_services()}
    comms = geo.communities
    by_code = {c.code: c for c in comms}
    streets = geo.streets
    providers: list[Provider] = []

    def add(
        name: str,
        name_en: str,
        kind: str,
        ownership: str,
        where: Region,
        hours: str,
        languages: tuple[str, ...],
        capabilities: tuple[str, ...],
        parent: str = "",
    ) -> Provider:
        jitter = rng.normal(0, 0.0015, 2)
        p = Provider(
            provider_id=f"PRV{len(providers) + 1:04d}",
            name=name,
            name_en=name_en,
            kind=kind,
            ownership=ownership,
            community=where,
            lat=round(where.lat + float(jitter[0]), 6),
            lon=round(where.lon + float(jitter[1]), 6),
            phone=f"0749-{int(rng.integers(8100_0000, 8999_9999))}",
            opening_hours=hours,
            languages=languages,
            capabilities=capabilities,
            parent_id=parent,
            quality=round(float(rng.normal(0, 0.45)), 3),
        )
        providers.append(p)
        return p

    first_urban = {s.code: next(c for c in comms if c.parent_code == s.code) for s in streets}
    hospital_sites = ("449901002001", "449903001001", "449902001001")
    h1 = add(
        "江城市第一人民医院",
        "Jiangcheng First People's Hospital",
        "tertiary_hospital",
        "government",
        first_urban[hospital_sites[0][:9]],
        _HOURS["always"],
        ("zh", "en", "yue", "ug"),
        ("emergency", "elderly_chronic_care", "mental_health", "maternal_child", "rehabilitation"),
    )
    add(
        "江城市第二人民医院",
        "Jiangcheng Second People's Hospital",
        "tertiary_hospital",
        "government",
        first_urban[hospital_sites[1][:9]],
        _HOURS["always"],
        ("zh", "yue"),
        ("emergency", "tb", "occupational_health", "mental_health", "hiv"),
    )
    add(
        "江城市妇幼保健院",
        "Jiangcheng Maternal and Child Health Hospital",
        "tertiary_hospital",
        "government",
        first_urban[hospital_sites[2][:9]],
        _HOURS["always"],
        ("zh", "en"),
        ("maternal_child", "vaccination", "emergency"),
    )

    centre_of_street: dict[str, Provider] = {}
    tb_district: set[str] = set()
    for street in streets:
        site = first_urban[street.code]
        kinds = {c.kind for c in comms if c.parent_code == street.code}
        is_town = street.name.endswith("镇")
        caps: list[str] = ["family_doctor", "vaccination", "maternal_child"]
        if rng.random() < 0.5:
            caps.append("elderly_chronic_care")
        if rng.random() < 0.25:
            caps.append("mental_health")
        if "industrial_park" in kinds:
            caps.append("occupational_health")
        if street.parent_code not in tb_district:
            caps.append("tb")
            tb_district.add(street.parent_code)
        if rng.random() < 0.3:
            caps.append("rehabilitation")
        # Streets full of workers keep evening and weekend hours (R-SP-1).
        worker_street = bool(kinds & {"industrial_park", "urban_village"})
        hours = _HOURS["evening"] if worker_street and rng.random() < 0.75 else _HOURS["office_sat"]
        langs: tuple[str, ...] = (
            ("zh", "yue")
            if street.parent_code in ("449901", "449902") and rng.random() < 0.6
            else ("zh",)
        )
        if rng.random() < 0.1:
            langs = (*langs, "en")
        if is_town:
            centre = add(
                f"{street.name}卫生院",
                f"{street.name_en.replace(' Town', '')} Township Hospital",
                "township_hospital",
                "government",
                site,
                hours,
                langs,
                (*caps, "emergency"),
                h1.provider_id,
            )
        else:
            centre = add(
                f"{street.name}社区卫生服务中心",
                f"{street.name_en.replace(' Subdistrict', '')} Community Health Centre",
                "community_health_centre",
                "government",
                site,
                hours,
                langs,
                tuple(caps),
                h1.provider_id,
            )
        centre_of_street[street.code] = centre

    for c in comms:
        if c.kind == "rural":
            add(
                f"{c.name}卫生室",
                f"{c.name_en.replace(' Village', '')} Village Clinic",
                "village_clinic",
                "government",
                c,
                _HOURS["village"],
                ("zh", "yue"),
                ("family_doctor", "elderly_chronic_care"),
                centre_of_street[c.parent_code].provider_id,
            )
    villages = [c for c in comms if c.kind == "urban_village"]
    station_sites = [c for c in comms if c.kind == "industrial_park"]
    station_sites += [villages[i] for i in sorted(rng.choice(len(villages), size=5, replace=False))]
    for c in station_sites:
        station_caps = (
            ("occupational_health", "elderly_chronic_care")
            if c.kind == "industrial_park"
            else ("elderly_chronic_care",)
        )
        add(
            f"{c.name}健康驿站",
            f"{c.name_en} Health Station",
            "health_station",
            "government",
            c,
            _HOURS["station"],
            ("zh",),
            station_caps,
            centre_of_street[c.parent_code].provider_id,
        )

    ngo_sites = ("449902002001", "449904001003", "449901003001", "449903002002")
    for (name, name_en, offered, ngo_caps, ngo_langs), ngo_site in zip(
        _NGOS, ngo_sites, strict=True
    ):
        ngo_hours = _HOURS["ngo_weekend"] if "mental_health" in ngo_caps else _HOURS["ngo"]
        ngo = add(
            name,
            name_en,
            "ngo",
            "social_organisation",
            by_code[ngo_site],
            ngo_hours,
            ngo_langs,
            ngo_caps,
        )
        ngo.services = [(s, 0, 0.0, 0.0) for s in offered]
    urban = [c for c in comms if c.kind == "urban"]
    for name, name_en in _PRIVATE:
        site = urban[int(rng.integers(len(urban)))]
        add(
            name,
            name_en,
            "private_clinic",
            "market",
            site,
            _HOURS["private"],
            ("zh", "yue"),
            ("elderly_chronic_care",) if "中医" in name else (),
        )

    stops: list[VanStop] = []
    van_routes = (
        ("449904", ("industrial_park", "urban_village"), "occupational_health"),
        ("449903", ("urban_village", "urban"), "vaccination"),
        ("449905", ("rural", "urban"), "elderly_chronic_care"),
        ("449901", ("urban_village", "urban"), "tb"),
    )
    for number, (district, route_kinds, cap) in enumerate(van_routes, start=1):
        base_street = next(s for s in streets if s.parent_code == district)
        base = centre_of_street[base_street.code]
        van_caps = ("vaccination", "occupational_health", "family_doctor")
        van = add(
            f"江城健康直通车{number}号",
            f"Jiangcheng Health Van No. {number}",
            "mobile_van",
            "government",
            base.community,
            "",
            ("zh", "yue") if number == 3 else ("zh",),
            van_caps if cap in van_caps else (*van_caps, cap),
            base.provider_id,
        )
        route = [c for c in comms if c.code.startswith(district) and c.kind in route_kinds]
        stops += _van_route(rng, van, route)
        van.opening_hours = _hours_from_stops(
            [s for s in stops if s.provider_id == van.provider_id]
        )

    for p in providers:
        services_offered = (
            [s for s, _, _, _ in p.services]
            if p.kind == "ngo"
            else [code for code, prob in _OFFER[p.kind] if prob >= 1 or rng.random() < prob]
        )
        lo, hi = _CAPACITY[p.kind]
        p.services = []
        for code in services_offered:
            if code not in services:
                raise ValueError(f"service {code} is not in services.yaml")
            base_price, insured = _PRICE[code]
            price = round(base_price * _PRICE_FACTOR.get(p.kind, 1.0), 2)
            capacity = int(rng.integers(lo, hi + 1))
            if code == "general_outpatient" and p.kind == "tertiary_hospital":
                capacity *= 4
            p.services.append((code, capacity, price, insured if price > 0 else 0.0))
    return providers, stops


_SITE_NAMES = {
    "industrial_park": ("{c}园区大门", "{c}厂区宿舍", "{c}工业区饭堂"),
    "urban_village": ("{c}农贸市场", "{c}建筑工地", "{c}文化广场"),
    "urban": ("{c}农贸市场", "{c}建筑工地", "{c}公园"),
    "rural": ("{c}村委会", "{c}圩市"),
}


def _van_route(rng: np.random.Generator, van: Provider, route: list[Region]) -> list[VanStop]:
    """Six stops a week: daytime at markets and villages, evenings at factories and sites."""
    stops = []
    days = [1, 2, 3, 4, 5, 6] if len(route) >= 3 else [1, 3, 5]
    for i, weekday in enumerate(days):
        community = route[i % len(route)]
        pattern = _SITE_NAMES[community.kind][int(rng.integers(len(_SITE_NAMES[community.kind])))]
        stem = community.name.removesuffix("社区").removesuffix("工业园").removesuffix("园")
        site = pattern.format(c=stem)
        evening = community.kind == "industrial_park" or "工地" in site
        start, end = (
            ("18:30", "21:00")
            if evening
            else (("09:00", "12:00") if weekday % 2 else ("14:00", "17:00"))
        )
        if weekday == 6:
            start, end = "09:00", "16:00"
        jitter = rng.normal(0, 0.002, 2)
        stops.append(
            VanStop(
                van.provider_id,
                weekday,
                start,
                end,
                round(community.lat + float(jitter[0]), 6),
                round(community.lon + float(jitter[1]), 6),
                community.code,
                site,
            )
        )
    return stops


def _hours_from_stops(stops: list[VanStop]) -> str:
    """OSM-style opening hours of a van's stops, e.g. ``Mo 18:30-21:00; Tu 09:00-12:00``."""
    return "; ".join(
        f"{WEEKDAYS[s.weekday - 1]} {s.start}-{s.end}"
        for s in sorted(stops, key=lambda s: s.weekday)
    )


def distance_km(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in kilometres (haversine)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def nearest_offering(
    geo: Geography,
    providers: list[Provider],
    stops: list[VanStop],
    service_codes: list[str],
    k: int = 3,
) -> np.ndarray:
    """For each community and service, the ``k`` nearest providers offering it (-1 if fewer).

    A van counts as at distance zero in the communities on its route.
    """
    comms = geo.communities
    lat = np.array([c.lat for c in comms])
    lon = np.array([c.lon for c in comms])
    on_route = {(s.provider_id, s.community_code) for s in stops}
    out = np.full((len(comms), len(service_codes), k), -1, dtype=np.int64)
    for j, code in enumerate(service_codes):
        offering = [i for i, p in enumerate(providers) if any(s[0] == code for s in p.services)]
        if not offering:
            continue
        plat = np.array([providers[i].lat for i in offering])
        plon = np.array([providers[i].lon for i in offering])
        dist = distance_km(lat[:, None], lon[:, None], plat[None, :], plon[None, :])
        for col, i in enumerate(offering):
            if providers[i].kind == "mobile_van":
                served = np.array([(providers[i].provider_id, c.code) in on_route for c in comms])
                dist[:, col] = np.where(served, 0.0, np.inf)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        chosen = np.array(offering)[order]
        finite = np.take_along_axis(np.isfinite(dist), order, axis=1)
        out[:, j, : order.shape[1]] = np.where(finite, chosen, -1)
    return out
