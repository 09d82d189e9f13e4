"""The user's own dashboard settings (the chosen theme), kept in a small JSON file per user.

Where: ``$MEDJOBS_UI_SETTINGS`` if set, else ``$XDG_CONFIG_HOME/medjobs/dashboard.json`` (default
``~/.config/medjobs/dashboard.json``). A missing or unreadable file means defaults; nothing in it is
clinic data, so it lives with the user, not with the store.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from medjobs_tui.console.views import write_temp_beside

log = logging.getLogger(__name__)


def settings_path() -> Path:
    """The file the user's dashboard settings are kept in."""
    explicit = os.environ.get("MEDJOBS_UI_SETTINGS")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "medjobs" / "dashboard.json"


def load() -> dict[str, Any]:
    """The saved settings, or {} when there are none or the file cannot be read."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(**changes: Any) -> None:
    """Merge ``changes`` into the saved settings (written whole, atomically); a failure is logged, not raised."""
    path = settings_path()
    data = {**load(), **changes}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = write_temp_beside(path, json.dumps(data, indent=2) + "\n")   # never follows a planted link
        tmp.replace(path)
    except OSError as exc:
        log.warning("dashboard settings not saved: %s", type(exc).__name__)
