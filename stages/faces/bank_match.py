"""Which bank face paints a target face: expression and pose descriptors, and a matcher that holds its pick.

Why descriptors of similarity-normalised landmarks: two faces framed alike differ by where the mouth,
eyes, brows and jaw sit once the rigid part of the head (eyes and nose) is put in one place. Fitting
the similarity on eyes and nose only (not the mouth or jaw) keeps an open mouth or a dropped jaw out
of the fit, so they show up as distance. Each part is weighted (eyes most: a blink moves the lids
by a few hundredths of the face), and head yaw and pitch, estimated from the same points, are a
term of their own, because a frontal bank face warped onto a turned head looks flat.

Why each face's own neutral: two people's faces differ at rest (a wider mouth, lower brows), and
matching raw shapes would paint a smile on a wide-mouthed neutral face. So expressions are
compared as departures from each person's own rest shape: the bank's median face, and for a target
track the median of its last ``NEUTRAL_FRAMES`` faces. A track seen for only a few frames (a photo)
has no rest shape of its own yet, so it borrows the bank's, fully at first and less with every
frame up to ``NEUTRAL_TRUST``.
Yaw stays absolute (faces are near symmetric, so a frontal face has yaw 0 whoever it is, and a
turned head needs a turned bank face); pitch is measured from the rest shape too, because the
proxy (where the nose tip sits between the eyes and the lip) depends on the length of the nose.

Why a temporal term: the best match jumps between near-equal bank faces from frame to frame, and
every jump changes the skin, the light and the hair line at once. The matcher keeps the previous
pick of the same track unless another is better by ``stickiness``, and fades from the old pick to
the new one over ``crossfade`` frames. Everything is vectorised over the bank (hundreds of faces).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stages.faces.geometry import MEAN_FACE

# The rigid part of the head: nose bridge and tip, both eyes.
RIGID = np.r_[27:36, 36:48]
# Part -> weight of its mean squared distance (in inter-ocular units) in the match.
PARTS: dict[str, tuple[slice, float]] = {
    "jaw": (slice(0, 17), 0.5),
    "brows": (slice(17, 27), 1.0),
    "eyes": (slice(36, 48), 4.0),
    "mouth": (slice(48, 68), 2.0),
}
NEUTRAL_FRAMES = 150  # a target track's rest shape: the median of this many recent faces (5 s at 30 fps)
NEUTRAL_TRUST = 30  # frames after which a track's own rest shape is trusted fully
_IOD = float(MEAN_FACE[45, 0] - MEAN_FACE[36, 0])
REFERENCE = (MEAN_FACE - MEAN_FACE[RIGID].mean(axis=0)) / _IOD  # the mean face, inter-ocular distance 1


def normalise(landmarks: np.ndarray) -> np.ndarray:
    """(N, 68, 2) landmarks moved, turned and scaled so their eyes and nose best fit the mean face's.

    A 2-D similarity in closed form (complex least squares: one complex factor is rotation and
    scale), for a whole batch at once; it cannot mirror a face."""
    points = np.asarray(landmarks, np.float64)
    single = points.ndim == 2
    points = points[None] if single else points
    z = points[..., 0] + 1j * points[..., 1]
    ref = REFERENCE[:, 0] + 1j * REFERENCE[:, 1]
    rigid = z[:, RIGID]
    centred = rigid - rigid.mean(axis=1, keepdims=True)
    factor = (np.conj(centred) * ref[RIGID]).sum(axis=1) / np.maximum((np.abs(centred) ** 2).sum(axis=1), 1e-12)
    moved = (z - rigid.mean(axis=1, keepdims=True)) * factor[:, None]
    out = np.stack([moved.real, moved.imag], axis=-1)
    return out[0] if single else out


def head_pose(normalised: np.ndarray) -> np.ndarray:
    """(N, 2) yaw and pitch proxies from normalised landmarks (0, 0 ~ the mean face, frontal).

    Yaw: the nose tip's offset from the middle of the jaw line, over the jaw's width (the nose
    swings towards the side the head turns to). Pitch: the nose tip's height between the eye line
    and the upper lip (a lowered head brings the tip towards the lip)."""
    p = np.asarray(normalised, np.float64)
    p = p[None] if p.ndim == 2 else p
    jaw_mid = (p[:, 0] + p[:, 16]) / 2
    jaw_width = np.maximum(np.linalg.norm(p[:, 16] - p[:, 0], axis=1), 1e-6)
    yaw = (p[:, 30, 0] - jaw_mid[:, 0]) / jaw_width
    eyes_y = (p[:, 36:48, 1]).mean(axis=1)
    lip_y = p[:, 51, 1]
    pitch = (p[:, 30, 1] - eyes_y) / np.maximum(lip_y - eyes_y, 1e-6)
    ref_pitch = (REFERENCE[30, 1] - REFERENCE[36:48, 1].mean()) / (REFERENCE[51, 1] - REFERENCE[36:48, 1].mean())
    return np.stack([yaw, pitch - ref_pitch], axis=1)


def expression(normalised: np.ndarray, neutral: np.ndarray | None = None) -> np.ndarray:
    """(N, D) weighted part coordinates, less the ``neutral`` rest shape when given: their squared
    Euclidean distance is the expression distance."""
    p = np.asarray(normalised, np.float64)
    p = p[None] if p.ndim == 2 else p
    if neutral is not None:
        p = p - neutral
    columns = [(p[:, part] * np.sqrt(weight / (part.stop - part.start))).reshape(len(p), -1)
               for part, weight in PARTS.values()]
    return np.concatenate(columns, axis=1)


@dataclass
class Descriptors:
    """What faces are matched on: ``expression`` (N, D), departures from the person's rest shape
    ``neutral`` (68, 2, normalised), and ``pose`` (N, 2); float32."""

    expression: np.ndarray
    pose: np.ndarray
    neutral: np.ndarray


def describe(landmarks: np.ndarray, neutral: np.ndarray | None = None) -> Descriptors:
    """Descriptors of (N, 68, 2) landmarks of one person (any frame: the normalisation removes position
    and size), as departures from ``neutral``; None = the median of these landmarks."""
    normalised = normalise(np.asarray(landmarks).reshape(-1, 68, 2))
    rest = np.median(normalised, axis=0) if neutral is None else np.asarray(neutral, np.float64)
    pose = head_pose(normalised) - head_pose(rest) * np.array([0.0, 1.0])  # pitch from rest, yaw absolute
    return Descriptors(expression(normalised, rest).astype(np.float32), pose.astype(np.float32),
                       rest.astype(np.float32))


@dataclass
class Pick:
    """The bank face to paint (``index``) and, during a crossfade, the one faded from
    (``previous`` >= 0) with the new face's weight ``weight`` (1 = no fade)."""

    index: int
    previous: int = -1
    weight: float = 1.0
    changed: bool = False  # this frame's pick differs from the last frame's


