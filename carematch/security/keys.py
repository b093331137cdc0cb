"""Key material: from the environment when set, else a key file created on first run.

Key files live in ``<data_dir>/secrets`` with mode 0600; they are never in the repository.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from pydantic import SecretStr


def load_or_create_key(path: Path, from_env: SecretStr | None = None, nbytes: int = 32) -> bytes:
    """Return the key given in the environment (base64) or stored at ``path``, creating it."""
    if from_env is not None:
        raw = base64.b64decode(from_env.get_secret_value())
        if len(raw) < nbytes:
            raise ValueError(f"key from environment must be at least {nbytes} bytes (base64)")
        return raw
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = secrets.token_bytes(nbytes)
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return base64.b64decode(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode())
    return key
