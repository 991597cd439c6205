"""One module per `facepipe` subcommand; each has ``register(subparsers)`` and a ``main(args) -> int``.

``COMMANDS`` maps each name to the one line ``facepipe --help`` shows, so listing the commands
imports none of them. A new command is a module here plus one line in the table.
"""

COMMANDS: dict[str, str] = {
    "convert": "convert a video, a photo or a folder through the face pipeline",
    "live": "real time: a camera or stream in; a window, stream, virtual camera or file out",
    "config": "print the effective configuration as documented TOML",
    "doctor": "show ffmpeg, encoders that work, torch device and model files; check a configuration",
    "train": "train a face-swap model on two facesets",
    "bank": "build one person's face bank file, to paint them in with --face FILE.npz",
    "extract": "extract aligned face crops (a faceset) from videos and photos",
    "attack": "occlusion attack: occlude faces until a fake detector calls them real",
    "corpus": "fake/real video corpora in the FaceForensics++ layout: build, verify, export",
    "detector": "deepfake detector: train on a corpus, evaluate, score videos",
}
