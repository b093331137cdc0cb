"""The compact frontier gives the same tree head as the whole tree, at every size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.coldchain import frontier
from carematch.coldchain.merkle import EMPTY_ROOT, MerkleLog, hash_leaf


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_frontier_root_is_the_rfc6962_root_after_every_append(entries):
    log, state = MerkleLog(), b""
    assert frontier.root(state, 0) == EMPTY_ROOT
    for size, entry in enumerate(entries):
        state = frontier.append(state, size, hash_leaf(entry))
        log.append(entry)
        assert frontier.root(state, size + 1) == log.root()
        assert len(state) == 32 * (size + 1).bit_count()


def test_a_frontier_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError):
        frontier.root(b"\x00" * 32, 3)
    with pytest.raises(ValueError):
        frontier.append(b"", 0, b"short")
