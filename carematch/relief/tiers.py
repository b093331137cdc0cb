"""Relief by tier (分层分类救助), pure: what the relief side pays on a household's out-of-pocket.

The household's 12-month out-of-pocket (already after basic and critical-illness insurance:
settlements record what the person paid) goes through the relief stages of benefit stacking
(:mod:`carematch.policy.stacking`): medical assistance by tier, then temporary relief, with
the library's figures — extreme hardship 100 %, minimum allowance 70 % up to 50,000,
monitored / marginal / lifted 50 % up to 30,000, temporary relief up to 20,000 when its rule
holds. Nothing here knows those numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from carematch.policy.library import PolicyLibrary
from carematch.policy.stacking import (
    RELIEF_STAGES,
    Stacking,
    stack,
    stage_policies,
)
from carematch.relief.watch import household_features


@dataclass(frozen=True)
class Relief:
    """The relief a household is due: the amount, the tier's policy and every step."""

    amount: Decimal
    tier: str | None
    stacking: Stacking

    @property
    def out_of_pocket_after(self) -> Decimal:
        """What the household still bears after the relief."""
        return self.stacking.out_of_pocket


def relief_for(
    library: PolicyLibrary, status: str, oop_12m: Decimal, income_12m: Decimal
) -> Relief:
    """The relief stages applied to the household's out-of-pocket, by its tier."""
    values = household_features(status, oop_12m, income_12m)
    by_stage = stage_policies(library.values())
    eligible = set()
    for stage in RELIEF_STAGES:
        for policy in by_stage[stage]:
            known = {name: values.get(name) for name in policy.rule.features}
            if policy.rule.evaluate(known):
                eligible.add(policy.id)
    result = stack(by_stage, oop_12m, eligible, stages=RELIEF_STAGES)
    tier = next((s.policy_id for s in result.steps if s.stage == "medical_assistance"), None)
    return Relief(result.paid, tier, result)
