"""Identities: content hashes of input files and artifact keys.

Input identity is the file's content, not its path. Files up to 64 MiB are hashed whole; larger
files hash their size plus 64 evenly spaced 1 MiB chunks (first and last included), which reads
at most 64 MiB whatever the size. Hashes are cached in the workspace by (path, size, mtime, inode),
so an unchanged file is never read twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

WHOLE_FILE_LIMIT = 64 << 20
CHUNK = 1 << 20
SAMPLED_CHUNKS = 64


def sha256_of(path: Path) -> str:
    """The full sha256 hex digest of a file, as model authors publish them."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def file_content_hash(path: Path) -> str:
    """blake2b-128 hex digest of the file's content (sampled beyond WHOLE_FILE_LIMIT)."""
    size = path.stat().st_size
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        if size <= WHOLE_FILE_LIMIT:
            while block := f.read(CHUNK):
                digest.update(block)
        else:
            digest.update(f"sampled:{size}".encode())
            step = (size - CHUNK) / (SAMPLED_CHUNKS - 1)
            for i in range(SAMPLED_CHUNKS):
                f.seek(int(i * step))
                digest.update(f.read(CHUNK))
    return digest.hexdigest()


def cached_content_hash(path: Path, cache_dir: Path) -> str:
    """`file_content_hash` memoised in `cache_dir`, keyed by the file's resolved path and stat."""
    path = path.resolve()
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    entry = cache_dir / (hashlib.sha1(str(path).encode()).hexdigest() + ".json")
    try:
        cached = json.loads(entry.read_text())
        if cached["stamp"] == stamp and cached["path"] == str(path):
            return cached["hash"]
    except (OSError, ValueError, KeyError):
        pass
    content_hash = file_content_hash(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"path": str(path), "stamp": stamp, "hash": content_hash}))
    os.replace(tmp, entry)
    return content_hash


def folder_content_hash(folder: Path, cache_dir: Path) -> str:
    """blake2b-128 of the relative paths and content hashes of every visible file under `folder` (a data
    set, a folder of mask images): renaming the folder keeps its identity, changing, adding or removing
    a file changes it."""
    digest = hashlib.blake2b(digest_size=16)
    files = (p for p in folder.rglob("*")
             if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in sorted(files):
        name = path.relative_to(folder).as_posix()
        digest.update(f"{name}\0{cached_content_hash(path, cache_dir)}\n".encode())
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def artifact_key(stage: str, version: int, significant_config: dict, upstream: dict[str, str]) -> str:
    """Key of a stage's artifact: hash of stage name, VERSION, significant config and upstream keys."""
    payload = {"stage": stage, "version": version, "config": significant_config, "upstream": upstream}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]
