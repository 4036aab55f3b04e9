"""The local-disk storage: keys under the tenant, whole files, no escape from the root."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from plateaux.channels.storage import LocalDiskStorage, StorageError, check_key, new_key


async def test_put_open_delete_round_trip(tmp_path: Path) -> None:
    storage = LocalDiskStorage(tmp_path)
    tenant = uuid.uuid4()
    key = new_key(tenant, "chat", str(uuid.uuid4()))
    assert key.startswith(f"{tenant}/chat/")
    await storage.put(key, b"hello \xf0\x9f\x98\x80")
    assert await storage.open(key) == b"hello \xf0\x9f\x98\x80"
    assert (tmp_path / str(tenant)).is_dir()
    await storage.put(key, b"replaced")
    assert await storage.open(key) == b"replaced"
    await storage.delete(key)
    await storage.delete(key)  # a missing key is already deleted
    with pytest.raises(StorageError):
        await storage.open(key)


async def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    storage = LocalDiskStorage(tmp_path)
    key = new_key(uuid.uuid4(), "chat")
    await storage.put(key, b"x" * 10_000)
    names = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert names == [key.rsplit("/", 1)[1]]


# A fixed tenant id: parallel test processes must collect the same test names.
SOME_TENANT = "0b6f7c52-5a1e-4c1e-9a43-2f1d8e0c7a11"


@pytest.mark.parametrize("key", [
    "not-a-tenant/file", f"{SOME_TENANT}/../../etc/passwd", f"{SOME_TENANT}/a//b",
    SOME_TENANT, f"/{SOME_TENANT}/x", f"{SOME_TENANT}/.hidden",
])
async def test_malformed_keys_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalDiskStorage(tmp_path)
    with pytest.raises(StorageError):
        await storage.put(key, b"x")
    with pytest.raises(StorageError):
        await storage.open(key)


def test_a_key_of_another_tenant_is_refused() -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    key = new_key(theirs, "chat")
    check_key(key, theirs)
    with pytest.raises(StorageError):
        check_key(key, mine)


def test_keys_are_unguessable() -> None:
    tenant = uuid.uuid4()
    assert len({new_key(tenant, "chat") for _ in range(100)}) == 100


def test_every_new_key_passes_the_key_check() -> None:
    tenant = uuid.uuid4()
    for _ in range(2000):
        check_key(new_key(tenant, "chat"), tenant)
