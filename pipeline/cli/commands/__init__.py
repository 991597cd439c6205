"""One module per `facepipe` subcommand; each has ``register(subparsers)`` and a ``main(args) -> int``."""

COMMANDS: list[str] = ["convert", "live", "config", "doctor", "train", "extract", "attack", "corpus"]
