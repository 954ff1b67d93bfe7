"""The artifact store: workspace layout, atomic publication of artifacts, and their manifests.

Layout: `<workspace>/<input-stem>-<hash8>/<stage>/<key>/`. A stage writes into a hidden temporary
directory `.tmp-<key>-<host>-<pid>-<nonce>` beside the final one; `manifest.json` is written last and
the directory is renamed into place, so a directory named by its key is always complete. A per-key
lock file keeps two processes from computing the same artifact at once; the rename alone keeps the
workspace consistent even where locks do not work (some network file systems).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from vidcli.errors import ConfigError

MANIFEST = "manifest.json"
HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


class Workspace:
    """A folder holding artifacts of many inputs, shareable between processes and machines.

    It carries a marker, `.vidcli/workspace.json`, with a random id made when it is first used: `clean`
    deletes only inside a folder that has one, and scheduler task ids include the id, so that a
    workspace deleted and made again is never mistaken for the old one by a central scheduler.
    """

    def __init__(self, root: Path):
        self.root = Path(root).expanduser().resolve()

    @property
    def state_dir(self) -> Path:
        return self.root / ".vidcli"

    @property
    def marker(self) -> Path:
        return self.state_dir / "workspace.json"

    @property
    def hash_cache(self) -> Path:
        return self.state_dir / "hashes"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def ensure_writable(self) -> None:
        """Create the workspace with its marker and prove it is writable, or raise a ConfigError."""
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            if not self.marker.is_file():  # made whole, once: the first of racing processes wins
                tmp = self.state_dir / f".workspace-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                tmp.write_text(json.dumps({"id": uuid.uuid4().hex, "created": now_iso()}))
                try:
                    os.link(tmp, self.marker)
                except FileExistsError:
                    pass
                except OSError:  # a file system without hard links: a rename, which a race may repeat
                    os.rename(tmp, self.marker)
                finally:
                    tmp.unlink(missing_ok=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError(f"workspace {self.root} is not writable: {reason}") from None

    @property
    def is_marked(self) -> bool:
        """Whether the folder is a vidcli workspace (carries the marker, itself no symbolic link)."""
        return not self.state_dir.is_symlink() and self.marker.is_file() and not self.marker.is_symlink()

    @property
    def id(self) -> str:
        """The random id of this workspace (made by `ensure_writable`)."""
        return json.loads(self.marker.read_text())["id"]

    def contains(self, path: Path) -> bool:
        """Whether `path` (resolved) is the workspace or lies inside it."""
        return Path(path).expanduser().resolve().is_relative_to(self.root)

    def artifact(self, node) -> Path:
        """Where a plan node's artifact lives: `<workspace>/<input>/<stage>/<key>`."""
        return self.root / node.rel

    def input_dirs(self) -> list[Path]:
        """The input folders (never symbolic links, which could lead out of the workspace)."""
        return sorted(p for p in real_dirs(self.root) if not p.name.startswith("."))


def real_dirs(folder: Path) -> list[Path]:
    """The sub-folders of `folder` that are folders themselves, not symbolic links to one."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]


def input_dir_name(path: Path, content_hash: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).lstrip(".")[:60] or "input"  # never hidden
    return f"{stem}-{content_hash[:8]}"


def is_complete(artifact: Path) -> bool:
    return (artifact / MANIFEST).is_file()


def read_manifest(artifact: Path) -> dict:
    return json.loads((artifact / MANIFEST).read_text())


def is_done(artifact: Path, force: bool, run_id: str) -> bool:
    """The completion rule: the manifest exists and, for a forced node, this run wrote it."""
    return is_complete(artifact) and (not force or read_manifest(artifact).get("run_id") == run_id)


def export_path(outputs: Path, node) -> Path:
    """Where `-o OUTPUTS` puts a plan node's artifact: `OUTPUTS/<input>/<stage>`."""
    return Path(outputs) / node.input_dir / node.stage


