"""``gan``: our GAN swap with one multi-identity model for the whole corpus.

``prepare`` trains ``models.multi_identity`` on the cached facesets of every identity (a decoder per
identity over a shared encoder) within ``corpus.train_minutes`` of wall-clock time, resuming a model
already in the corpus, unless ``corpus.model`` names a trained one. A new model starts from the bundled
swap model (``corpus.gan_init``; see ``models.multi_identity.warm_start`` for why). Each fake then encodes the target's
aligned face and decodes it with the source identity's decoder; the blend stage pastes the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.stage import Stage, StageContext


class GanStage(Stage):
    name = "gan"
    batch_size = 16

    def __init__(self, model_dir: str, identity: str) -> None:
        super().__init__(None)
        self.model_dir, self.identity = model_dir, identity
        self.model: Any = None

    def open(self, context: StageContext) -> None:
        super().open(context)
        from models.multi_identity import MultiSwapModel

        self.model = MultiSwapModel(self.model_dir, context.device)

    def process(self, batch: list[Frame]) -> list[Frame]:
        faces = [face for frame in batch for face in frame.faces if face.crop is not None]
        if faces:
            swapped, masks = self.model.swap(np.stack([face.crop[..., :3] for face in faces]), self.identity)
            for face, image, mask in zip(faces, swapped, masks):
                face.swapped, face.swapped_mask = image, mask
        return batch


def _init_model(setting: str, spec: Any) -> str | None:
    """The swap model a new multi-identity model starts from (``corpus.gan_init``), or None."""
    if setting == "none":
        return None
    if setting == "bundled":
        from models.checkpoint import BUNDLED_MODEL_DIRS, CARD, WEIGHTS, read_card

        wanted = {"resolution": spec.resolution, "width": spec.width, "latent": spec.latent,
                  "decoder_width": spec.decoder_width}
        for directory in BUNDLED_MODEL_DIRS:  # the default model, then the fast 64-px one
            found = (read_card(directory / CARD) or {}).get("spec", {})
            shape = {key: found.get(key, 0 if key == "decoder_width" else None) for key in wanted}
            if shape == wanted and (directory / WEIGHTS).is_file():
                return str(directory)
        return None  # no bundled model has this shape (another train.width, say): start from scratch
    if not Path(setting).exists():
        raise FacepipeError(f"corpus.gan_init = {setting!r}: no such model folder")
    return setting


class GanMethod:
    name = "gan"
    folder = "GAN"

    def prepare(self, build: Any) -> dict[str, Any]:
        from models.checkpoint import sha256
        from models.multi_identity import WEIGHTS, load

        corpus = build.corpus
        identities = sorted({v.identity for v in build.with_faces})
        if corpus.model:
            directory = Path(corpus.model)
            model, _ = load(directory)
            missing = [i for i in identities if i not in model.identities]
            if missing:
                raise FacepipeError(f"--model {directory}: no decoder for identity {missing[0]!r}")
        else:
            directory = build.layout.gan_model()
            self._train(build, identities, directory)
        return {"model": str(directory.resolve()), "model_sha256": sha256(directory / WEIGHTS)}

    @staticmethod
    def _train(build: Any, identities: list[str], directory: Path) -> None:
        from models.faceset import load_faceset
        from models.generator import ModelSpec
        from models.multi_identity import train
        from models.training import set_threads

        corpus, settings = build.corpus, build.config.train
        facesets: dict[str, np.ndarray] = {}
        for identity in identities:
            dirs = [build.layout.faces(v.number) for v in build.with_faces if v.identity == identity]
            facesets[identity] = load_faceset(dirs, corpus.gan_resolution).train
        set_threads(settings.threads)
        spec = ModelSpec(corpus.gan_resolution, settings.width, settings.latent, settings.decoder_width)
        train(facesets, directory, spec, corpus.train_minutes, batch=corpus.gan_batch, seed=corpus.seed,
              lr=settings.lr_g, init=_init_model(corpus.gan_init, spec), log=build.options.log)

    def stage(self, job: dict[str, Any]) -> Stage:
        return GanStage(job["model"], job["source_identity"])
