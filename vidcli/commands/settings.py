"""`vidcli settings`: every stage setting of a pipeline, with its default, type, allowed values and doc."""

from __future__ import annotations

import json

import click

from vidcli.commands.common import CONTEXT, Globals, stdout


@click.command("settings", context_settings=CONTEXT, epilog="Example: vidcli settings mocap --json")
@click.argument("pipeline", required=False)
@click.pass_obj
def settings_command(g: Globals, pipeline):
    """The settings of every stage of PIPELINE (a built-in name or a pipeline file; default: all built-in
    pipelines), as `--set STAGE.FIELD=VALUE` and workflow files take them; defaults are the pipeline's
    presets, or the stages' own without a PIPELINE."""
    from vidcli.engine.pipeline import builtin_pipelines, load_pipeline
    from vidcli.settings import settings_of

    names = [pipeline] if pipeline else list(builtin_pipelines())
    stages: dict[str, list[dict]] = {}
    for name in names:
        for stage, spec in load_pipeline(name).stages.items():
            stages.setdefault(stage, [
                {"setting": f"{stage}.{key}", "type": info.type.__name__,
                 "default": getattr(spec.config, key) if pipeline else info.default,
                 "allowed": info.allowed, "significant": info.significant, "doc": info.doc}
                for key, info in settings_of(spec.config).items()])
    if g.as_json:
        rows = [row for rows in stages.values() for row in rows]
        click.echo(json.dumps({"pipelines": names, "settings": rows}, indent=2))
        return
    for rows in stages.values():
        for row in rows:
            note = "" if row["significant"] else "; does not change the result"
            stdout.print(f"{row['setting']} = {row['default']!r}   ({row['type']}, {row['allowed']}{note})",
                         markup=False)
            stdout.print(f"    {row['doc']}", markup=False)
