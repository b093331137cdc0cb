"""Residents and households of the synthetic city: the truth every extract is drawn from.

Households are built from templates (an elderly couple, a migrant worker living alone, a
three-generation family …) so that ages, surnames, addresses and phones inside one home are
consistent. Everything is held as numpy arrays, one element per resident, and generated with
array operations; the only Python loops run over templates, groups and occupations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carematch.synth import names
from carematch.synth.dates import AS_OF_D, add_duration, age_in_years, components
from carematch.synth.idcard import id_digit_matrix
from carematch.synth.regions import COMMUNITY_KINDS, Geography
from carematch.synth.sampling import choose_by_group, group_first, quota

MIGRANT_SHARE = 0.35
"""Share of residents who are migrants (流动人口)."""

OCCUPATIONS = (
    "construction",
    "manufacturing",
    "delivery",
    "ride_hailing",
    "food_service",
    "domestic",
    "agriculture",
    "office",
    "student",
    "child",
    "retired",
    "unemployed",
    "other",
)
OCC = {name: i for i, name in enumerate(OCCUPATIONS)}
WORKING = np.array([OCC[o] for o in OCCUPATIONS[:8]] + [OCC["other"]])
"""Occupations that earn a wage (everything except student, child, retired, unemployed)."""

INSURANCE_TYPES = ("none", "employee", "resident")
HOUSEHOLD_STATUSES = (
    "general",
    "extreme_hardship",
    "min_allowance",
    "lifted",
    "monitored",
    "marginal",
)
LANGUAGES = ("zh", "yue", "ug", "bo", "en")

# Origin provinces of migrants: code, name, weight, real county-level division codes used as the
# first six digits of their ID numbers. Guangdong (44) means other cities of this province.
ORIGINS: tuple[tuple[str, str, float, tuple[int, ...]], ...] = (
    ("44", "广东省", 0.22, (441502, 445202, 440823, 441481, 441322)),
    ("43", "湖南省", 0.17, (430102, 430421, 430524, 431223, 430681)),
    ("45", "广西壮族自治区", 0.13, (450102, 450881, 450921, 450330, 450521)),
    ("36", "江西省", 0.08, (360102, 360730, 361025, 360421)),
    ("51", "四川省", 0.08, (510104, 511302, 511621, 510623)),
    ("42", "湖北省", 0.07, (420102, 421182, 420984, 421126)),
    ("52", "贵州省", 0.06, (520102, 520324, 522601, 520221)),
    ("41", "河南省", 0.06, (410102, 411723, 411521, 411302)),
    ("50", "重庆市", 0.03, (500101, 500230, 500235)),
    ("35", "福建省", 0.02, (350102, 350521, 350628)),
    ("34", "安徽省", 0.02, (340102, 341221, 340824)),
    ("53", "云南省", 0.02, (530102, 532301, 530321)),
    ("61", "陕西省", 0.01, (610102, 610124)),
    ("46", "海南省", 0.01, (460105, 469001)),
    ("65", "新疆维吾尔自治区", 0.01, (650102, 652901)),
    ("54", "西藏自治区", 0.005, (540102, 540221)),
)
PROVINCE_NAMES = {code: name for code, name, _, _ in ORIGINS}

# Household roles.
HEAD, SPOUSE, CHILD, GRANDPARENT, ELDER, ELDER_SPOUSE = range(6)
ROLE_NAMES = ("head", "spouse", "child", "grandparent", "elder", "elder_spouse")

# Household templates: (name, weight, roles, head age range). Migrant templates favour single
# working-age adults and young families; local ones include elderly and three-generation homes.
_LOCAL_TEMPLATES = (
    ("elder_alone", 0.09, (ELDER,), (65, 95)),
    ("elder_couple", 0.12, (ELDER, ELDER_SPOUSE), (60, 90)),
    ("single", 0.12, (HEAD,), (20, 59)),
    ("couple", 0.16, (HEAD, SPOUSE), (23, 59)),
    ("family_1", 0.20, (HEAD, SPOUSE, CHILD), (24, 55)),
    ("family_2", 0.09, (HEAD, SPOUSE, CHILD, CHILD), (27, 52)),
    ("three_gen_1", 0.10, (HEAD, SPOUSE, CHILD, GRANDPARENT), (26, 50)),
    ("three_gen_2", 0.07, (HEAD, SPOUSE, CHILD, GRANDPARENT, GRANDPARENT), (26, 50)),
    ("three_gen_3", 0.03, (HEAD, SPOUSE, CHILD, CHILD, GRANDPARENT, GRANDPARENT), (28, 48)),
)
_MIGRANT_TEMPLATES = (
    ("single", 0.40, (HEAD,), (18, 55)),
    ("couple", 0.20, (HEAD, SPOUSE), (20, 58)),
    ("family_1", 0.20, (HEAD, SPOUSE, CHILD), (22, 48)),
    ("family_2", 0.11, (HEAD, SPOUSE, CHILD, CHILD), (25, 48)),
    ("three_gen_1", 0.05, (HEAD, SPOUSE, CHILD, GRANDPARENT), (24, 45)),
    ("elder_alone", 0.04, (ELDER,), (60, 78)),
)

# Where households live, by community kind (urban, urban_village, industrial_park, rural).
_KIND_WEIGHT_LOCAL = np.array([1.0, 0.9, 0.25, 0.55])
_KIND_WEIGHT_MIGRANT = np.array([0.35, 1.6, 2.4, 0.12])

# Working-age occupation mix over OCCUPATIONS[:8] + unemployed + other, by hukou and sex.
_WORK_COLUMNS = np.array([*range(8), OCC["unemployed"], OCC["other"]])
_WORK_MIX = {
    ("migrant", "M"): [0.26, 0.27, 0.13, 0.07, 0.07, 0.00, 0.02, 0.07, 0.04, 0.07],
    ("migrant", "F"): [0.03, 0.33, 0.02, 0.01, 0.20, 0.14, 0.02, 0.12, 0.05, 0.08],
    ("local", "M"): [0.06, 0.12, 0.03, 0.04, 0.05, 0.01, 0.01, 0.48, 0.05, 0.15],
    ("local", "F"): [0.01, 0.10, 0.01, 0.00, 0.07, 0.03, 0.01, 0.52, 0.08, 0.17],
}
# Industrial parks are factory towns; villages farm.
_KIND_OCC_BOOST = {2: (OCC["manufacturing"], 2.2), 3: (OCC["agriculture"], 12.0)}

# Typical yearly wage (yuan) per occupation, for household income.
_WAGE = np.array([75e3, 65e3, 80e3, 70e3, 50e3, 55e3, 25e3, 95e3, 0, 0, 0, 0, 55e3])

# Employer name patterns per occupation ({p} = a trade name).
_EMPLOYER_PATTERNS = {
    "construction": ("{p}建筑工程有限公司", "{p}建设集团江城项目部", "{p}装饰工程有限公司"),
    "manufacturing": ("{p}电子有限公司", "{p}精密制造有限公司", "{p}服装厂", "{p}五金塑胶制品厂"),
    "delivery": ("{p}外卖配送站", "{p}快递江城分部", "{p}同城配送服务部"),
    "ride_hailing": ("{p}出行科技有限公司", "{p}网约车服务有限公司"),
    "food_service": ("{p}餐饮管理有限公司", "{p}酒家", "{p}快餐店"),
    "domestic": ("{p}家政服务有限公司", "{p}月嫂中心"),
    "agriculture": ("{p}农业专业合作社", "{p}果蔬种植场"),
    "office": ("江城{p}科技有限公司", "{p}贸易有限公司", "{p}会计师事务所", "江城{p}文化传媒公司"),
    "other": ("{p}物业管理有限公司", "{p}商贸行", "{p}汽车维修中心", "{p}保安服务公司"),
}
_TRADE_NAMES = [
    "华盛",
    "永泰",
    "宏达",
    "鑫源",
    "粤海",
    "恒信",
    "联创",
    "顺通",
    "安达",
    "金鹏",
    "丰和",
    "众诚",
    "嘉禾",
    "德信",
    "新纪元",
    "天成",
    "瑞丰",
    "长盛",
    "汇通",
    "宝利",
    "华南",
    "创新",
    "利民",
    "鸿运",
    "昌盛",
    "佳美",
    "东方",
    "南粤",
    "百盛",
    "和兴",
    "万通",
    "兴隆",
    "富达",
    "美景",
    "信达",
    "通达",
    "锦华",
    "海天",
    "大成",
    "同心",
    "立信",
    "中联",
    "光华",
    "卓越",
    "隆发",
    "盛世",
    "远大",
    "福星",
    "祥和",
    "腾飞",
]


@dataclass
class Population:
    """Every resident (one array element each) and every household of the city."""

    n: int
    # Households.
    hh_community: np.ndarray
    hh_migrant: np.ndarray
    hh_template: np.ndarray
    hh_size: np.ndarray
    hh_start: np.ndarray
    # Residents (aligned arrays).
    household: np.ndarray
    role: np.ndarray
    male: np.ndarray
    birth: np.ndarray
    age: np.ndarray
    migrant: np.ndarray
    community: np.ndarray
    surname: np.ndarray
    given1: np.ndarray
    given2: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_households(self) -> int:
        """Number of households."""
        return len(self.hh_community)

    def __getattr__(self, name: str) -> np.ndarray:
        # Later stages attach arrays (occupation, phone, …) through ``extra``.
        try:
            return self.__dict__["extra"][name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def put(self, **arrays: np.ndarray) -> None:
        """Attach more per-resident or per-household arrays computed by later stages."""
        self.extra.update(arrays)


def _templates(spec: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    weights = np.array([t[1] for t in spec])
    sizes = np.array([len(t[2]) for t in spec])
    roles = np.full((len(spec), 6), -1, dtype=np.int64)
    for i, t in enumerate(spec):
        roles[i, : len(t[2])] = t[2]
    ages = np.array([t[3] for t in spec])
    return weights / weights.sum(), sizes, roles, ages


def _draw_households(
    rng: np.random.Generator, spec: tuple, persons: int
) -> tuple[np.ndarray, np.ndarray]:
    """Templates and sizes of enough households to hold exactly ``persons`` people.

    The last household is cut short when needed (a family of four becomes a couple), which
    keeps the resident count exact without bending the template mix.
    """
    weights, sizes, _, _ = _templates(spec)
    if persons == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    mean = float(weights @ sizes)
    n = int(persons / mean * 1.15) + 20
    template = rng.choice(len(spec), size=n, p=weights)
    size = sizes[template]
    total = np.cumsum(size)
    while total[-1] < persons:  # pragma: no cover - the margin above makes this unreachable
        more = rng.choice(len(spec), size=n, p=weights)
        template = np.concatenate([template, more])
        size = sizes[template]
        total = np.cumsum(size)
    last = int(np.searchsorted(total, persons))
    template, size = template[: last + 1], size[: last + 1].copy()
    size[-1] -= int(total[last] - persons)
    return template, size


def build_population(rng: np.random.Generator, geo: Geography, residents: int) -> Population:
    """Draw households and residents: ages, sex, names, hukou and where they live."""
    communities = geo.communities
    kind = np.array([COMMUNITY_KINDS.index(c.kind) for c in communities])
    size_factor = rng.uniform(0.6, 1.4, size=len(communities))

    n_migrant = round(MIGRANT_SHARE * residents)
    parts = []
    for is_migrant, spec, kind_weight, count in (
        (True, _MIGRANT_TEMPLATES, _KIND_WEIGHT_MIGRANT, n_migrant),
        (False, _LOCAL_TEMPLATES, _KIND_WEIGHT_LOCAL, residents - n_migrant),
    ):
        template, size = _draw_households(rng, spec, count)
        w = kind_weight[kind] * size_factor
        community = rng.choice(len(communities), size=len(template), p=w / w.sum())
        parts.append((is_migrant, spec, template, size, community))

    hh_migrant = np.concatenate([np.full(len(p[2]), p[0]) for p in parts])
    # Template ids are offset so local and migrant templates never collide.
    hh_template = np.concatenate([parts[0][2], parts[1][2] + len(_MIGRANT_TEMPLATES)])
    hh_size = np.concatenate([parts[0][3], parts[1][3]])
    hh_community = np.concatenate([parts[0][4], parts[1][4]])
    spec_all = _MIGRANT_TEMPLATES + _LOCAL_TEMPLATES
    _, _, role_table, age_table = _templates(spec_all)

    # Shuffle households so migrants and locals interleave in the city's person numbering.
    order = rng.permutation(len(hh_template))
    hh_migrant, hh_template = hh_migrant[order], hh_template[order]
    hh_size, hh_community = hh_size[order], hh_community[order]
    hh_start = np.concatenate([[0], np.cumsum(hh_size)[:-1]]).astype(np.int64)

    household = np.repeat(np.arange(len(hh_size)), hh_size)
    position = np.arange(residents) - hh_start[household]
    role = role_table[hh_template[household], position]
    migrant = hh_migrant[household]

    # Ages: each household has a head age; other members follow from it.
    lo, hi = age_table[hh_template, 0], age_table[hh_template, 1]
    base = lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)
    head_age = base[household]
    age = head_age.copy()
    spouse = (role == SPOUSE) | (role == ELDER_SPOUSE)
    age[spouse] = np.clip(head_age[spouse] + np.round(rng.normal(-2, 3, spouse.sum())), 18, 100)
    child = role == CHILD
    cap = np.where(migrant, 17, 22)[child]
    top = np.minimum(cap, head_age[child] - 20)
    # Migrant families more often leave school-age children at home (留守儿童): skew younger.
    u = rng.random(child.sum()) ** np.where(migrant[child], 1.35, 1.0)
    age[child] = np.floor(u * (top + 1)).astype(np.int64)
    grand = role == GRANDPARENT
    age[grand] = np.minimum(head_age[grand] + rng.integers(24, 35, grand.sum()), 100)

    # Sex: heads of couples are mostly men; elderly living alone are mostly widows.
    template_name = np.array([t[0] for t in spec_all])[hh_template[household]]
    p_male = np.full(residents, 0.5)
    p_male[role == HEAD] = np.where(template_name[role == HEAD] == "single", 0.52, 0.9)
    p_male[(role == HEAD) & migrant & (template_name == "single")] = 0.62
    p_male[role == ELDER] = np.where(template_name[role == ELDER] == "elder_alone", 0.35, 0.9)
    p_male[child] = 0.53
    p_male[grand] = 0.45
    male = rng.random(residents) < p_male
    head_male = male[hh_start]
    male[spouse] = ~head_male[household[spouse]]

    # Birth dates: exactly ``age`` whole years on AS_OF, any day within that year of life.
    anniversary = add_duration(np.full(residents, AS_OF_D), years=-age)
    birth = anniversary - rng.integers(0, 365, residents)
    age = age_in_years(birth)

    # Surnames: the family name passes to men and children; wives keep their own (as in China).
    local_hh = ~hh_migrant
    family = np.where(
        local_hh,
        names.draw_surnames(rng, len(hh_size), local=True),
        names.draw_surnames(rng, len(hh_size), local=False),
    )
    own = np.where(
        migrant,
        names.draw_surnames(rng, residents, local=False),
        names.draw_surnames(rng, residents, local=True),
    )
    takes_family = male | child
    surname = np.where(takes_family, family[household], own)
    year, _, _ = components(birth)
    given1, given2 = names.draw_given(rng, np.where(male, "M", "F"), year)

    return Population(
        n=residents,
        hh_community=hh_community,
        hh_migrant=hh_migrant,
        hh_template=hh_template,
        hh_size=hh_size,
        hh_start=hh_start,
        household=household,
        role=role,
        male=male,
        birth=birth,
        age=age,
        migrant=migrant,
        community=hh_community[household],
        surname=surname,
        given1=given1,
        given2=given2,
    )


def add_namesakes(rng: np.random.Generator, pop: Population, share: float = 0.001) -> np.ndarray:
    """Make some pairs of unrelated adults share name and birth date (hard negatives).

    Linkage must not merge two people just because 王伟, born 1985-03-02, appears twice.

    Returns:
        (pairs, 2) indices of the people who now share a name and birth date.
    """
    adults = np.flatnonzero(pop.age >= 20)
    if adults.size < 4:
        return np.empty((0, 2), dtype=np.int64)
    order = adults[np.lexsort((pop.age[adults], pop.male[adults]))]
    pairs = max(2, round(share * pop.n))
    first = rng.choice(order.size - 1, size=min(pairs * 2, order.size - 1), replace=False)
    a, b = order[first], order[first + 1]
    ok = (pop.male[a] == pop.male[b]) & (pop.household[a] != pop.household[b])
    # Drop overlapping picks so nobody is in two pairs.
    a, b = a[ok], b[ok]
    used = np.zeros(pop.n, dtype=bool)
    chosen = []
    for x, y in zip(a.tolist(), b.tolist(), strict=True):  # at most ~0.2 % of residents
        if not used[x] and not used[y]:
            used[x] = used[y] = True
            chosen.append((x, y))
        if len(chosen) == pairs:
            break
    pairs_arr = np.array(chosen, dtype=np.int64).reshape(-1, 2)
    a, b = pairs_arr[:, 0], pairs_arr[:, 1]
    pop.surname[b], pop.given1[b], pop.given2[b] = pop.surname[a], pop.given1[a], pop.given2[a]
    pop.birth[b] = pop.birth[a]
    pop.age[b] = pop.age[a]
    return pairs_arr


def assign_origin_and_ids(rng: np.random.Generator, pop: Population, geo: Geography) -> None:
    """Origin province, ID-number area code and a unique, valid ID number for every resident."""
    district_codes = np.array([int(c.code[:6]) for c in geo.communities])
    weights = np.array([o[2] for o in ORIGINS])
    hh_origin = rng.choice(len(ORIGINS), size=pop.n_households, p=weights / weights.sum())
    origin = np.where(pop.migrant, hh_origin[pop.household], -1)
    area = district_codes[pop.community].copy()
    for i, (_, _, _, codes) in enumerate(ORIGINS):
        rows = np.flatnonzero(origin == i)
        # Spouses may come from another county of the same province.
        area[rows] = np.array(codes)[rng.integers(0, len(codes), rows.size)]
    hh_area = area[pop.hh_start]
    same_county = pop.migrant & (rng.random(pop.n) < 0.6)
    area = np.where(same_county, hh_area[pop.household], area)

    # Sequence numbers must be unique within (area, birth date, sex): rank inside each group.
    days = pop.birth.astype(np.int64)
    sex_bit = pop.male.astype(np.int64)
    order = np.lexsort((rng.random(pop.n), sex_bit, days, area))
    key = (area[order] * 100_000 + days[order]) * 2 + sex_bit[order]
    starts = group_first(key)
    run = np.zeros(pop.n, dtype=np.int64)
    run[starts] = 1
    group_id = np.cumsum(run) - 1
    rank = np.arange(pop.n) - starts[group_id]
    offset = rng.integers(0, 480, size=starts.size)
    seq_sorted = 2 * ((offset[group_id] + rank) % 500) + np.where(sex_bit[order] == 1, 1, 0)
    sequence = np.empty(pop.n, dtype=np.int64)
    sequence[order] = seq_sorted
    # Sequence 000 is never issued; its group would be a woman with offset 0, so move it.
    sequence = np.where(sequence == 0, 998, sequence)
    pop.put(
        origin=origin,
        id_area=area,
        id_chars=id_digit_matrix(area, pop.birth, sequence),
    )


def assign_migration(rng: np.random.Generator, pop: Population) -> None:
    """Arrival dates, moves in the last 12 months, police registration and residence permits."""
    h = pop.n_households
    head_age = pop.age[pop.hh_start]
    years_here = np.select(
        [rng.random(h) < 0.25, rng.random(h) < 0.47],
        [rng.uniform(0, 1, h), rng.uniform(1, 5, h)],
        rng.uniform(5, 20, h),
    )
    # Nobody arrived as a migrant worker before 16.
    years_here = np.minimum(years_here, np.maximum(head_age - 16, 0.1))
    hh_arrival = AS_OF_D - (years_here * 365.25).astype(np.int64)
    arrival = np.maximum(hh_arrival[pop.household], pop.birth)
    arrival = np.where(pop.migrant, arrival, np.datetime64("NaT"))

    hh_moves = np.where(
        pop.hh_migrant,
        choose_by_group(rng, np.zeros(h, dtype=np.int64), np.array([[0.55, 0.30, 0.10, 0.05]])),
        choose_by_group(rng, np.zeros(h, dtype=np.int64), np.array([[0.94, 0.055, 0.005, 0.0]])),
    )
    moves = hh_moves[pop.household]

    # About 10 % of migrants never registered with the police, more often recent arrivals.
    migrants = np.flatnonzero(pop.migrant)
    months_here = (AS_OF_D - arrival[migrants]).astype(np.int64) / 30.44
    unregistered = quota(rng, migrants, 0.10, weights=np.where(months_here < 6, 4.0, 1.0))
    registered = np.ones(pop.n, dtype=bool)
    registered[unregistered] = False
    months = np.where(pop.migrant, (AS_OF_D - arrival).astype(np.int64) / 30.44, 0)
    permit = pop.migrant & registered & (months >= 6) & (rng.random(pop.n) < 0.65)
    pop.put(
        arrival=arrival,
        moves_12m=moves,
        hh_moves=hh_moves,
        police_registered=registered,
        has_residence_permit=permit,
    )


def assign_occupations(rng: np.random.Generator, pop: Population, geo: Geography) -> None:
    """Occupation consistent with age, sex, hukou and the kind of community lived in."""
    kind = np.array([COMMUNITY_KINDS.index(c.kind) for c in geo.communities])[pop.community]
    occ = np.full(pop.n, OCC["other"], dtype=np.int64)
    age, mig = pop.age, pop.migrant
    occ[age <= 5] = OCC["child"]
    occ[(age >= 6) & (age <= 17)] = OCC["student"]
    retire_age = np.where(pop.male, 60, 55)
    working = (age >= 16) & (age < retire_age)
    for hukou in ("migrant", "local"):
        for sex in ("M", "F"):
            for k in range(len(COMMUNITY_KINDS)):
                rows = np.flatnonzero(
                    working
                    & (mig == (hukou == "migrant"))
                    & (pop.male == (sex == "M"))
                    & (kind == k)
                )
                if rows.size == 0:
                    continue
                mix = np.array(_WORK_MIX[(hukou, sex)], dtype=np.float64)
                if k in _KIND_OCC_BOOST:
                    column, factor = _KIND_OCC_BOOST[k]
                    mix[np.flatnonzero(column == _WORK_COLUMNS)] *= factor
                occ[rows] = choose_by_group(
                    rng, np.zeros(rows.size, dtype=np.int64), mix[None, :], _WORK_COLUMNS
                )
    # Most local teenagers stay at school; some migrant teenagers already work.
    teen = (age >= 16) & (age <= 22)
    school = np.where(mig, np.where(age <= 17, 0.75, 0.10), np.where(age <= 17, 0.97, 0.60))
    occ[teen & (rng.random(pop.n) < school)] = OCC["student"]
    occ[(age >= 6) & (age <= 15)] = OCC["student"]
    old = age >= retire_age
    rural = kind == 3
    u = rng.random(pop.n)
    local_old = np.select(
        [rural & (u < 0.40), u < 0.88, u < 0.95],
        [OCC["agriculture"], OCC["retired"], OCC["other"]],
        OCC["unemployed"],
    )
    migrant_old = np.select(
        [u < 0.50, u < 0.62, u < 0.75, u < 0.82],
        [OCC["retired"], OCC["domestic"], OCC["other"], OCC["food_service"]],
        OCC["unemployed"],
    )
    occ[old] = np.where(mig[old], migrant_old[old], local_old[old])
    pop.put(occupation=occ, community_kind=kind)


def assign_employers(
    rng: np.random.Generator, pop: Population, geo: Geography
) -> list[tuple[str, str, int]]:
    """Employers (name, occupation, community index) and each worker's employer (-1 if none)."""
    employer = np.full(pop.n, -1, dtype=np.int64)
    table: list[tuple[str, str, int]] = []
    used: set[str] = set()
    kind = np.array([COMMUNITY_KINDS.index(c.kind) for c in geo.communities])
    for occupation, patterns in _EMPLOYER_PATTERNS.items():
        code = OCC[occupation]
        workers = np.flatnonzero(pop.occupation == code)
        # Gig and domestic work is often informal: no employer on record.
        formal = {"domestic": 0.35, "other": 0.6, "agriculture": 0.3}.get(occupation, 0.95)
        workers = workers[rng.random(workers.size) < formal]
        if workers.size == 0:
            continue
        count = max(3, workers.size // 150)
        where = np.flatnonzero(kind == 2) if occupation == "manufacturing" else np.arange(len(kind))
        first = len(table)
        for j in range(count):
            trade = _TRADE_NAMES[int(rng.integers(len(_TRADE_NAMES)))]
            name = patterns[int(rng.integers(len(patterns)))].format(p=trade)
            while name in used:
                name = name.replace("有限公司", "") + f"第{len(used) % 97 + 2}分公司"
            used.add(name)
            table.append((name, occupation, int(where[int(rng.integers(where.size))])))
            del j
        employer[workers] = first + rng.integers(0, count, workers.size)
    pop.put(employer=employer)
    return table


def assign_phones(rng: np.random.Generator, pop: Population) -> None:
    """Own mobiles, the household's shared number, and earlier numbers that people changed."""
    has_own = np.ones(pop.n, dtype=bool)
    has_own[pop.age < 12] = False
    has_own[(pop.age >= 12) & (pop.age < 18)] = (
        rng.random(((pop.age >= 12) & (pop.age < 18)).sum()) < 0.6
    )
    old = pop.age >= 70
    has_own[old] = rng.random(old.sum()) < 0.65
    # Every household head can be reached by phone.
    has_own[pop.hh_start] = True
    own = _unique_mobiles(rng, 2 * pop.n)
    mobile, previous = own[: pop.n], own[pop.n :]
    mobile = np.where(has_own, mobile, 0)
    hh_phone = mobile[pop.hh_start]
    phone = np.where(has_own, mobile, hh_phone[pop.household])
    changed = has_own & (rng.random(pop.n) < np.where(pop.migrant, 0.30, 0.10))
    old_phone = np.where(changed, previous, 0)
    pop.put(phone=phone, own_phone=has_own, old_phone=old_phone, household_phone=hh_phone)


_MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        155,
        156,
        157,
        158,
        159,
        166,
        176,
        177,
        180,
        181,
        182,
        183,
        185,
        186,
        187,
        188,
        189,
        198,
        199,
    ]
)


