"""Where channel files (chat attachments, later email parts) are kept.

Keys always begin with the owning tenant's id, so a key built for one tenant can never
name another tenant's file, and a tenant's files can be listed or removed together. The
local-disk implementation is the embedded default; an object store fits the same interface.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class StorageError(ValueError):
    """A key that is malformed or names nothing."""


def new_key(tenant_id: uuid.UUID, *parts: str) -> str:
    """A fresh key under the tenant: its parts, then a random name nobody can guess."""
    # Hex, not URL-safe base64: a name starting with "-" or "_" would fail the key check
    # (one upload in 32).
    return "/".join([str(tenant_id), *parts, secrets.token_hex(16)])


def check_key(key: str, tenant_id: uuid.UUID | None = None) -> list[str]:
    segments = key.split("/")
    if len(segments) < 2 or not all(_SEGMENT.match(s) for s in segments):
        raise StorageError("malformed storage key")
    try:
        owner = uuid.UUID(segments[0])
    except ValueError as exc:
        raise StorageError("a storage key starts with its tenant's id") from exc
    if tenant_id is not None and owner != tenant_id:
        raise StorageError("the key belongs to another tenant")
    return segments


class Storage(ABC):
    @abstractmethod
    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (replacing what was there)."""

    @abstractmethod
    async def open(self, key: str) -> bytes:
        """The bytes stored under ``key``; StorageError when there are none."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""


class LocalDiskStorage(Storage):
    """Files under ``root``, one directory per tenant. Writes go to a temporary name and
    are renamed into place, so a reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key))

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    async def open(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise StorageError("no such stored file") from exc

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


def local_storage(data_dir: Path) -> LocalDiskStorage:
    return LocalDiskStorage(data_dir / "attachments")
