"""Postal addresses of homes, in full and in the abbreviated forms clerks actually type."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from carematch.synth import strings
from carematch.synth.regions import CITY, PROVINCE, Geography

ADDRESS_STYLES = ("full", "no_province", "district_first", "no_street", "compact")
"""``full`` 广东省江城市白云区云山街道海棠路12号3栋502室; ``no_province`` 江城市白云区…;
``district_first`` 白云区云山街道…; ``no_street`` 江城市白云区海棠路12号3栋502室;
``compact`` 白云区海棠路12号3-502."""


def render_addresses(
    geo: Geography,
    community: np.ndarray,
    road: np.ndarray,
    number: np.ndarray,
    building: np.ndarray,
    room: np.ndarray,
    style: np.ndarray,
) -> pa.Array:
    """Addresses for aligned component arrays; ``style`` indexes ADDRESS_STYLES per row.

    Urban homes have building and room (栋/室), urban-village homes a room (房) after the
    village name, village homes only a house number after the village group (组).
    """
    comms = geo.communities
    kind = np.array([c.kind for c in comms])[community]
    district = strings.pick(
        [d.name for d in geo.districts], np.array([int(c.code[4:6]) - 1 for c in comms])[community]
    )
    street_index = {s.code: i for i, s in enumerate(geo.streets)}
    street = strings.pick(
        [s.name for s in geo.streets],
        np.array([street_index[c.parent_code] for c in comms])[community],
    )
    in_village = (kind == "urban_village") | (kind == "rural")
    village = strings.pick([c.name for c in comms], np.where(in_village, community, -1))
    road_name = strings.pick([name for _, name in geo.roads], road)
    house = strings.concat(strings.int_str(number), "号")
    flat = kind == "urban"
    flat |= kind == "industrial_park"
    tail_full = strings.where(
        flat,
        strings.concat(strings.int_str(building), "栋", strings.int_str(room), "室"),
        strings.where(kind == "urban_village", strings.concat(strings.int_str(room), "房"), ""),
    )
    tail_compact = strings.where(
        flat,
        strings.concat(strings.int_str(building), "-", strings.int_str(room)),
        strings.where(kind == "urban_village", strings.int_str(room), ""),
    )
    local = strings.concat(village, road_name, house)
    province, city = PROVINCE[1], CITY[1]
    # Each style is built only for its own rows, then the rows are put back in order: building
    # all five forms for a million addresses would hold five copies in memory.
    parts: list[pa.Array] = []
    position = np.empty(len(style), dtype=np.int64)
    offset = 0
    for index in range(len(ADDRESS_STYLES)):
        rows = np.flatnonzero(style == index)
        if rows.size == 0:
            continue
        take = pa.array(rows)
        p = {
            "district": district.take(take),
            "street": street.take(take),
            "local": local.take(take),
            "tail": tail_full.take(take),
        }
        if index == 0:
            text = strings.concat(province, city, p["district"], p["street"], p["local"], p["tail"])
        elif index == 1:
            text = strings.concat(city, p["district"], p["street"], p["local"], p["tail"])
        elif index == 2:
            text = strings.concat(p["district"], p["street"], p["local"], p["tail"])
        elif index == 3:
            text = strings.concat(city, p["district"], p["local"], p["tail"])
        else:
            text = strings.concat(p["district"], p["local"], tail_compact.take(take))
        parts.append(text)
        position[rows] = offset + np.arange(rows.size)
        offset += rows.size
    if not parts:
        return pa.array([], type=pa.string())
    return pa.concat_arrays(parts).take(pa.array(position))
