"""The Merkle test vectors copied into tests/coldchain/data, read as plain values.

transparency-dev/merkle (Apache-2.0) ships one JSON file per case; C2SP CCTV (BSD-2-Clause)
ships lists. Each case becomes a ``Case``: where it comes from, the values in bytes, and what
the suite expects (``valid``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
TRANSPARENCY_DEV = DATA / "transparency-dev" / "testdata"
CCTV = DATA / "cctv-rgdd" / "testdata"


def b64(text: str) -> bytes:
    """Standard base64 as the suites write it ("" is the empty byte string)."""
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True)
class InclusionCase:
    """One inclusion-proof vector."""

    suite: str
    name: str
    leaf_hash: bytes
    leaf_index: int
    tree_size: int
    proof: list[bytes]
    root: bytes
    valid: bool


@dataclass(frozen=True)
class ConsistencyCase:
    """One consistency-proof vector."""

    suite: str
    name: str
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: list[bytes]
    valid: bool


def _td_files(kind: str) -> list[Path]:
    return sorted((TRANSPARENCY_DEV / kind).rglob("*.json"))


def transparency_dev_inclusion() -> list[InclusionCase]:
    """Every file under transparency-dev/testdata/inclusion."""
    cases = []
    for path in _td_files("inclusion"):
        v = json.loads(path.read_text())
        cases.append(
            InclusionCase(
                "transparency-dev",
                str(path.relative_to(TRANSPARENCY_DEV)),
                b64(v["leafHash"]),
                v["leafIdx"],
                v["treeSize"],
                [b64(p) for p in v["proof"] or []],
                b64(v["root"]),
                not v["wantErr"],
            )
        )
    return cases


def transparency_dev_consistency() -> list[ConsistencyCase]:
    """Every file under transparency-dev/testdata/consistency."""
    cases = []
    for path in _td_files("consistency"):
        v = json.loads(path.read_text())
        cases.append(
            ConsistencyCase(
                "transparency-dev",
                str(path.relative_to(TRANSPARENCY_DEV)),
                v["size1"],
                v["size2"],
                b64(v["root1"]),
                b64(v["root2"]),
                [b64(p) for p in v["proof"] or []],
                not v["wantErr"],
            )
        )
    return cases


def cctv_inclusion() -> list[InclusionCase]:
    """Every entry of CCTV's inclusion-valid.json and inclusion-invalid.json."""
    cases = []
    for file, valid in (("inclusion-valid.json", True), ("inclusion-invalid.json", False)):
        for i, v in enumerate(json.loads((CCTV / file).read_text())):
            cases.append(
                InclusionCase(
                    "cctv",
                    f"{file}[{i}]",
                    b64(v["leaf_hash"]),
                    v["leaf_index"],
                    v["tree_size"],
                    [b64(p) for p in v["inclusion_path"]],
                    b64(v["root_hash"]),
                    valid,
                )
            )
    return cases


def cctv_consistency() -> list[ConsistencyCase]:
    """Every entry of CCTV's consistency-valid.json and consistency-invalid.json."""
    cases = []
    for file, valid in (("consistency-valid.json", True), ("consistency-invalid.json", False)):
        for i, v in enumerate(json.loads((CCTV / file).read_text())):
            cases.append(
                ConsistencyCase(
                    "cctv",
                    f"{file}[{i}]",
                    v["old_size"],
                    v["new_size"],
                    b64(v["old_root"]),
                    b64(v["new_root"]),
                    [b64(p) for p in v["consistency_path"]],
                    valid,
                )
            )
    return cases


def cctv_tree() -> list[dict[str, str]]:
    """CCTV's merkle_tree.json: leaves "a".."p", each leaf hash and the root after it."""
    entries: list[dict[str, str]] = json.loads((CCTV / "merkle_tree.json").read_text())
    return entries


# The leaves behind transparency-dev's happy-path vectors: the `leaves` of
# transparency-dev/merkle proof/verify_test.go (hex), the same eight leaves RFC 6962's original
# test suite used. Only data: the proofs are compared with what our log generates.
TRANSPARENCY_DEV_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
