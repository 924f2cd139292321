"""What ``uhs`` and ``uhs-server`` share on the terminal: a refusal, ``--version``, and
help written as age, gh and restic write it. Typer shows Python's types (``<bool>``,
``<list[str]>``) and braces around required arguments (``{file}``); here a value is
named in capitals (``FILE``, ``--to EMAIL``), an optional argument is bracketed
(``[EMAIL]``), a flag shows no value, and ``-h`` is ``--help``. Imports only Typer
(and the Click it carries), so that help stays quick."""

from __future__ import annotations

from typing import Any

import typer
from typer import core

from uhealthsec import __version__

#: For every command and group: ``-h`` as well as ``--help``, and help as wide as the
#: terminal up to 120 columns.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 120}


def value_name(param: core.TyperArgument | core.TyperOption) -> str | None:
    """How help names what a parameter takes: its metavar, else its name in capitals;
    nothing for a flag."""
    if isinstance(param, core.TyperOption) and (param.is_flag or param.count):
        return None
    if param.metavar is not None:
        return param.metavar
    return (param.name or "value").upper()


def _argument_usage(param: core.TyperArgument) -> str:
    name = value_name(param) or ""
    name = name if param.required else f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")


def _option_value(param: core.TyperOption, ctx: Any) -> str | None:
    name = value_name(param)
    return None if name is None else name + ("..." if param.nargs != 1 else "")


def _argument_name(param: core.TyperArgument) -> str:
    return (value_name(param) or "") + ("..." if param.nargs != 1 else "")


def _nothing(param: core.TyperArgument, ctx: Any) -> None:
    return None


def _apply() -> None:
    # Typer reads these three to write help; there is no setting for them.
    core.TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    core.TyperArgument._rich_display_name = _argument_name  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = _nothing  # type: ignore[method-assign,assignment]
    core.TyperOption.display_type_rich = _option_value  # type: ignore[method-assign]


class Refused(typer.Exit):
    """Print why on stderr (stdout is for results), then leave with status ``code``
    (1 unless said otherwise)."""

    def __init__(self, message: str, code: int = 1) -> None:
        typer.secho("Refused:", fg="red", nl=False, err=True)
        typer.echo(f" {message}", err=True)
        super().__init__(code=code)


def print_version() -> None:
    typer.echo(f"uhealthsec {__version__}")


def version_callback(value: bool) -> None:
    """``--version``: print it and leave."""
    if value:
        print_version()
        raise typer.Exit()


def command_line(help: str, **settings: Any) -> typer.Typer:
    """A Typer application (or group) with the conventions above. Help is Click's,
    rewrapped to the terminal, rather than rich panels that keep a docstring's line
    breaks and import rich; an error shows no rich traceback either."""
    return typer.Typer(
        help=help,
        context_settings=CONTEXT_SETTINGS,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        # Completion is a command (`completion SHELL`, as gh and restic have it), not two
        # options on every help page.
        add_completion=False,
        **settings,
    )


COMPLETION_SHELLS = ("bash", "zsh", "fish")


def completion_variable(program: str) -> str:
    """The environment variable through which a shell asks ``program`` for completions."""
    return f"_{program.replace('-', '_').upper()}_COMPLETE"


def add_completion_command(app: typer.Typer, program: str) -> None:
    """``PROGRAM completion SHELL``: print the script that completes PROGRAM's commands
    and options in that shell."""

    @app.command("completion")
    def completion(
        shell: str = typer.Argument(
            ..., metavar="SHELL", help=f"One of: {', '.join(COMPLETION_SHELLS)}."
        ),
    ) -> None:
        """Print the shell completion script, e.g. `%(prog)s completion bash >
        ~/.local/share/bash-completion/completions/%(prog)s`."""
        from typer._completion_shared import get_completion_script

        if shell not in COMPLETION_SHELLS:
            raise typer.BadParameter(f"one of {', '.join(COMPLETION_SHELLS)}", param_hint="SHELL")
        typer.echo(
            get_completion_script(
                prog_name=program, complete_var=completion_variable(program), shell=shell
            )
        )

    completion.__doc__ = (completion.__doc__ or "") % {"prog": program}


def answer_completion(program: str) -> None:
    """When a shell asks for completions, answer in the format of the scripts above."""
    import os

    if os.environ.get(completion_variable(program)):
        from typer.completion import completion_init

        completion_init()


def version_option() -> Any:
    """``--version``, for a program's own options: printed at once, as ``--help`` is."""
    return typer.Option(
        False,
        "--version",
        is_eager=True,
        expose_value=False,
        callback=version_callback,
        help="Print the version and exit.",
    )


def with_version_option(app: typer.Typer) -> None:
    """``--version`` on the program itself, and no other program option."""

    @app.callback()
    def program_options(version: bool = version_option()) -> None:
        return None


_apply()