def complete_artifacts(stage_dir: Path) -> list[Path]:
    """Complete artifacts of one stage of one input, in the order they finished (newest last)."""
    found = [p for p in real_dirs(stage_dir) if not p.name.startswith(".") and is_complete(p)]
    return sorted(found, key=finished_at)


def finished_at(artifact: Path) -> datetime:
    """The manifest's "finished" time (UTC if it names no zone), else the manifest file's mtime."""
    manifest = artifact / MANIFEST
    try:
        stamp = datetime.fromisoformat(json.loads(manifest.read_text())["finished"])
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    except (OSError, ValueError, TypeError, KeyError):
        return datetime.fromtimestamp(manifest.stat().st_mtime, timezone.utc)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def write_json_durably(path: Path, value: dict) -> None:
    with open(path, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def key_lock(folder: Path, key: str, on_wait=None):
    """Hold an exclusive lock for one artifact key while it is computed; the lock file goes with it.

    The holder deletes the lock file before releasing it, so none is left behind; a process that
    locked a file already deleted finds that it is no longer the one at the path and tries again.
    """
    path = folder / f".{key}.lock"
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a")
        except FileNotFoundError:  # the folder was removed as empty between the two calls
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        if _same_file(handle, path):
            break
        handle.close()
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        handle.close()  # releases the lock


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def stale_locks(folder: Path) -> list[Path]:
    """Lock files that no process holds (left by one killed with SIGKILL)."""
    stale = []
    for path in folder.glob(".*.lock") if folder.is_dir() else []:
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            stale.append(path)
    return stale


def remove_if_empty(*folders: Path) -> None:
    """Remove each folder, in order, if it is empty (a stage folder of an input that failed)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def new_temp_dir(stage_dir: Path, key: str) -> Path:
    tmp = stage_dir / f".tmp-{key}-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def publish(tmp: Path, final: Path, replace: bool) -> bool:
    """Rename a finished temporary directory into place; False if another process got there first."""
    if replace and final.exists():
        trash = final.with_name(f".trash-{final.name}-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.rename(final, trash)
        os.rename(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
        return True
    try:
        os.rename(tmp, final)
        return True
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        return False


_LEFTOVER = re.compile(r"^\.(tmp|trash)-(?P<key>[0-9a-f]+)-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def resume_dir(stage_dir: Path, key: str) -> Path:
    """Where a long stage (training) keeps its progress across killed runs of one key; the executor
    deletes it once the artifact is published."""
    return stage_dir / f".resume-{key}"


def resume_dir_of(temp_dir: Path) -> Path:
    """The resume folder of the node whose temporary directory (a stage's `out_dir`) is `temp_dir`."""
    match = _LEFTOVER.match(temp_dir.name)
    if not match:
        raise ValueError(f"{temp_dir} is not a temporary artifact directory")
    return resume_dir(temp_dir.parent, match["key"])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_leftovers(stage_dir: Path, key: str | None = None) -> list[Path]:
    """Temporary or trash directories left by processes of this host that no longer run."""
    stale = []
    for entry in stage_dir.iterdir() if stage_dir.is_dir() else []:
        match = _LEFTOVER.match(entry.name)
        if not match or (key and match["key"] != key):
            continue
        if match["host"] == HOST and not _pid_alive(int(match["pid"])):
            stale.append(entry)
    return stale


def package_versions() -> dict[str, str]:
    """Versions of the libraries that the process has loaded (and so may have used)."""
    names = ["numpy", "cv2", "torch", "torchvision", "mediapipe", "anny", "smplx", "luigi", "scipy"]
    versions = {"python": sys.version.split()[0]}
    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


def elapsed_since(start: float) -> float:
    return round(time.monotonic() - start, 3)


def export_artifact(artifact: Path, destination: Path) -> None:
    """Copy an artifact's files to `destination`, replacing it whole. Copies, never hard links: editing
    an exported file must not change the cached artifact."""
    tmp = destination.with_name(f".{destination.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(artifact, tmp, symlinks=True)
    if destination.is_dir() and not destination.is_symlink():
        shutil.rmtree(destination)
    elif destination.exists() or destination.is_symlink():
        destination.unlink()
    os.rename(tmp, destination)
