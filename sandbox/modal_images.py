"""Which Modal image id was snapshotted for which (repository, install command, lockfiles) key:
a small JSON file, so the next process starts from the snapshot instead of rebuilding."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


class ImageCache:
    """key -> Modal image id, in one JSON file shared by processes (flock around each access)."""

    def __init__(self, path: Path) -> None:
        """Cache in `path` (created on first write)."""
        self.path = path

    def get(self, key: str) -> str | None:
        """The image id stored for `key`, if any."""
        return self._load().get(key)

    def put(self, key: str, image_id: str) -> None:
        """Remember `image_id` for `key` (read-modify-write under the lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._load()
            entries[key] = image_id
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
            os.replace(tmp, self.path)  # readers see the old file or the new one, never half

    def _load(self) -> dict[str, str]:
        """All entries; a missing or unreadable file is an empty cache (it is only a cache)."""
        try:
            loaded = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
