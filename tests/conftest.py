"""Hypothesis profiles: "quick" for local runs, "ci" (thorough) when CI=true; override with
HYPOTHESIS_PROFILE=name."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("quick", max_examples=40, deadline=None)
settings.register_profile(
    "ci", max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=10, deadline=None)
_default = "ci" if os.environ.get("CI", "").lower() == "true" else "quick"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))
