"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class FacepipeError(Exception):
    """A problem the user can fix (bad input, bad config, missing model file).

    The CLI prints ``facepipe: error: <message>`` and exits with ``exit_code``; no traceback.
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class Cancelled(FacepipeError):
    """The user interrupted (Ctrl-C); exit code 130 as shells expect."""

    exit_code = 130


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds exactly like Ctrl-C (every writer discards its temporary
    file), then the process exits with 128 + the signal number, as shells expect."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
