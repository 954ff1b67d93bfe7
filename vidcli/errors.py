"""Errors that the CLI turns into one-line messages and documented exit codes."""

EXIT_OK = 0
EXIT_STAGE_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C)
EXIT_TERMINATED = 143  # SIGTERM (what timeout, systemd, Docker and CI send)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same cleanup and summary happen."""


class VidcliError(Exception):
    """Base error; `exit_code` is what the `vidcli` process returns."""

    exit_code = EXIT_STAGE_FAILED
    kind = "stage"


class StageError(VidcliError):
    """A stage could not produce its artifact."""


class ConfigError(VidcliError):
    """A usage or configuration mistake: bad option, malformed workflow file, unwritable workspace."""

    exit_code = EXIT_USAGE
    kind = "config"


def with_prefix(prefix: str, message: str) -> str:
    """`prefix: message`, unless the message already starts so (never `camera: camera: ...`)."""
    return message if message.startswith(f"{prefix}:") else f"{prefix}: {message}"


class InputError(VidcliError):
    """An input file is missing or is not something the pipeline can read."""

    exit_code = EXIT_BAD_INPUT
    kind = "input"
