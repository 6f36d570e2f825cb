"""Facts told earlier in a conversation that change the safety of a later message.

Each field is a concept of rules.toml marked `remembered = true` (the rule book refuses a
remembered concept with no field here). A fact is set when the person affirms it for
themself, or for someone with them when that message raised a red flag for that person
(a parent describing a child), and stays set until /reset or /forget: "I'm on warfarin"
and three messages later "can I take ibuprofen?" make one medication referral.
"""

from __future__ import annotations

from pydantic import BaseModel


class Facts(BaseModel):
    """What the person has told us that later rules combine with (all start false)."""

    trauma: bool = False
    child: bool = False
    fever: bool = False
    hot_joint: bool = False
    injection: bool = False
    leg_swollen: bool = False
    amenorrhea: bool = False
    mileage_up: bool = False
    avn_risk: bool = False
    cancer_history: bool = False
    blood_thinner: bool = False
    pregnancy: bool = False
    stomach_ulcer: bool = False
    organ_disease: bool = False
    asthma: bool = False
    nsaid_or_aspirin: bool = False  # asked about an anti-inflammatory or aspirin
    daily_nsaid: bool = False  # already takes one every day or on prescription
    knee_or_thigh_pain: bool = False
    groin_pain: bool = False

    def known(self) -> frozenset[str]:
        """Return the names of the facts that are set."""
        return frozenset(name for name, value in self if value)

    def adding(self, concepts: frozenset[str]) -> Facts:
        """Return these facts with the remembered concepts of a new message set."""
        new = {name: True for name in concepts if name in type(self).model_fields}
        return self.model_copy(update=new)

    def removing(self, concepts: frozenset[str]) -> Facts:
        """Return these facts with the named ones cleared (the person corrected them)."""
        cleared = {name: False for name in concepts if name in type(self).model_fields}
        return self.model_copy(update=cleared)

    def describe(self) -> str:
        """Name the facts in plain words (shown by /forget and /facts)."""
        return ", ".join(name.replace("_", " ") for name in sorted(self.known())) or "none"
