"""reportgen's folder in the user's cache: built kernels, checked racers."""
from __future__ import annotations

import os
from pathlib import Path


def user_cache() -> Path:
    """reportgen's folder in the user's cache ($XDG_CACHE_HOME, else ~/.cache): built kernels, checked racers."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reportgen"
