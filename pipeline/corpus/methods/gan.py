"""``gan``: our GAN swap with one multi-identity model for the whole corpus.

``prepare`` trains ``models.multi_identity`` on the cached facesets of every identity (a decoder per
identity over a shared encoder) within ``corpus.train_minutes`` of wall-clock time, resuming a model
already in the corpus, unless ``corpus.model`` names a trained one. A new model starts from the bundled
swap model (``corpus.gan_init``; see ``models.multi_identity.warm_start`` for why). Each fake then encodes the target's
aligned face and decodes it with the source identity's decoder; the blend stage pastes the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.corpus.methods import BuildView, MethodCard
from pipeline.errors import FacepipeError
from pipeline.stage import Stage, StageContext
from stages.swap import SwapConfig, SwapStage

if TYPE_CHECKING:
    from pipeline.corpus.job import FakeSpec


class MultiModelOpener:
    """Opens the corpus's multi-identity model on the job's device, inside the worker that runs it."""

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir

    def __call__(self, context: StageContext) -> Any:
        from models.multi_identity import MultiSwapModel

        return MultiSwapModel(self.model_dir, context.device)


def init_model(setting: str, spec: Any) -> str | None:
    """The swap model a new multi-identity model starts from (``corpus.gan_init``), or None."""
    if setting == "none":
        return None
    if setting == "bundled":
        from models.checkpoint import bundled_with_shape

        found = bundled_with_shape(spec)  # the default model, then the fast 64-px one
        return str(found) if found else None  # none has this shape (another train.width, say): start from scratch
    if not Path(setting).exists():
        raise FacepipeError(f"corpus.gan_init = {setting!r}: no such model folder")
    return setting


class GanMethod:
    name = "gan"
    folder = "GAN"

    def __init__(self) -> None:
        self._card: MethodCard | None = None

    def card(self) -> MethodCard:
        """The model trained (or given with ``corpus.model``) and the checksum of its weights."""
        if self._card is None:
            raise FacepipeError("the gan method's card is known only after prepare() trained or loaded its model")
        return self._card

    def prepare(self, build: BuildView) -> None:
        from models.family import sha256
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
        self._card = MethodCard(str(directory.resolve()), sha256(directory / WEIGHTS))

    @staticmethod
    def _train(build: BuildView, identities: list[str], directory: Path) -> None:
        from models.faceset import load_faceset
        from models.generator import ModelSpec
        from models.train_multi import train
        from models.training import set_threads

        corpus, settings = build.corpus, build.config.train
        facesets: dict[str, np.ndarray] = {}
        for identity in identities:
            dirs = [build.layout.faces(v.number) for v in build.with_faces if v.identity == identity]
            facesets[identity] = load_faceset(dirs, corpus.gan_resolution).train
        set_threads(settings.threads)
        spec = ModelSpec(corpus.gan_resolution, settings.width, settings.latent, settings.decoder_width)
        train(facesets, directory, spec, corpus.train_minutes, batch=corpus.gan_batch, seed=corpus.seed,
              cfg=settings, init=init_model(corpus.gan_init, spec), log=build.options.log)

    def stage(self, fake: FakeSpec) -> Stage:
        return SwapStage(SwapConfig(), MultiModelOpener(fake.model), fake.source_identity)
