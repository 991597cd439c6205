"""``bank``: the retrieval swap of ``convert`` (``swap.method = "bank"``) as a corpus method.

The source identity's cached faces of its video are the bank: per target frame the face whose expression
and pose match best is warped onto the target's landmarks, matched to its skin's colour, softness and
grain (``stages.faces.bank_swap``), and the blend stage pastes it. No model: the fakes are the source
person's real pixels, moved and relit, so their artefacts are a warp's and a paste's (expressions the
source never made, a seam, texture at the wrong scale), not a generator's. This is the default swap of
``convert`` and ``live``, so a detector trained on a corpus with it has seen what facepipe makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pipeline.corpus.methods import ModelFree
from pipeline.errors import FacepipeError
from pipeline.frame import Frame
from pipeline.stage import Stage, StageContext

if TYPE_CHECKING:
    from pipeline.corpus.job import FakeSpec
    from stages.faces.bank import FaceBank


def cached_bank(directory: Path) -> FaceBank:
    """The cached faces of one video (``pipeline.corpus.faces``) as a bank: crops, crop landmarks, descriptors."""
    from pipeline.corpus.faces import crop_landmarks, face_records
    from stages.faces.bank import FaceBank
    from stages.faces.bank_match import describe

    crops, landmarks, frames = [], [], []
    for number, record in sorted(face_records(directory).items()):
        crop = cv2.imread(str(directory / record["file"]), cv2.IMREAD_COLOR)
        if crop is None:
            continue
        crops.append(crop)
        landmarks.append(crop_landmarks(record).astype(np.float32))
        frames.append(number)
    if not crops:
        raise FacepipeError(f"bank: no readable cached face in {directory}")
    points = np.stack(landmarks)
    return FaceBank(np.stack(crops), points, describe(points), np.asarray(frames, np.int32), "video", directory.name)


class BankStage(Stage):
    """Sets ``swapped``/``swapped_mask`` of each aligned target face from the source's bank."""

    name = "bank"

    def __init__(self, bank: FaceBank) -> None:
        from stages.faces.bank_swap import BankSwapper

        super().__init__(None)
        self.swapper = BankSwapper(bank)

    def open(self, context: StageContext) -> None:
        """The bank faces are cut to their visible face by the bundled segmenter, as ``convert``'s
        (``swap.bank_segment``): the source's hair is not painted where it is skin-coloured."""
        from models import BUNDLED_SEGMENTER
        from models.segmenter_cpu import open_segmenter

        super().open(context)
        self.swapper.visible_face = open_segmenter(BUNDLED_SEGMENTER, context.device).visible

    def process(self, batch: list[Frame]) -> list[Frame]:
        for frame in batch:
            for face in frame.faces:
                if face.crop is not None and face.matrix is not None and face.landmarks is not None:
                    self.swapper.paint(face, frame.index)
        return batch


class BankMethod(ModelFree):
    name = "bank"
    folder = "Bank"

    def stage(self, fake: FakeSpec) -> Stage:
        return BankStage(cached_bank(Path(fake.source_faces)))
