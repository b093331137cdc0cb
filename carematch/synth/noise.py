"""Per-source noise: how each department's extract gets a resident's identity wrong.

Record linkage (R-ID-2) is only worth testing against realistic dirt, so each source renders
names, ID numbers, birth dates, sex, phones and addresses through its own :class:`NoiseSpec`.
The rates are published in ``manifest.json`` and ``docs/data-dictionary.md``. Every record is
still a clean CSV row; unreadable rows are the ingest tests' business, not the generator's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carematch.synth import names, strings
from carematch.synth.addresses import ADDRESS_STYLES, render_addresses
from carematch.synth.dates import add_duration, components
from carematch.synth.idcard import fixed_width_strings, to_15_digits
from carematch.synth.population import Population
from carematch.synth.regions import Geography

BIRTH_FORMATS = ("iso", "slash", "compact", "chinese")
"""``iso`` 1990-01-05, ``slash`` 1990/1/5, ``compact`` 19900105, ``chinese`` 1990年1月5日."""

PHONE_FORMATS = ("plain", "plus86_space", "plus86", "dashes", "spaces", "prefix86")
"""``plain`` 13812345678, ``plus86_space`` +86 138 1234 5678, ``plus86`` +8613812345678,
``dashes`` 138-1234-5678, ``spaces`` 138 1234 5678, ``prefix86`` 8613812345678."""


@dataclass(frozen=True)
class NoiseSpec:
    """Noise rates of one source; each is the share of that source's records affected.

    Conditional rates say so: ``id_legacy15`` applies to people born before 1985 (only they
    held first-generation cards), ``phone_old`` to people who changed their number,
    ``address_old`` to people who moved in the last 12 months.
    """

    name_homophone: float = 0.0
    name_pinyin: float = 0.0
    name_spaced: float = 0.0
    id_missing: float = 0.0
    id_typo: float = 0.0
    id_legacy15: float = 0.0
    id_lowercase_x: float = 0.0
    birth_formats: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    birth_error: float = 0.0
    sex_chinese: float = 0.0
    phone_missing: float = 0.0
    phone_old: float = 0.0
    phone_household: float = 0.0
    phone_format: float = 0.0
    address_old: float = 0.0
    address_abbrev: float = 0.0
    address_missing: float = 0.0
    duplicate: float = 0.0
    duplicate_exact: float = 0.5

    def as_dict(self) -> dict[str, object]:
        """Plain dict for the manifest (birth formats spelled out)."""
        out: dict[str, object] = asdict(self)
        out["birth_formats"] = dict(zip(BIRTH_FORMATS, self.birth_formats, strict=True))
        return out


SOURCE_NOISE: dict[str, NoiseSpec] = {
    # Public security: careful ID checks, Chinese sex labels, stale phones from registration day.
    "police": NoiseSpec(
        name_homophone=0.005,
        id_missing=0.002,
        id_typo=0.003,
        id_legacy15=0.01,
        sex_chinese=1.0,
        phone_missing=0.02,
        phone_old=0.35,
        phone_household=0.10,
        address_abbrev=0.10,
        address_old=0.05,
        duplicate=0.005,
    ),
    # Health records: typed at busy clinics; mixed date formats; IDs often missing.
    "ehr": NoiseSpec(
        name_homophone=0.03,
        name_spaced=0.01,
        id_missing=0.06,
        id_typo=0.02,
        id_legacy15=0.03,
        id_lowercase_x=0.3,
        birth_formats=(0.7, 0.2, 0.1, 0.0),
        birth_error=0.005,
        phone_missing=0.03,
        phone_old=0.30,
        phone_household=0.15,
        phone_format=0.10,
        address_old=0.40,
        address_abbrev=0.30,
        address_missing=0.01,
        duplicate=0.02,
    ),
    # Insurance settlements: ID-driven, compact dates, some pinyin names from national systems.
    "insurance": NoiseSpec(
        name_homophone=0.01,
        name_pinyin=0.03,
        id_missing=0.003,
        id_typo=0.005,
        id_legacy15=0.005,
        birth_formats=(0.4, 0.0, 0.6, 0.0),
        phone_missing=0.05,
        phone_old=0.40,
        phone_household=0.05,
        phone_format=0.30,
        duplicate=0.003,
        duplicate_exact=1.0,
    ),
    # Social security: employer-entered, pinyin names in some payroll systems.
    "social_security": NoiseSpec(
        name_homophone=0.01,
        name_pinyin=0.08,
        id_missing=0.005,
        id_typo=0.005,
        id_legacy15=0.01,
        sex_chinese=1.0,
        phone_missing=0.02,
        phone_old=0.30,
        phone_format=0.20,
        address_old=0.50,
        address_abbrev=0.40,
        duplicate=0.01,
    ),
    # Immunization: children's records, guardian phones, IDs often not yet on file.
    "immunization": NoiseSpec(
        name_homophone=0.03,
        id_missing=0.12,
        id_typo=0.01,
        birth_formats=(0.5, 0.5, 0.0, 0.0),
        sex_chinese=1.0,
        phone_missing=0.01,
        phone_old=0.20,
        phone_format=0.10,
        address_old=0.30,
        address_abbrev=0.30,
        duplicate=0.02,
    ),
    # Civil affairs: the household's contact number for every member, Chinese dates.
    "poverty": NoiseSpec(
        name_homophone=0.02,
        id_missing=0.01,
        id_typo=0.01,
        id_legacy15=0.05,
        birth_formats=(0.7, 0.0, 0.0, 0.3),
        sex_chinese=1.0,
        phone_old=0.20,
        phone_household=0.80,
        address_old=0.20,
        address_abbrev=0.20,
        duplicate=0.01,
    ),
    # Field surveys: self-reported, handwritten or typed on phones; no ID numbers collected.
    "survey": NoiseSpec(
        name_homophone=0.06,
        name_spaced=0.03,
        birth_formats=(0.3, 0.3, 0.0, 0.4),
        birth_error=0.02,
        sex_chinese=0.5,
        phone_missing=0.05,
        phone_old=0.10,
        phone_household=0.10,
        phone_format=0.40,
        address_old=0.10,
        address_abbrev=0.60,
        address_missing=0.03,
        duplicate=0.03,
    ),
}


def _format_dates(dates: np.ndarray, style: np.ndarray) -> pa.Array:
    year, month, day = components(dates)
    iso = pa.array(dates.astype("datetime64[D]")).cast(pa.string())
    y, m, d = strings.int_str(year), strings.int_str(month), strings.int_str(day)
    variants = [
        iso,
        strings.concat(y, m, d, sep="/"),
        strings.concat(y, strings.int_str(month, 2), strings.int_str(day, 2)),
        strings.concat(y, "年", m, "月", d, "日"),
    ]
    out = variants[0]
    for i in range(1, len(variants)):
        out = strings.where(style == i, variants[i], out)
    return out


def format_birth_dates(
    rng: np.random.Generator, dates: np.ndarray, shares: tuple[float, ...]
) -> pa.Array:
    """Dates as text, each row in a format drawn from ``shares`` over BIRTH_FORMATS."""
    style = rng.choice(len(BIRTH_FORMATS), size=dates.size, p=np.array(shares) / sum(shares))
    return _format_dates(dates, style)


def _mistype_birth(rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
    """A plausible wrong birth date: day and month swapped, a day off, or a year off."""
    year, month, day = components(dates)
    kind = rng.integers(0, 3, dates.size)
    swappable = (day <= 12) & (day != month)
    swapped = ((year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (day - 1)).astype(
        "datetime64[D]"
    ) + (month - 1)
    off_day = dates + np.where(rng.random(dates.size) < 0.5, -1, 1)
    off_year = add_duration(dates, years=np.where(rng.random(dates.size) < 0.5, -1, 1))
    return np.where((kind == 0) & swappable, swapped, np.where(kind == 1, off_year, off_day))


def format_phones(rng: np.random.Generator, numbers: np.ndarray, reformat: np.ndarray) -> pa.Array:
    """Mobile numbers as text; rows in ``reformat`` get one of the non-plain PHONE_FORMATS."""
    text = strings.int_str(numbers)
    a = pc.utf8_slice_codeunits(text, 0, 3)
    b = pc.utf8_slice_codeunits(text, 3, 7)
    c = pc.utf8_slice_codeunits(text, 7, 11)
    variants = [
        text,
        strings.concat("+86", a, b, c, sep=" "),
        strings.concat("+86", text),
        strings.concat(a, b, c, sep="-"),
        strings.concat(a, b, c, sep=" "),
        strings.concat("86", text),
    ]
    style = np.where(reformat, rng.integers(1, len(variants), numbers.size), 0)
    out = variants[0]
    for i in range(1, len(variants)):
        out = strings.where(style == i, variants[i], out)
    return pc.if_else(pa.array(numbers > 0), out, pa.nulls(numbers.size, pa.string()))


def _mistype_ids(rng: np.random.Generator, chars: np.ndarray) -> np.ndarray:
    """One substituted digit or two swapped neighbours among the first 17 (check then fails).

    Any single change of a digit in positions 1-17 changes the MOD 11-2 sum by a non-zero
    multiple of a weight that is coprime to 11, and so does swapping two different neighbours
    (adjacent weights differ); the kept check character is therefore always wrong.
    """
    out = chars.copy()
    n = int(out.shape[0])
    rows: np.ndarray = np.arange(n)
    substitute: np.ndarray = rng.random(n) < 0.6
    pos: np.ndarray = rng.integers(0, 17, n)
    new_digit = (out[rows, pos] - ord("0") + rng.integers(1, 10, n)) % 10 + ord("0")
    out[rows[substitute], pos[substitute]] = new_digit[substitute].astype(np.uint8)
    swap_pos: np.ndarray = rng.integers(0, 16, n)
    left, right = out[rows, swap_pos].copy(), out[rows, swap_pos + 1].copy()
    # Swapping equal digits changes nothing; substitute instead for those rows.
    same = left == right
    do_swap = ~substitute & ~same
    out[rows[do_swap], swap_pos[do_swap]] = right[do_swap]
    out[rows[do_swap], swap_pos[do_swap] + 1] = left[do_swap]
    fallback = ~substitute & same
    out[rows[fallback], pos[fallback]] = new_digit[fallback].astype(np.uint8)
    return out


@dataclass
class Identity:
    """Identity columns of one source's rows, plus the community their address lies in."""

    columns: dict[str, pa.Array]
    community: np.ndarray


