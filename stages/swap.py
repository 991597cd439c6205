"""The swap stage: aligned crops of consecutive frames through the generator, in batches.

Why batches: the generator runs once for many faces (16 frames by default), which on a CPU is several
times faster per face than one call per frame and on CUDA keeps the GPU busy. The stage also decides
which faces are swapped (all, the largest, named track ids, or whoever looks like a reference photo),
so a crowd scene can swap one person.

Picking by reference: the application computes the reference person's dlib embedding (it has the
detector and landmark stages at hand) and hands it over as ``context.reference_embedding``.
The embedding network costs about 0.2 s per face on a CPU, so it runs once per face track and again
every ``RECHECK_FRAMES`` frames of that track (a tracker can drift to another face), not on every frame.

Who paints is ``swap.method``, a name in ``SWAP_METHODS``: ``bank`` paints each face with the
best-matching face of a bank of the person in ``swap.face`` (``stages.faces.bank_swap``), which needs no
model trained on the target; ``pair`` runs a pair-trained generator (``swap.model``) on the crops.
``auto`` (the default) is ``pair`` when ``swap.model`` names a model and ``bank`` otherwise, so a user who
trained a pair only names it. The bank is built by this floor's detect, landmarks and align stages
(``bank_face_stages``) and cached, so the command line builds it first, with a progress bar, and the
stage finds it in the cache. An empty ``swap.face`` is the bundled people (``models/bundled_bank``: a
man and a woman, each face painted with the one of its sex, ``stages.faces.bank_choice``).
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from pipeline.config import option
from pipeline.errors import FacepipeError
from pipeline.frame import Face, Frame
from pipeline.registry import Registry
from pipeline.stage import Stage, StageContext
from stages.summaries import SwapSummary

if TYPE_CHECKING:
    from pathlib import Path

    from pipeline.videoinfo import VideoInfo
    from stages.faces.bank import BankSpec, FaceBank

RECHECK_FRAMES = 25  # frames between two identity checks of the same track

# swap.method -> the painter class (``Painter``): who paints the chosen faces
SWAP_METHODS = Registry("swap method", {
    "pair": "stages.swap:PairPainter",
    "bank": "stages.swap:BankPainter",
}, setting="swap.method")



@dataclass
class SwapConfig:
    """The ``[swap]`` table."""

    method: str = option("auto", "who paints: bank = any face painted with the best-matching face of the person in "
                         "`face` (expressions only as that footage has them); pair = a pair-trained swap model "
                         "(`model`, `direction`); auto = pair when `model` is set, else bank",
                         choices=("auto", *SWAP_METHODS))
    face: str = option("", "method = 'bank': a video, a folder of photos or videos, or a bank file (`facepipe bank`) "
                       "of the person to paint in (`--face`); a video's bank is built once and cached in "
                       "$XDG_CACHE_HOME/facepipe/banks; empty = the bundled people (models/bundled_bank: a man and a "
                       "woman talking; each face gets the one of its sex, never itself; models/README.md)")
    model: str = option("", "method = 'pair': swap model folder or .safetensors file; 'bundled' = the bundled "
                        "128-px pair model (models/bundled), 'fast' = the bundled 64-px one (models/bundled_fast)")
    direction: str = option("a2b", "a2b paints identity B onto faces of A (b2a the reverse; a2a/b2b reconstruct)",
                            choices=("a2b", "b2a", "a2a", "b2b"))
    select: str = option("all", "which faces to swap: all, the largest in each frame, the track ids in `tracks`, "
                         "or the faces of the person in `reference`", choices=("all", "largest", "tracks", "reference"))
    tracks: list[int] = option([], "track ids to swap when select = 'tracks' (ids as `facepipe extract` reports them)")
    reference: str = option("", "photo of the person to swap when select = 'reference' (or a folder of photos of "
                            "them; the largest face of each photo is used)")
    reference_distance: float = option(0.6, "faces whose dlib identity embedding lies within this distance of the "
                                       "reference are swapped (0.6 = dlib's same-person threshold; lower is stricter)",
                                       min=0.0, max=2.0)
    batch_frames: int = option(16, "consecutive frames whose faces go through the generator together", unit="frames",
                               min=1, max=512)
    bank_every: int = option(2, "method = 'bank': build the bank from every Nth frame of the `face` video (a longer "
                             "step when the video has more than `bank_faces` frames)", unit="frames", min=1, max=1000)
    bank_faces: int = option(600, "method = 'bank': at most this many faces in the bank, spread over the video",
                             min=1, max=5000)
    bank_stickiness: float = option(0.001, "method = 'bank': keep a track's bank face unless another matches better by "
                                    "this much (squared inter-ocular units); higher = fewer changes, slower to follow "
                                    "the face", min=0.0, max=10.0)
    bank_crossfade: int = option(4, "method = 'bank': frames over which a change of bank face is faded in "
                                 "(at most 2 when the change opens or shuts an eye: bank_match.BLINK_FADE)",
                                 unit="frames", min=1, max=60)
    bank_grain: bool = option(True, "method = 'bank': add fresh grain to a bank face cleaner than the target's skin, "
                              "up to the target's level (against waxy, airbrushed skin)")
    bank_sharpen: bool = option(True, "method = 'bank': sharpen a bank face softer than the target (enlarged onto a "
                                "larger face, resampled by the warp) up to the target's sharpness, read on the "
                                "edges of eyes, brows and lips, against a waxy, airbrushed face")
    bank_segment: bool = option(True, "method = 'bank': cut each bank face to its visible face with the bundled "
                                "occlusion segmenter, not by colour alone: hair close to the bank person's skin "
                                "colour, falling over a temple, was painted onto turned heads as a dark stroke")
    bank_shading: float = option(0.3, "method = 'bank': match the bank face's light and skin colour to the target's "
                                 "across the face, not only on average: width of the smooth shading field, in "
                                 "inter-ocular distances (0 = one mean and spread for the whole face); at the "
                                 "face's rim the field is narrower, 0.15 (bank_warp.rim_share), when this is wider; in "
                                 "the eye sockets a 0.1-wide field only darkens (bank_sockets); B's shine is taken "
                                 "down to the target's (highlights; not on a bank face with glasses)",
                                 min=0.0, max=2.0)
    bank_shine_reach: float = option(0.0, "method = 'bank': B's shine is held to the target's brightest within this "
                                     "distance, in inter-ocular distances; negative: to its least within that "
                                     "distance (less of B's shine); 0 = at the same place",
                                     min=-0.5, max=0.5)
    bank_turned_nose: bool = option(False, "method = 'bank': a head turned further than the bank face painted on it "
                                    "keeps its own nose (bank_pose): a frontal bank face cannot turn, and its nose "
                                    "warped onto a turned head shows both nostrils and a dark line down the "
                                    "silhouette; off by default: blind paired judges preferred B's nose (30 to 14), "
                                    "the target's own read as washed out beside B's crisper features")
    bank_mouth: str = option("target", "method = 'bank': what fills the open mouth between the painted lips: "
                             "target = the target's own teeth and mouth (and its lips too where it opens wider than any "
                             "of the bank's mouths), bank = the bank face's (squeezed or "
                             "stretched to the target's opening: a grin's teeth in a spoken 'o')",
                             choices=("target", "bank"))
    bank_eyes: str = option("target", "method = 'bank': what shows where the target's eye is shut and the bank has "
                            "no eye as closed: target = the target's own lids and lashes, bank = the bank's most "
                            "closed eye, squeezed into a slit", choices=("target", "bank"))
    bank_other_sex: str = option("own-eyes", "method = 'bank', `face` empty: a face painted with a bundled person "
                                 "of the other sex (the bundled person of its own sex is itself), or one whose sex is "
                                 "in doubt (a child, a tiny face), keeps its own brows, "
                                 "eyes and beard area (own-eyes: the woman's mascara and groomed brows on a man read "
                                 "as make-up at once, her smooth chin beside his stubbly neck as a patch), or takes "
                                 "B's too (paint)", choices=("own-eyes", "paint"))
    bank_own_eyes: bool = option(False, "method = 'bank': every face keeps its own brows, eyes and beard area, "
                                 "whoever paints it, as a face painted with the other sex does (bank_other_sex): for "
                                 "a bank person whose eye make-up travels (the bundled woman's mascara and liner read "
                                 "as false lashes on other women, and a downcast eye as a dark band); B's nose, mouth, "
                                 "skin and proportions still paint the face, but it reads as the target's person far "
                                 "more (on five women's clips the faces nearer B fell from 90-100 % to 0-10 %)")
    bank_upper_lip: str = option("auto", "method = 'bank': whose skin lies where a beard grows: target = the "
                                 "target's own between the nose and the upper lip (its moustache, or none), beard = "
                                 "the target's own all round the mouth and over the chin (its beard or stubble, or "
                                 "none), bank = the bank person's (theirs travels onto every face, and it is part of "
                                 "who they are); auto = beard for a bundled person with a moustache (the man's "
                                 "stubble shows as a ghost), bank for one without (the woman) and for a person of "
                                 "your own (`face`)",
                                 choices=("auto", "target", "beard", "bank"))
    bank_shape: float = option(1.0, "method = 'bank': how far the painted eyes, nose, mouth and brows take the bank "
                               "person's proportions (eye spacing and width, nose length, mouth width and place) "
                               "instead of the target's; the target's expression, head outline and jaw stay "
                               "(0 = the target's proportions; a face under 80 px between its eye corners in the "
                               "frame takes less, under 50 px none: bank_swap.SMALL_FACE)", min=0.0, max=1.0)


MOUSTACHE_SHADE = -8.0  # L* of a bank person's upper lip against their cheeks below which a moustache is taken to grow there


def upper_lip_of(config: SwapConfig, bank: Any) -> str:
    """``swap.bank_upper_lip`` with "auto" settled for ``bank``: "bank" for ``face``'s person (their
    moustache is theirs); for a bundled person "beard" where their upper lip is darker than their
    cheeks by ``MOUSTACHE_SHADE`` (``bank_swap.upper_lip_shade``: a moustache, and with the man
    stubble over the whole lower face; the man: -15), "bank" where it is not (the woman: +6): a
    target's own moustache kept under her nose was the grey band viewers named. The shade is
    measured only when "auto" asks for it."""
    if config.bank_upper_lip != "auto":
        return config.bank_upper_lip
    if config.face:
        return "bank"
    from stages.faces.bank_swap import upper_lip_shade

    return "bank" if upper_lip_shade(bank) >= MOUSTACHE_SHADE else "beard"


def check_selection(config: SwapConfig, reference_embedding: Any) -> None:
    """Refuse a face choice that would swap nothing, before any frame is read."""
    if config.select == "tracks" and not config.tracks:
        raise FacepipeError("swap.select = 'tracks' but swap.tracks is empty: list the track ids to swap "
                            "(e.g. --set 'swap.tracks=[0]'), or choose another swap.select")
    if config.select == "reference" and not config.reference:
        raise FacepipeError("swap.select = 'reference' needs swap.reference = a photo of the person to swap")
    if config.select == "reference" and reference_embedding is None:
        raise FacepipeError("swap.select = 'reference': no reference embedding was computed for "
                            f"{config.reference!r} (this command does not support picking by reference)")


def painting_method(config: SwapConfig) -> str:
    """``swap.method`` with ``auto`` resolved: ``pair`` when ``swap.model`` names a model, else ``bank``."""
    if config.method != "auto":
        return config.method
    return "pair" if config.model else "bank"


def check_method(config: SwapConfig) -> None:
    """Refuse a bank swap whose face cannot be read, before any frame is read."""
    if painting_method(config) == "bank" and config.face:
        from stages.faces.bank import bank_inputs

        bank_inputs(config.face)


def choose_faces(faces: list[Face], select: str, tracks: list[int]) -> None:
    """Mark the faces to swap (``face.selected``); the others pass through every later stage untouched."""
    if select == "all":
        for face in faces:
            face.selected = True
    elif select == "largest":
        largest = max(faces, key=lambda f: f.width * f.height, default=None)
        for face in faces:
            face.selected = face is largest
    else:
        for face in faces:
            face.selected = face.track_id in tracks


OpenModel = Callable[[StageContext], Any]


class Painter(Protocol):
    """What ``SwapStage`` hands the chosen faces to (in frame order): it fills ``swapped``,
    ``swapped_mask`` and ``swapped_resolution``."""

    def paint(self, faces: list[Face], frame_indices: list[int]) -> None: ...


class PairPainter:
    """``swap.method = 'pair'``: the generator on all the batch's crops at once."""

    def __init__(self, config: SwapConfig, context: StageContext, open_model: OpenModel | None, target: str) -> None:
        import torch

        from models.checkpoint import load_model

        threads = int(context.extras.get("threads", 0))
        if threads:
            torch.set_num_threads(threads)  # intra-op threads; other stages run in threads of their own
        self.model = open_model(context) if open_model else load_model(config.model, context.device)
        self.target = target

    def paint(self, faces: list[Face], frame_indices: list[int]) -> None:
        crops = np.stack([face.crop[..., :3] for face in faces])
        swapped, masks = self.model.swap(crops, self.target)
        for face, painted, mask in zip(faces, swapped, masks):
            face.swapped, face.swapped_mask = painted, mask
            face.swapped_resolution = self.model.resolution