def _unique_mobiles(rng: np.random.Generator, count: int) -> np.ndarray:
    """Distinct 11-digit mainland mobile numbers (collisions redrawn: nobody shares by chance)."""
    numbers = _MOBILE_PREFIXES[
        rng.integers(0, _MOBILE_PREFIXES.size, count)
    ] * 10**8 + rng.integers(0, 10**8, count)
    while True:
        _, first = np.unique(numbers, return_index=True)
        dup = np.ones(count, dtype=bool)
        dup[first] = False
        if not dup.any():
            return numbers
        k = int(dup.sum())
        numbers[dup] = _MOBILE_PREFIXES[
            rng.integers(0, _MOBILE_PREFIXES.size, k)
        ] * 10**8 + rng.integers(0, 10**8, k)


def assign_addresses(rng: np.random.Generator, pop: Population, geo: Geography) -> None:
    """Street address parts per household, a home point, and the previous address of movers."""
    roads = np.array([c for c, _ in geo.roads])
    road_start = group_first(roads)
    road_count = np.diff(np.concatenate([road_start, [roads.size]]))
    h = pop.n_households

    def draw(community: np.ndarray) -> dict[str, np.ndarray]:
        road = road_start[community] + np.floor(rng.random(h) * road_count[community]).astype(
            np.int64
        )
        return {
            "community": community,
            "road": road,
            "number": rng.integers(1, 200, h),
            "building": rng.integers(1, 30, h),
            "room": rng.integers(1, 33, h) * 100 + rng.integers(1, 9, h),
        }

    current = draw(pop.hh_community)
    # Movers came from elsewhere in the city, mostly the same district.
    n_comm = len(geo.communities)
    same_district = rng.random(h) < 0.6
    other = rng.integers(0, n_comm, h)
    nearby = pop.hh_community - (pop.hh_community % 12) + rng.integers(0, 12, h)
    previous_comm = np.where(same_district, np.minimum(nearby, n_comm - 1), other)
    previous = draw(previous_comm)
    lat = np.array([c.lat for c in geo.communities])[pop.hh_community] + rng.normal(0, 0.004, h)
    lon = np.array([c.lon for c in geo.communities])[pop.hh_community] + rng.normal(0, 0.004, h)
    pop.put(
        **{f"addr_{k}": v for k, v in current.items()},
        **{f"prev_{k}": v for k, v in previous.items()},
        hh_lat=np.round(lat, 5),
        hh_lon=np.round(lon, 5),
    )


