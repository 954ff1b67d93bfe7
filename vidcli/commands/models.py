"""`vidcli models`: list, download, locate and verify checkpoints of the full backends."""

from __future__ import annotations

import json

import click
from rich.table import Table

from vidcli.body.anny_model import anny_cache_dir
from vidcli.commands.common import CONTEXT, Globals, stdout
from vidcli.errors import StageError
from vidcli.models import registry


@click.group(context_settings=CONTEXT, epilog="Example: vidcli models download raft_large")
def models():
    """Checkpoints of the full backends, cached in $VIDCLI_HOME/checkpoints (default ~/.cache/vidcli)."""


@models.command("list", context_settings=CONTEXT, epilog="Example: vidcli --json models list")
@click.pass_obj
def list_(g: Globals):
    """Every known checkpoint: stage, licence, size, source URL and whether it is present."""
    rows = [
        {"name": c.name, "stage": c.stage, "license": c.license, "size": c.size,
         "size_on_disk": registry.size_on_disk(c.name), "url": c.url, "present": registry.is_present(c.name),
         "path": str(registry.local_path(c.name))}
        for c in registry.CHECKPOINTS.values()
    ]
    if g.as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=None)
    for column in ("name", "stage", "license", "size", "present", "url"):
        table.add_column(column, overflow="fold", justify="right" if column == "size" else "left")
    for r in rows:
        table.add_row(r["name"], r["stage"], r["license"], _human_size(r["size_on_disk"] or r["size"]),
                      "yes" if r["present"] else "no", r["url"])
    stdout.print(table)
    stdout.print(f"folder: {registry.checkpoint_dir()}", markup=False)
    stdout.print(f"Anny body model data (built on first use): {anny_cache_dir()}", markup=False)


def _human_size(size: int | None) -> str:
    """Bytes as MB or GB; '?' where the size is neither published nor on disk."""
    if size is None:
        return "?"
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def _names_arg(required: bool):
    return click.argument("names", nargs=-1, required=required, type=click.Choice(sorted(registry.CHECKPOINTS)))


@models.command(context_settings=CONTEXT, epilog="Example: vidcli models download raft_large")
@_names_arg(required=True)
def download(names):
    """Download checkpoints from their official URLs (verified against published digests)."""
    for name in names:
        path = registry.download(name)
        stdout.print(f"{name}: {path}", markup=False)


@models.command(context_settings=CONTEXT, epilog="Example: vidcli models path raft_large")
@_names_arg(required=True)
def path(names):
    """Print where each checkpoint lives (or must be put)."""
    for name in names:
        click.echo(registry.local_path(name))


@models.command(context_settings=CONTEXT, epilog="Example: vidcli models verify")
@_names_arg(required=False)
def verify(names):
    """Check the sha256 of present checkpoints (all present ones when no name is given)."""
    names = names or [n for n in registry.CHECKPOINTS if registry.is_present(n)]
    if not names:
        stdout.print(f"no checkpoint present in {registry.checkpoint_dir()}", markup=False)
    failed = []
    for name in names:
        ok, detail = registry.verify(name)
        stdout.print(f"{name}: {'ok' if ok else 'BAD'}: {detail}", markup=False)
        if not ok:
            failed.append(name)
    if failed:
        raise StageError(f"checkpoint(s) failed verification: {', '.join(failed)}")
