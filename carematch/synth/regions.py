"""The fictional city of 江城市 (Jiangcheng): districts, streets, communities, roads and map.

The geography is the same for every seed (it is the city, not its residents): five districts
cut from one outline by a Voronoi split, four streets (街道 / 镇) per district and three
communities (社区 / 村) per street, each with a kind that shapes who lives there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

PROVINCE = ("440000", "广东省", "Guangdong Province")
CITY = ("449900", "江城市", "Jiangcheng City")

COMMUNITY_KINDS = ("urban", "urban_village", "industrial_park", "rural")
"""Community kinds: 城市社区, 城中村, 工业园区社区, 农村 (village)."""

# District: code, name, English, Voronoi seed (lon, lat).
_DISTRICTS = [
    ("449901", "白云区", "Baiyun District", (113.275, 23.165)),
    ("449902", "江南区", "Jiangnan District", (113.255, 23.060)),
    ("449903", "临江区", "Linjiang District", (113.385, 23.130)),
    ("449904", "新港区", "Xingang District", (113.405, 23.025)),
    ("449905", "青山区", "Qingshan District", (113.290, 23.275)),
]

# Street (街道 / 镇) per district, then its three communities as (name, English stem, kind).
# Kinds: u = urban, v = urban_village, i = industrial_park, r = rural.
_STREETS: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "云山街道",
        "Yunshan Subdistrict",
        [("云山社区", "Yunshan", "u"), ("麓湖社区", "Luhu", "u"), ("松园村", "Songyuan", "v")],
    ),
    (
        "白沙街道",
        "Baisha Subdistrict",
        [("白沙社区", "Baisha", "u"), ("金桂社区", "Jingui", "u"), ("沙涌村", "Shachong", "v")],
    ),
    (
        "景泰街道",
        "Jingtai Subdistrict",
        [("景泰社区", "Jingtai", "u"), ("云景社区", "Yunjing", "u"), ("下塘村", "Xiatang", "v")],
    ),
    (
        "三元街道",
        "Sanyuan Subdistrict",
        [("三元社区", "Sanyuan", "u"), ("象岗社区", "Xianggang", "u"), ("瑶台村", "Yaotai", "v")],
    ),
    (
        "江南街道",
        "Jiangnan Subdistrict",
        [
            ("江湾社区", "Jiangwan", "u"),
            ("南岸社区", "Nan'an", "u"),
            ("凤凰社区", "Fenghuang", "u"),
        ],
    ),
    (
        "沙园街道",
        "Shayuan Subdistrict",
        [("沙园社区", "Shayuan", "u"), ("宝岗社区", "Baogang", "u"), ("晓园社区", "Xiaoyuan", "u")],
    ),
    (
        "南华街道",
        "Nanhua Subdistrict",
        [("南华社区", "Nanhua", "u"), ("荔湾社区", "Liwan", "u"), ("龙凤社区", "Longfeng", "u")],
    ),
    (
        "滨江街道",
        "Binjiang Subdistrict",
        [("滨江社区", "Binjiang", "u"), ("江燕社区", "Jiangyan", "u"), ("新洲村", "Xinzhou", "v")],
    ),
    (
        "临江街道",
        "Linjiang Subdistrict",
        [("临江社区", "Linjiang", "u"), ("石牌村", "Shipai", "v"), ("棠下村", "Tangxia", "v")],
    ),
    (
        "石溪街道",
        "Shixi Subdistrict",
        [("石溪社区", "Shixi", "u"), ("潭村", "Tancun", "v"), ("猎德村", "Liede", "v")],
    ),
    (
        "东塘街道",
        "Dongtang Subdistrict",
        [("东塘社区", "Dongtang", "u"), ("车陂村", "Chebei", "v"), ("珠村", "Zhucun", "v")],
    ),
    (
        "北村街道",
        "Beicun Subdistrict",
        [("北村社区", "Beicun", "u"), ("岗头村", "Gangtou", "v"), ("元下村", "Yuanxia", "v")],
    ),
    (
        "新港街道",
        "Xingang Subdistrict",
        [
            ("新港工业园社区", "Xingang Industrial Park", "i"),
            ("东江工业园社区", "Dongjiang Industrial Park", "i"),
            ("新港村", "Xingang", "v"),
        ],
    ),
    (
        "科创街道",
        "Kechuang Subdistrict",
        [
            ("科创园社区", "Kechuang Park", "i"),
            ("光谷工业园社区", "Guanggu Industrial Park", "i"),
            ("南岗村", "Nangang", "v"),
        ],
    ),
    (
        "港湾街道",
        "Gangwan Subdistrict",
        [
            ("港湾工业园社区", "Gangwan Industrial Park", "i"),
            ("物流园社区", "Logistics Park", "i"),
            ("港湾社区", "Gangwan", "u"),
        ],
    ),
    (
        "永和街道",
        "Yonghe Subdistrict",
        [
            ("永和工业园社区", "Yonghe Industrial Park", "i"),
            ("永和社区", "Yonghe", "u"),
            ("禾丰村", "Hefeng", "r"),
        ],
    ),
    (
        "青山镇",
        "Qingshan Town",
        [
            ("青山镇区社区", "Qingshan Town", "u"),
            ("上岭村", "Shangling", "r"),
            ("竹坑村", "Zhukeng", "r"),
        ],
    ),
    (
        "石门镇",
        "Shimen Town",
        [
            ("石门镇区社区", "Shimen Town", "u"),
            ("大坪村", "Daping", "r"),
            ("横岭村", "Hengling", "r"),
        ],
    ),
    (
        "龙潭镇",
        "Longtan Town",
        [
            ("龙潭镇区社区", "Longtan Town", "u"),
            ("水口村", "Shuikou", "r"),
            ("坑背村", "Kengbei", "r"),
        ],
    ),
    (
        "清水镇",
        "Qingshui Town",
        [
            ("清水镇区社区", "Qingshui Town", "u"),
            ("高田村", "Gaotian", "r"),
            ("鹤岭村", "Heling", "r"),
        ],
    ),
]
_KIND = {"u": "urban", "v": "urban_village", "i": "industrial_park", "r": "rural"}

# City outline (lon, lat), convex and counter-clockwise: about 36 km east-west, 42 km north-south.
_OUTLINE = [
    (113.160, 22.965),
    (113.440, 22.955),
    (113.490, 23.040),
    (113.470, 23.200),
    (113.400, 23.335),
    (113.220, 23.340),
    (113.130, 23.240),
    (113.120, 23.060),
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Road-name stems; a community's roads are drawn from these (unique within the city).
_ROAD_STEMS = _words(
    "中山 解放 人民 建设 和平 东风 环市 工业 兴业 创业 科技 文明 青年 幸福 团结 振兴 友谊 光明 "
    "胜利 朝阳 新华 前进 红旗 长安 富民 迎宾 滨江 沿江 望江 江湾 荔枝 木棉 紫荆 榕树 凤凰 白鹤 "
    "金沙 银河 星光 明珠 海棠 桂花 兰亭 翠竹 松柏 丰收 田园 石岗 龙溪 凤岭 东明 西华 南兴 北环 "
    "广源 恒福 瑞祥 安康 康乐 和顺 永安 宝华 锦绣 丹桂 芙蓉 云台 天河 龙口 马场 盈丰 百合 玉兰 "
    "启明 聚贤 思源 同德 怡景 宏图 远航 东升 华康 景秀 新村 泰和 春晖 晓港 怡乐 金穗 碧桂 "
    "翠湖 鹭江 南浦 长兴 汇景 德政 文德 惠福 大新 光塔 海珠 宝业 高新 物华 民乐 仁和 福宁 清平 "
    "花园 育才 学府 望岗 新塘 沙河 龙华 金源 华景 东园"
)
_CN_NUMBERS = "一二三四五六七八九十"


@dataclass(frozen=True)
class Region:
    """One administrative unit (province, city, district, street or community)."""

    code: str
    name: str
    name_en: str
    level: str
    parent_code: str
    kind: str
    lat: float
    lon: float


@dataclass
class Geography:
    """The whole map: regions in code order, district polygons and each community's roads."""

    regions: list[Region]
    district_polygons: dict[str, list[tuple[float, float]]]
    roads: list[tuple[int, str]] = field(default_factory=list)
    """(community index, road name); roads of a community are contiguous."""

    @property
    def districts(self) -> list[Region]:
        """The districts, in code order."""
        return [r for r in self.regions if r.level == "district"]

    @property
    def streets(self) -> list[Region]:
        """The streets, in code order."""
        return [r for r in self.regions if r.level == "street"]

    @property
    def communities(self) -> list[Region]:
        """The communities, in code order."""
        return [r for r in self.regions if r.level == "community"]