@dataclass
class _TrackState:
    current: int
    previous: int = -1
    fade_step: int = 0
    last_frame: int = -10
    seen: int = 0  # faces of this track so far
    recent: list[np.ndarray] = field(default_factory=list)  # the last NEUTRAL_FRAMES normalised faces

    def neutral(self, normalised: np.ndarray, borrowed: np.ndarray) -> np.ndarray:
        """This track's rest shape, with ``normalised`` (this frame's face) counted in; ``borrowed``
        (the bank's) weighs in while the track is young."""
        self.seen += 1
        self.recent.append(normalised)
        del self.recent[:-NEUTRAL_FRAMES]
        own = np.median(np.stack(self.recent), axis=0)
        trust = min(1.0, (self.seen - 1) / NEUTRAL_TRUST)
        return borrowed + trust * (own - borrowed)


class BankMatcher:
    """Chooses a bank face per target face, per track, with hysteresis and a crossfade."""

    def __init__(self, bank: Descriptors, pose_weight: float = 4.0, stickiness: float = 0.001,
                 crossfade: int = 4) -> None:
        self.expression = np.asarray(bank.expression, np.float32)
        self.pose = np.asarray(bank.pose, np.float32)
        self.neutral = np.asarray(bank.neutral, np.float64)
        self.pose_weight = pose_weight
        self.stickiness = stickiness
        self.crossfade = max(1, crossfade)
        self._tracks: dict[int, _TrackState] = {}
        self.picks = 0
        self.changes = 0

    def costs(self, target: Descriptors) -> np.ndarray:
        """(N,) match cost of every bank face for one target face (lower is better)."""
        expression = ((self.expression - target.expression[0]) ** 2).sum(axis=1)
        pose = ((self.pose - target.pose[0]) ** 2).sum(axis=1)
        return expression + self.pose_weight * pose

    def pick(self, landmarks: np.ndarray, track_id: int, frame_index: int) -> Pick:
        """The bank face for a target face with these landmarks, on this frame of this track."""
        state = self._tracks.get(track_id) if track_id >= 0 else None
        if state is None:
            state = _TrackState(-1)
            if track_id >= 0:
                self._tracks[track_id] = state
        # a gap, a new track or a seek: no pick to hold on to (the rest shape is kept)
        fresh = state.current < 0 or not 0 < frame_index - state.last_frame <= 2
        state.last_frame = frame_index
        normalised = normalise(landmarks)
        costs = self.costs(describe(normalised[None], state.neutral(normalised, self.neutral)))
        best = int(np.argmin(costs))
        self.picks += 1
        if fresh:
            state.current, state.previous = best, -1
            return Pick(best)
        changed = best != state.current and costs[best] < costs[state.current] - self.stickiness
        if changed:
            self.changes += 1
            state.previous, state.current, state.fade_step = state.current, best, 0
        if state.previous >= 0:
            state.fade_step += 1
            if state.fade_step >= self.crossfade:
                state.previous = -1
        weight = 1.0 if state.previous < 0 else state.fade_step / self.crossfade
        return Pick(state.current, state.previous, weight, changed)

    @property
    def change_rate(self) -> float:
        """Fraction of picks that switched bank face (0 when nothing was picked)."""
        return self.changes / self.picks if self.picks else 0.0