class BankPainter:
    """``swap.method = 'bank'``: each face painted from the bank of ``swap.face`` (built here on a
    cache miss, silently: the command line builds it first, with a progress bar)."""

    def __init__(self, config: SwapConfig, context: StageContext, open_model: OpenModel | None, target: str) -> None:
        from stages.faces.bank_choice import BankChooser

        self.config = config
        self.device = context.device
        self._segmenter: Any = None
        if config.face:
            self._banks: list[Callable[[], FaceBank]] = [lambda: open_face_bank(config)]
            self.chooser = BankChooser([None])
        else:
            from models import BUNDLED_BANKS
            from stages.faces.bank import open_bank_file

            self._banks = [functools.partial(open_bank_file, str(path)) for path in BUNDLED_BANKS]
            self.chooser = BankChooser(bundled_identities())
        self._swappers: dict[int, Any] = {}
        self._swapper(0)  # the first bank opens now: a broken file is refused before any frame

    @property
    def swapper(self) -> Any:
        """The first bank's swapper: the only one unless ``swap.face`` is empty (the bundled people)."""
        return self._swapper(0)

    @property
    def swappers(self) -> list[Any]:
        """Every bank's swapper (each bundled bank opened on first use, so a run of men decodes no woman)."""
        return [self._swapper(number) for number in range(len(self._banks))]

    def _swapper(self, number: int) -> Any:
        if number not in self._swappers:
            from stages.faces.bank_swap import BankSwapper

            config = self.config
            bank = self._banks[number]()
            self._swappers[number] = BankSwapper(bank, config.bank_stickiness, config.bank_crossfade,
                                                 grain=config.bank_grain, shading=config.bank_shading,
                                                 mouth=config.bank_mouth, eyes=config.bank_eyes,
                                                 upper_lip=upper_lip_of(config, bank),
                                                 shape=config.bank_shape, sharpen=config.bank_sharpen,
                                                 shine_reach=config.bank_shine_reach,
                                                 turned_nose=config.bank_turned_nose,
                                                 visible_face=self._visible_face())
        return self._swappers[number]

    def _visible_face(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """The bundled occlusion segmenter on one bank crop (``swap.bank_segment``), opened once."""
        if not self.config.bank_segment:
            return None
        if self._segmenter is None:
            from models import BUNDLED_SEGMENTER
            from models.segmenter_cpu import open_segmenter

            self._segmenter = open_segmenter(BUNDLED_SEGMENTER, self.device)
        return self._segmenter.visible

    def paint(self, faces: list[Face], frame_indices: list[int]) -> None:
        for face, index in zip(faces, frame_indices):
            choice = self.chooser.choose(face)
            swapper = self._swapper(choice.index)
            own_eyes = self.config.bank_own_eyes or (choice.keeps_own_eyes and self.config.bank_other_sex == "own-eyes")
            swapper.paint(face, index, own_eyes=own_eyes)
            face.extras["bank_person"] = swapper.bank.source
            face.extras["bank_choice"] = choice


# -- the bank of swap.face ----------------------------------------------------------------------------

BANK_SIZE = 256  # side of the bank's crops: the align stage's default size


def bank_stage_configs() -> tuple[Any, Any, Any]:
    """The detect, landmarks and align settings a bank is built with: every frame detected (sampled
    frames are not consecutive, so no tracking), landmarks unsmoothed, crops at ``BANK_SIZE``.
    Fixed, not the run's settings, so one bank serves convert and live alike."""
    from stages.align import AlignConfig
    from stages.detect import DetectConfig
    from stages.landmarks import LandmarksConfig

    return DetectConfig(every=1), LandmarksConfig(smooth=False), AlignConfig(size=BANK_SIZE)


def bank_face_stages(info: VideoInfo) -> tuple[list[Stage], list[StageContext]]:
    """The stages that find, fit and align the bank's faces (``bank_stage_configs``)."""
    from stages.align import AlignStage
    from stages.detect import DetectStage
    from stages.landmarks import LandmarksStage

    detect, landmarks, align = bank_stage_configs()
    stages: list[Stage] = [DetectStage(detect), LandmarksStage(landmarks), AlignStage(align)]
    return stages, [StageContext(video=info, config=stage.config) for stage in stages]


def face_bank_spec(config: SwapConfig) -> BankSpec | None:
    """Where the bank of ``swap.face`` is (or will be) cached, and what it is built from; None for a
    bank that is read as it is (the bundled one, or a bank file)."""
    from stages.faces.bank import bank_spec, is_bank_file

    check_method(config)
    if not config.face or is_bank_file(config.face):
        return None
    return bank_spec(config.face, config.bank_every, config.bank_faces, repr(bank_stage_configs()))


Progress = Callable[[str, int], AbstractContextManager[Any]]  # (label, total) -> a bar with ``update(stats)``


def open_face_bank(config: SwapConfig, progress: Progress | None = None) -> FaceBank:
    """The bank of ``swap.face``: the bundled one, a bank file, from the cache, or built (with
    ``progress``'s bar when given) and cached."""
    from pathlib import Path

    from stages.faces.bank import build_bank, load_cached, open_bank_sources, open_bank_file

    spec = face_bank_spec(config)
    if spec is None:
        return open_bank_file(config.face or str(bundled_bank_path()))
    bank = load_cached(spec)
    if bank is not None:
        return bank
    opened = open_bank_sources(spec)
    if progress is None:
        return build_bank(spec, opened, bank_face_stages)
    with progress(f"face bank {Path(spec.face).name}", sum(part.frames for part in opened)) as bar:
        return build_bank(spec, opened, bank_face_stages, bar.update)


def bundled_bank_path() -> Path:
    from models import BUNDLED_BANK

    return BUNDLED_BANK


def bundled_identities() -> list[np.ndarray]:
    """The recorded identity of each bundled person (``models.BUNDLED_BANKS``), read without their faces."""
    from models import BUNDLED_BANKS
    from stages.faces.bank import open_bank_identity

    identities = [open_bank_identity(str(path)) for path in BUNDLED_BANKS]  # a bad file: one line, before any frame
    if any(identity is None for identity in identities):
        raise FacepipeError("a bundled face bank has no identity recorded (rebuild it with `facepipe bank`)")
    return identities


class SwapStage(Stage):
    """Paints the chosen faces: with a generator (``swap.model``, or the model that ``open_model``
    opens, e.g. the corpus GAN's multi-identity model painting ``target``, an identity), or from
    the bank of ``swap.face`` (``swap.method = 'bank'``)."""

    name = "swap"
    requires = ("align",)
    Config = SwapConfig

    def __init__(self, config: SwapConfig | None, open_model: OpenModel | None = None,
                 target: str | None = None) -> None:
        super().__init__(config or SwapConfig())
        self.batch_size = self.config.batch_frames
        self.open_model = open_model
        self.target = target or self.config.direction
        self.painter: Painter | None = None
        self.faces_swapped = 0
        self.reference: np.ndarray | None = None
        self._identity: dict[int, tuple[int, float]] = {}  # track id -> (frame checked, distance)
        self.identity_checks = 0

    def open(self, context: StageContext) -> None:
        super().open(context)
        self.reference = context.reference_embedding
        check_selection(self.config, self.reference)
        check_method(self.config)
        method = "pair" if self.open_model else painting_method(self.config)  # an opened model is a pair
        self.painter = SWAP_METHODS.load(method)(self.config, context, self.open_model, self.target)

    def process(self, batch: list[Frame]) -> list[Frame]:
        chosen: list[Face] = []
        indices: list[int] = []
        for frame in batch:
            if self.config.select == "reference":
                self._choose_by_reference(frame)
            else:
                choose_faces(frame.faces, self.config.select, self.config.tracks)
            for face in frame.faces:
                if face.selected and face.crop is not None:
                    chosen.append(face)
                    indices.append(frame.index)
        if not chosen:
            return batch
        self.painter.paint(chosen, indices)
        self.faces_swapped += len(chosen)
        return batch

    def _choose_by_reference(self, frame: Frame) -> None:
        from stages.faces.identity import face_embedding, identity_distance

        for face in frame.faces:
            if face.landmarks is None:
                face.selected = False
                continue
            known = self._identity.get(face.track_id) if face.track_id >= 0 else None
            if known is None or frame.index - known[0] >= RECHECK_FRAMES or frame.index < known[0]:
                distance = identity_distance(face_embedding(frame.image, face.landmarks), self.reference)
                self.identity_checks += 1
                known = (frame.index, distance)
                if face.track_id >= 0:
                    self._identity[face.track_id] = known
            face.selected = known[1] <= self.config.reference_distance

    def summary(self) -> SwapSummary:
        checks = self.identity_checks if self.config.select == "reference" else None
        return SwapSummary(self.faces_swapped, checks)
