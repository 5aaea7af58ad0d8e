"""The click application: one group, one module per command."""
from __future__ import annotations

import click

from pixcodec import __version__
from pixcodec.errors import PixcodecError, allocation_failure


class CleanErrors(click.Group):
    """Turns expected failures into click's one-line ``Error: ...`` and exit 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PixcodecError as e:
            raise click.ClickException(str(e)) from None
        except (MemoryError, RuntimeError) as e:
            if not allocation_failure(e):
                raise
            raise click.ClickException("out of memory: try a smaller --group or --tile, or a smaller image") from None
        except OSError as e:  # unwritable outputs, full disks, vanished files
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise click.ClickException(f"{where}{e.strerror or e}") from None


@click.group(cls=CleanErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pixcodec")
def app():
    """Lossless image coding with autoregressive pixel models."""


def _register_commands():
    from . import bench_cmd, codec_cmds, demo_cmd, eval_cmd, export_cmd, models_cmd, sample_cmd, train_cmd

    for module in (train_cmd, eval_cmd, models_cmd, export_cmd, sample_cmd, demo_cmd, bench_cmd):
        app.add_command(module.command)
    for command in (codec_cmds.compress, codec_cmds.decompress, codec_cmds.info):
        app.add_command(command)


_register_commands()


def main():
    app(prog_name="pixcodec")