def _clip(polygon: list[tuple[float, float]], a: np.ndarray, b: float) -> list[tuple[float, float]]:
    """Keep the part of a convex polygon where ``a · p <= b`` (Sutherland-Hodgman, one edge)."""
    out: list[tuple[float, float]] = []
    for i, p in enumerate(polygon):
        q = polygon[(i + 1) % len(polygon)]
        fp, fq = float(a @ p) - b, float(a @ q) - b
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def _voronoi_cells(seeds: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Voronoi cells of the seeds inside the city outline: contiguous, non-overlapping, convex."""
    cells = []
    for i, si in enumerate(seeds):
        cell = list(_OUTLINE)
        for j, sj in enumerate(seeds):
            if i == j:
                continue
            normal = np.subtract(sj, si)
            mid = (np.add(si, sj)) / 2
            cell = _clip(cell, normal, float(normal @ mid))
        cells.append([(round(x, 6), round(y, 6)) for x, y in cell])
    # Neighbouring cells compute their shared corners separately; snap near-equal corners to one
    # value so the published polygons share edges exactly (no slivers, no overlaps).
    canonical: list[tuple[float, float]] = []
    snapped = []
    for cell in cells:
        ring: list[tuple[float, float]] = []
        for x, y in cell:
            match = next((c for c in canonical if abs(c[0] - x) + abs(c[1] - y) < 1e-5), None)
            if match is None:
                canonical.append((x, y))
                match = (x, y)
            if not ring or ring[-1] != match:
                ring.append(match)
        snapped.append(ring)
    return snapped


def _inside_margin(point: np.ndarray, cell: list[tuple[float, float]]) -> float:
    """Signed distance (degrees) from a point to the nearest edge of a CCW convex polygon."""
    best = np.inf
    for i, p in enumerate(cell):
        q = cell[(i + 1) % len(cell)]
        edge = np.subtract(q, p)
        # For a counter-clockwise ring the interior lies to the left of every edge.
        cross = edge[0] * (point[1] - p[1]) - edge[1] * (point[0] - p[0])
        best = min(best, cross / np.hypot(*edge))
    return float(best)


def _sample_in(
    rng: np.random.Generator,
    cell: list[tuple[float, float]],
    centre: np.ndarray,
    radius: float,
    margin: float,
) -> np.ndarray:
    """A random point within ``radius`` of ``centre`` that lies ``margin`` inside the cell."""
    for _ in range(10_000):
        point = centre + rng.uniform(-radius, radius, size=2)
        if _inside_margin(point, cell) >= margin:
            return point
    raise RuntimeError("could not place a point inside its district")


def build_geography() -> Geography:
    """Build the fixed map of 江城市; a constant seed keeps it identical for every city seed."""
    rng = np.random.Generator(np.random.PCG64(449900))
    cells = _voronoi_cells([d[3] for d in _DISTRICTS])
    centre_lat, centre_lon = 23.13, 113.30
    regions = [
        Region(*PROVINCE, "province", "", "", 23.13, 113.27),
        Region(*CITY, "city", PROVINCE[0], "", centre_lat, centre_lon),
    ]
    streets: list[Region] = []
    communities: list[Region] = []
    polygons: dict[str, list[tuple[float, float]]] = {}
    for d_index, (d_code, d_name, d_en, seed) in enumerate(_DISTRICTS):
        cell = cells[d_index]
        polygons[d_code] = cell
        regions.append(Region(d_code, d_name, d_en, "district", CITY[0], "", seed[1], seed[0]))
        for s_index in range(4):
            s_name, s_en, comms = _STREETS[d_index * 4 + s_index]
            s_code = f"{d_code}{s_index + 1:03d}"
            centroid = np.mean(np.array(cell), axis=0)
            s_point = _sample_in(rng, cell, centroid, 0.06, 0.012)
            streets.append(
                Region(
                    s_code,
                    s_name,
                    s_en,
                    "street",
                    d_code,
                    "",
                    round(float(s_point[1]), 6),
                    round(float(s_point[0]), 6),
                )
            )
            for c_index, (c_name, c_stem, kind) in enumerate(comms):
                c_code = f"{s_code}{c_index + 1:03d}"
                point = _sample_in(rng, cell, s_point, 0.018, 0.004)
                suffix = "Village" if c_name.endswith("村") else "Community"
                if c_stem.endswith(("Park", "Town")):
                    suffix = "Community"
                communities.append(
                    Region(
                        c_code,
                        c_name,
                        f"{c_stem} {suffix}",
                        "community",
                        s_code,
                        _KIND[kind],
                        round(float(point[1]), 6),
                        round(float(point[0]), 6),
                    )
                )
    # Listed level by level (province, city, districts, streets, communities), each in code order.
    geography = Geography(regions=regions + streets + communities, district_polygons=polygons)
    geography.roads = _roads(rng, geography.communities)
    return geography


def _roads(rng: np.random.Generator, communities: list[Region]) -> list[tuple[int, str]]:
    """Roads per community: named roads, lanes (巷) in urban villages, groups (组) in villages."""
    stems = list(_ROAD_STEMS)
    rng.shuffle(stems)
    roads: list[tuple[int, str]] = []
    cursor = 0
    for index, community in enumerate(communities):
        if community.kind == "rural":
            roads += [(index, f"{_CN_NUMBERS[k]}组") for k in range(6)]
        elif community.kind == "urban_village":
            roads += [(index, f"{side}{_CN_NUMBERS[k]}巷") for side in "东西" for k in range(3)]
        else:
            suffixes = (
                ("路", "大道", "街") if community.kind == "urban" else ("路", "工业路", "大道")
            )
            for suffix in suffixes:
                roads.append((index, f"{stems[cursor % len(stems)]}{suffix}"))
                cursor += 1
    return roads


def point_in_polygon(lon: float, lat: float, ring: list[tuple[float, float]]) -> bool:
    """Ray-casting point-in-polygon test (ring as (lon, lat) pairs, closed or not)."""
    inside = False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % n]
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x_cross:
                inside = not inside
    return inside


def districts_geojson(geography: Geography) -> str:
    """The district map as a GeoJSON FeatureCollection (RFC 7946: CCW rings, [lon, lat])."""
    features = []
    for district in geography.districts:
        ring = [list(p) for p in geography.district_polygons[district.code]]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": district.code,
                    "name": district.name,
                    "name_en": district.name_en,
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return (
        json.dumps(
            {"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1
        )
        + "\n"
    )
