"""Which of several banks paints a face: a person of the face's sex who looks most like it, never the
face's own person.

Why: with one bundled person every face got the same man, and a man's face on a woman's head (her
brows and make-up showing at the rim) was what viewers named first. Nearness in dlib's identity
embedding alone is not enough: on our clips it followed ancestry before sex (a white man sat nearer
the bundled white woman than the bundled East-Asian man), so the sex comes first, from
``models.likeness``, and nearness decides among the banks of that sex. A bank of the face's own
person (embedding distance under ``SELF_DISTANCE``: the bundled woman on the sample, which is her
footage) would paint no swap at all, so it is skipped. The choice is made once per face track, on its
first face with landmarks, and kept: a face that changed person between frames would flicker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pipeline.frame import Face
from stages.faces.geometry import transform

SELF_DISTANCE = 0.5  # below dlib's 0.6 same-person line: only a clear match of the same person is skipped


SEX_DOUBT = 0.15  # P(woman) within this of 0.5: the face's sex is not known well enough to trust B's brows and make-up


@dataclass(frozen=True)
class Choice:
    """Which identity paints a face (``index``); whether it is of the other sex because no other
    person of the face's own sex was there to choose (``other_sex``: the bundled man's own footage gets
    the woman, the sample gets the man); and whether the face's sex was in doubt (``unsure``: P(woman)
    within ``SEX_DOUBT`` of 0.5; a boy in the crowd clip read 0.53-0.64 and got the woman's eyeliner)."""

    index: int
    other_sex: bool = False
    unsure: bool = False

    @property
    def keeps_own_eyes(self) -> bool:
        """The face keeps its own brows, eyes and beard area (``bank_eyes.own_brows_and_eyes``):
        B's may be of the wrong sex."""
        return self.other_sex or self.unsure


def choose_identity(embedding: np.ndarray, identities: Sequence[np.ndarray]) -> Choice:
    """The identity that paints ``embedding``'s face: not the same person; of those, the ones of the
    same sex (``woman_probability``) when there are any; of those, the nearest. The farthest identity
    when every one is the same person. One identity is no choice: never ``other_sex``."""
    from models.likeness import woman_probability
    from stages.faces.identity import identity_distance

    if len(identities) == 1:
        return Choice(0)
    distances = [identity_distance(embedding, identity) for identity in identities]
    others = [k for k, distance in enumerate(distances) if distance >= SELF_DISTANCE] or [int(np.argmax(distances))]
    probability = woman_probability(embedding)
    woman = probability >= 0.5
    same_sex = [k for k in others if (woman_probability(identities[k]) >= 0.5) == woman]
    return Choice(min(same_sex or others, key=distances.__getitem__), other_sex=not same_sex,
                  unsure=abs(probability - 0.5) < SEX_DOUBT)


class BankChooser:
    """Per face track, the bank (of ``identities``) that paints it."""

    def __init__(self, identities: Sequence[np.ndarray]) -> None:
        self.identities = list(identities)
        self._tracks: dict[int, Choice] = {}

    def choose(self, face: Face) -> Choice:
        if len(self.identities) == 1 or face.landmarks is None or face.crop is None or face.matrix is None:
            return Choice(0)
        known = self._tracks.get(face.track_id) if face.track_id >= 0 else None
        if known is not None:
            return known
        from stages.faces.identity import face_embedding

        crop = np.ascontiguousarray(face.crop[..., :3])
        pick = choose_identity(face_embedding(crop, transform(face.landmarks, face.matrix)), self.identities)
        if face.track_id >= 0:
            self._tracks[face.track_id] = pick
        return pick
