"""The command-line reference (reference/cli.md), generated from the Typer app
`callscope.cli.app`: every command and subcommand with its help, arguments and options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reference_markdown import code, one_line, paragraphs, table

INTRO = """\
# Command-line reference

Every command of `callscope`, generated from the command line's own definitions
(`callscope/cli*.py`) each time this site is built; `callscope COMMAND --help` prints the same.
An error callscope raises on purpose is one `error:` line and an exit code (2 for bad input
or settings, 3 for an unreadable warehouse, 75 for a day another process is writing; see
[Exit codes](../operations/exit-codes.md)); `-v` before the command also shows the
traceback of a failed run.
"""


@dataclass(frozen=True)
class Command:
    """One command of the tree: its words after `callscope`, the click-style command object
    and the context it is documented in."""

    words: tuple[str, ...]
    command: Any
    context: Any

    @property
    def name(self) -> str:
        return " ".join(("callscope", *self.words))

    @property
    def is_group(self) -> bool:
        return hasattr(self.command, "list_commands")


def _root() -> Any:
    import typer.main

    from callscope.cli import app

    return typer.main.get_command(app)


def commands() -> list[Command]:
    """Every visible command, depth first, the root first."""
    root = _root()
    found: list[Command] = []

    def walk(command: Any, words: tuple[str, ...], parent: Any) -> None:
        context = command.context_class(
            command, info_name=(words or ("callscope",))[-1], parent=parent
        )
        found.append(Command(words, command, context))
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                child = command.get_command(context, name)
                if child is not None and not getattr(child, "hidden", False):
                    walk(child, (*words, name), context)

    walk(root, (), None)
    return found


def command_names() -> list[str]:
    """`callscope nightly`, `callscope index update`, ...: every command, the root first."""
    return [command.name for command in commands()]


# parameters ----------------------------------------------------------------------------------
def _parameters(command: Command) -> list[Any]:
    return [
        param
        for param in command.command.get_params(command.context)
        if not getattr(param, "hidden", False) and "--help" not in param.opts
    ]


def _is_argument(param: Any) -> bool:
    return param.param_type_name == "argument"


def _value_type(param: Any, context: Any) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    record = param.get_help_record(context) or ("", "")
    shown = record[0].rsplit("<", 1)[-1].rstrip(">") if "<" in record[0] else "text"
    shown = {"int range": "int", "float range": "float", "str": "text"}.get(shown, shown)
    if shown.startswith("list[") and getattr(param, "multiple", False):
        shown = shown[5:-1]
        shown = {"str": "text"}.get(shown, shown)
        shown += ", repeatable"
    limits = []
    if getattr(param, "min", None) is not None:
        limits.append(f"≥ {param.min}")
    if getattr(param, "max", None) is not None:
        limits.append(f"≤ {param.max}")
    return shown + ("; " + ", ".join(limits) if limits else "")


def _default(param: Any) -> str:
    if param.required:
        return "required"
    value = param.default
    if getattr(param, "is_flag", False):
        return "on" if value else "off"
    if value is None or value == () or value == []:
        return ""
    return code(str(value))


def _syntax(param: Any) -> str:
    if _is_argument(param):
        return code(param.name.upper())
    return "<br>".join(
        code(", ".join(names)) for names in (param.opts, param.secondary_opts) if names
    )


def usage(command: Command) -> str:
    pieces = [command.name]
    params = _parameters(command)
    if any(not _is_argument(param) for param in params):
        pieces.append("[OPTIONS]")
    for param in params:
        if _is_argument(param):
            name = param.name.upper() + ("..." if param.nargs == -1 else "")
            pieces.append(name if param.required else f"[{name}]")
    if command.is_group:
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


# the page ------------------------------------------------------------------------------------
def page() -> str:
    parts = [INTRO]
    for command in commands():
        parts.append(_section(command))
    return "\n\n".join(parts) + "\n"


def _section(command: Command) -> str:
    depth = "##" if len(command.words) <= 1 else "###"
    lines = [f"{depth} {command.name}"]
    help_text = command.command.help or ""
    if help_text:
        lines.append(paragraphs(help_text))
    lines.append(f"```\n{usage(command)}\n```")
    params = _parameters(command)
    if params:
        rows = [
            (
                _syntax(param),
                _value_type(param, command.context),
                _default(param),
                one_line(getattr(param, "help", None) or ""),
            )
            for param in params
        ]
        lines.append(table(("argument or option", "value", "default", "description"), rows))
    if command.is_group:
        lines.append(
            "\n".join(
                f"- [{code(child.name)}](#{_anchor(child.name)}): {_short_help(child)}"
                for child in commands_below(command)
            )
        )
    return "\n\n".join(lines)


def commands_below(parent: Command) -> list[Command]:
    names = parent.command.list_commands(parent.context)
    found = []
    for name in names:
        child = parent.command.get_command(parent.context, name)
        if child is None or getattr(child, "hidden", False):
            continue
        context = child.context_class(child, info_name=name, parent=parent.context)
        found.append(Command((*parent.words, name), child, context))
    return found


def _short_help(command: Command) -> str:
    first = (command.command.help or "").strip().split("\n\n")[0]
    return one_line(first)


def _anchor(name: str) -> str:
    return name.replace(" ", "-")