def render_identity(
    rng: np.random.Generator,
    pop: Population,
    geo: Geography,
    people: np.ndarray,
    spec: NoiseSpec,
    fields: tuple[str, ...],
    phone_of: np.ndarray | None = None,
) -> Identity:
    """Name, ID number, sex, birth date, phone and address of ``people`` as one source holds them.

    Args:
        rng: the source's noise stream.
        pop: the population.
        geo: the map (for addresses).
        people: resident index of each row (repeats allowed).
        spec: the source's noise rates.
        fields: which identity columns to produce, in output order.
        phone_of: whose phone to record per row (a child's guardian); defaults to ``people``.
    """
    n = people.size
    columns: dict[str, pa.Array] = {}

    if "name" in fields:
        s, g1, g2 = pop.surname[people], pop.given1[people], pop.given2[people]
        rows = np.flatnonzero(rng.random(n) < spec.name_homophone)
        s, g1, g2 = names.homophone_swap(rng, s, g1, g2, rows)
        plain = names.render(s, g1, g2)
        spaced = strings.concat(
            strings.pick(names.TABLES.chars, s), " ", names.render(np.full(n, -1), g1, g2)
        )
        pinyin = names.render_pinyin(s, g1, g2, rng.random(n) < 0.4)
        u = rng.random(n)
        columns["name"] = strings.where(
            u < spec.name_pinyin,
            pinyin,
            strings.where(u < spec.name_pinyin + spec.name_spaced, spaced, plain),
        )

    if "id_number" in fields:
        chars = pop.id_chars[people]
        typo = rng.random(n) < spec.id_typo
        if typo.any():
            chars[typo] = _mistype_ids(rng, chars[typo])
        legacy = (
            ~typo
            & (pop.birth[people] < np.datetime64("1985-01-01"))
            & (rng.random(n) < spec.id_legacy15)
        )
        full = fixed_width_strings(chars)
        lower = ~typo & (chars[:, 17] == ord("X")) & (rng.random(n) < spec.id_lowercase_x)
        full = strings.where(lower, pc.utf8_lower(full), full)
        short = fixed_width_strings(to_15_digits(chars))
        text = strings.where(legacy, short, full)
        missing = rng.random(n) < spec.id_missing
        columns["id_number"] = pc.if_else(pa.array(missing), pa.nulls(n, pa.string()), text)

    if "sex" in fields:
        male = pop.male[people]
        chinese = rng.random(n) < spec.sex_chinese
        columns["sex"] = strings.where(
            chinese, strings.where(male, "男", "女"), strings.where(male, "M", "F")
        )

    if "birth_date" in fields:
        birth = pop.birth[people].copy()
        wrong = rng.random(n) < spec.birth_error
        if wrong.any():
            birth[wrong] = _mistype_birth(rng, birth[wrong])
        columns["birth_date"] = format_birth_dates(rng, birth, spec.birth_formats)

    if "phone" in fields:
        who = people if phone_of is None else phone_of
        number = pop.phone[who].copy()
        shared = rng.random(n) < spec.phone_household
        number = np.where(shared, pop.household_phone[pop.household[who]], number)
        old = (pop.old_phone[who] > 0) & (rng.random(n) < spec.phone_old)
        number = np.where(old, pop.old_phone[who], number)
        number = np.where(rng.random(n) < spec.phone_missing, 0, number)
        columns["phone"] = format_phones(rng, number, rng.random(n) < spec.phone_format)

    household = pop.household[people]
    moved = pop.moves_12m[people] > 0
    use_old = moved & (rng.random(n) < spec.address_old)
    parts = {}
    for key in ("community", "road", "number", "building", "room"):
        parts[key] = np.where(
            use_old, getattr(pop, f"prev_{key}")[household], getattr(pop, f"addr_{key}")[household]
        )
    if "address" in fields:
        abbreviate = rng.random(n) < spec.address_abbrev
        style = np.where(abbreviate, rng.integers(1, len(ADDRESS_STYLES), n), 0)
        text = render_addresses(
            geo,
            parts["community"],
            parts["road"],
            parts["number"],
            parts["building"],
            parts["room"],
            style,
        )
        missing = rng.random(n) < spec.address_missing
        columns["address"] = pc.if_else(pa.array(missing), pa.nulls(n, pa.string()), text)
    return Identity(
        columns={f: columns[f] for f in fields if f in columns}, community=parts["community"]
    )


def canonical_addresses(pop: Population, geo: Geography, previous: bool = False) -> pa.Array:
    """Each household's full address (current, or the one before the last move)."""
    key = "prev_" if previous else "addr_"
    return render_addresses(
        geo,
        getattr(pop, f"{key}community"),
        getattr(pop, f"{key}road"),
        getattr(pop, f"{key}number"),
        getattr(pop, f"{key}building"),
        getattr(pop, f"{key}room"),
        np.zeros(pop.n_households, dtype=np.int64),
    )
