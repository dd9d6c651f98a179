"""Hypothesis profiles: "quick" for local runs, "ci" (thorough) when CI=true; override with
HYPOTHESIS_PROFILE=name."""

import atexit
import os
import shutil
import tempfile

from hypothesis import HealthCheck, settings

settings.register_profile("quick", max_examples=40, deadline=None)
settings.register_profile(
    "ci", max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=10, deadline=None)
_default = "ci" if os.environ.get("CI", "").lower() == "true" else "quick"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))

# Compiled replay caches native libraries under $XDG_CACHE_HOME/autograd-lite: the tests use a
# private one, so they neither read nor fill the user's cache.
if "XDG_CACHE_HOME" not in os.environ:
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="autograd-lite-test-cache-")
    atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], True)
