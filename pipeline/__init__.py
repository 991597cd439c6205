"""facepipe's runner: configuration, the stage contract, the threaded frame loop and the CLI.

Stages (``stages/``) never import each other; this package composes them.
"""

__version__ = "0.1.0"