def assign_insurance(rng: np.random.Generator, pop: Population) -> None:
    """Medical insurance type and whether it is held in this city (else 异地就医 when used)."""
    occ = pop.occupation
    p_employee_local = np.array([0.5, 0.8, 0.3, 0.3, 0.6, 0.3, 0.1, 0.92, 0, 0, 0.7, 0.0, 0.6])
    p_employee_migrant = np.array([0.25, 0.7, 0.2, 0.15, 0.4, 0.15, 0.0, 0.8, 0, 0, 0.1, 0.0, 0.35])
    p_employee = np.where(pop.migrant, p_employee_migrant[occ], p_employee_local[occ])
    u = rng.random(pop.n)
    employee = u < p_employee
    v = rng.random(pop.n)
    insurance = np.where(employee, 1, 2)
    # Locals are nearly all covered; migrants without a job-based scheme keep the resident
    # scheme of their home county (so their claims here are cross-region), or have none.
    none = np.where(pop.migrant, v < 0.10, v < 0.02) & ~employee
    insurance[none] = 0
    insured_locally = np.where(
        pop.migrant, employee | ((insurance == 2) & (rng.random(pop.n) < 0.2)), insurance > 0
    )
    insured_locally &= insurance > 0
    pop.put(insurance=insurance, insured_locally=insured_locally)


