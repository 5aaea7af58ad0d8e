"""The click application: one group, one module per command, each imported only when named.

``pixcodec --help``, ``pixcodec compress --help`` and argument errors of the coding commands
answer without importing torch (it costs seconds on a busy machine). Ctrl-C at any moment,
torch's import included, prints one line and exits 130, as a shell expects. A command that loaded
torch exits without unloading it (``leave``).
"""
from __future__ import annotations

import importlib
import os
import signal
import sys

import click

from pixcodec import __version__
from pixcodec.errors import EXIT_INTEGRITY, EXIT_INTERRUPTED, IntegrityError, PixcodecError, allocation_failure

# name: (module in this package, attribute, the one line `pixcodec --help` lists)
COMMANDS = {
    "bench": ("bench_cmd", "command", "Compress IMAGES with every codec; report rates, times and exactness."),
    "compress": ("codec_cmds", "compress", "Compress images (files, folders or -) losslessly to .pxc files."),
    "decompress": ("codec_cmds", "decompress", "Decode .pxc files to images with exactly the original pixels."),
    "demo": ("demo_cmd", "command", "Round-trip the bundled samples; one table against PNG, WebP, JPEG-XL."),
    "eval": ("eval_cmd", "command", "Print the pooled bits/dim of CKPT over whole images."),
    "export": ("export_cmd", "command", "Write a checkpoint's model without its training state."),
    "info": ("codec_cmds", "info", "Show a .pxc file's header."),
    "models": ("models_cmd", "command", "List the registered models and their hyperparameters."),
    "sample": ("sample_cmd", "command", "Draw images from a trained model."),
    "train": ("train_cmd", "command", "Fit a registered model by maximum likelihood."),
}


def clean_errors(invoke):
    """Expected failures become click's one-line ``Error: ...``, never a traceback: exit 1 for
    bad input, 3 for a failed integrity check."""
    def run(ctx):
        try:
            return invoke(ctx)
        except IntegrityError as e:
            error = click.ClickException(str(e))
            error.exit_code = EXIT_INTEGRITY
            raise error from None
        except PixcodecError as e:
            raise click.ClickException(str(e)) from None
        except (MemoryError, RuntimeError) as e:
            if not allocation_failure(e):
                raise
            raise click.ClickException("out of memory: try a smaller --group or --tile, or a smaller image") from None
        except OSError as e:  # unwritable outputs, full disks, vanished files, a closed pipe
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise click.ClickException(f"{where}{e.strerror or e}") from None
    return run


class LazyCommands(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(f".{module}", __package__), attribute)

    def format_commands(self, ctx, formatter):
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in self.list_commands(ctx)])

    def invoke(self, ctx):
        return clean_errors(super().invoke)(ctx)


@click.group(cls=LazyCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pixcodec")
def app():
    """Lossless image coding with autoregressive pixel models."""


def _interrupted(*_):
    raise KeyboardInterrupt


def main(args=None):
    signal.signal(signal.SIGINT, _interrupted)       # also while torch's import holds the interpreter
    try:
        app.main(args, prog_name="pixcodec", standalone_mode=False)
        code = 0
    except (KeyboardInterrupt, click.Abort):
        # outputs under way were unwound (atomic.py removed their temporary files); exit at once,
        # since a KeyboardInterrupt seen inside torch can make the interpreter's own exit re-raise SIGINT
        print("\rpixcodec: interrupted", file=sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        code = e.exit_code
    except click.exceptions.Exit as e:
        code = e.exit_code
    except BrokenPipeError:                           # `pixcodec ... -o - | head -c 10`
        sys.stderr.close()
        sys.exit(1)
    leave(code)


def leave(code: int) -> None:
    """Exit with ``code`` without the interpreter's teardown, once torch is loaded: unloading it
    takes 0.3 s, a seventh of a small image's whole run. Every output was closed and renamed into
    place by its writer (atomic.py) before the command returned; the standard streams are
    flushed here, and where that fails the ordinary exit reports it."""
    if "torch" in sys.modules:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            sys.exit(code)
        os._exit(code)
    sys.exit(code)
