"""Cold chain (冷链): a verifiable event log, signed checkpoints, temperature alarms and recalls.

The modules here are pure engines (no database, no web framework):

- ``merkle`` — RFC 6962 / RFC 9162 §2.1 Merkle tree: hashing, tree heads, inclusion and
  consistency proofs, generated and verified;
- ``checkpoint`` — C2SP tlog-checkpoint tree heads signed as C2SP signed notes (Ed25519);
- ``telemetry`` — heat, freeze and no-data alarms over temperature readings, excursion
  windows, exposed lots and the recall list.

See docs/coldchain.md.
"""

from carematch.coldchain.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    generate_signer,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    sign_checkpoint,
    sign_note,
)
from carematch.coldchain.merkle import (
    EMPTY_ROOT,
    MerkleLog,
    hash_children,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)
from carematch.coldchain.telemetry import (
    Alarm,
    AlarmKind,
    AlarmMonitor,
    AlarmRules,
    ExcursionWindow,
    Reading,
    evaluate,
    excursion_windows,
    lots_exposed,
    recall_list,
)

__all__ = [
    "EMPTY_ROOT",
    "Alarm",
    "AlarmKind",
    "AlarmMonitor",
    "AlarmRules",
    "Checkpoint",
    "ExcursionWindow",
    "MerkleLog",
    "NoteSigner",
    "NoteVerifier",
    "Reading",
    "evaluate",
    "excursion_windows",
    "generate_signer",
    "hash_children",
    "hash_leaf",
    "lots_exposed",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "recall_list",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
]