def assign_household_status(rng: np.random.Generator, pop: Population, risk: np.ndarray) -> None:
    """Poverty-registry status per household (特困, 低保, 脱贫户, 监测户, 边缘易致贫) and income.

    Args:
        rng: stage generator.
        pop: the population (occupation already assigned).
        risk: per-household weight (illness, disability, old age, villages) for being poor.
    """
    h = pop.n_households
    status = np.zeros(h, dtype=np.int64)
    shares = {
        False: (0.004, 0.020, 0.015, 0.010, 0.012),
        True: (0.0, 0.003, 0.040, 0.015, 0.020),
    }
    for migrant, values in shares.items():
        pool = np.flatnonzero(pop.hh_migrant == migrant)
        for code, share in enumerate(values, start=1):
            free = pool[status[pool] == 0]
            count = round(share * pool.size)
            chosen = quota(rng, free, 0.0, weights=risk[free], count=count)
            status[chosen] = code
    wage = _WAGE[pop.occupation] * rng.lognormal(0, 0.35, pop.n)
    pension = np.where(pop.occupation == OCC["retired"], np.where(pop.migrant, 15e3, 42e3), 0)
    income = np.bincount(pop.household, weights=wage + pension, minlength=h)
    low = np.array([0, 5e3, 9e3, 30e3, 20e3, 25e3])
    high = np.array([0, 12e3, 24e3, 60e3, 42e3, 50e3])
    poor = status > 0
    income[poor] = rng.uniform(low[status[poor]], high[status[poor]])
    pop.put(hh_status=status, hh_income=np.round(income, -2))


def assign_languages(rng: np.random.Generator, pop: Population) -> None:
    """Preferred language: Cantonese for many older locals, Uyghur or Tibetan for some migrants."""
    lang = np.zeros(pop.n, dtype=np.int64)
    u = rng.random(pop.n)
    lang[~pop.migrant & (pop.age >= 60) & (u < 0.35)] = LANGUAGES.index("yue")
    codes = np.array([o[0] for o in ORIGINS])
    origin_code = np.where(pop.origin >= 0, codes[np.maximum(pop.origin, 0)], "")
    lang[(origin_code == "65") & (u < 0.6)] = LANGUAGES.index("ug")
    lang[(origin_code == "54") & (u < 0.6)] = LANGUAGES.index("bo")
    pop.put(language=lang)


def in_city_since(pop: Population) -> np.ndarray:
    """The first day each resident could use a service here: birth, or a migrant's arrival."""
    return np.where(pop.migrant, pop.arrival, pop.birth).astype("datetime64[D]")
