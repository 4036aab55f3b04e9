"""The embed's static files (loader, widget script and styles), read once per process.

Each carries a content hash: the frame page links ``widget.js?v=<hash>`` so browsers may
cache the widget for long and still pick up a new release at once. The loader's own URL
is fixed (it is pasted into tenants' pages), so it is cached briefly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
NAMES = ("loader.js", "widget.js", "widget.css")


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    content: bytes
    media_type: str
    version: str


@lru_cache(maxsize=len(NAMES))
def asset(name: str) -> Asset:
    if name not in NAMES:
        raise KeyError(name)
    content = (STATIC / name).read_bytes()
    return Asset(name=name, content=content, media_type=TYPES[Path(name).suffix],
                 version=hashlib.sha256(content).hexdigest()[:12])
