"""Networks, model files and training. Every model kind is saved and loaded by ``models.family``;
the architectures a file can name are listed in ``ARCHITECTURES``."""

from __future__ import annotations

from pathlib import Path

from pipeline.registry import Registry

# The bundled swap models by the names every model setting (``swap.model``, ``train.init``) accepts
# besides a path; here, free of torch, so that `facepipe doctor` and config checks can resolve them.
BUNDLED_MODELS = {
    "bundled": Path(__file__).resolve().parent / "bundled",  # the default: 128 px, trained on a GPU
    "fast": Path(__file__).resolve().parent / "bundled_fast",  # 64 px: live's profile, the corpus GAN's start
}

# The face banks painted in when `swap.face` is empty: each face gets the bundled person it looks most
# like, never itself (the retrieval swap's default people, see README.md). The man comes first.
BUNDLED_BANK = Path(__file__).resolve().parent / "bundled_bank" / "bank.npz"
BUNDLED_BANKS = (BUNDLED_BANK, Path(__file__).resolve().parent / "bundled_bank" / "woman.npz")
# The visible-face segmenter every convert and live run uses (``models.segmenter``, ``models.segmenter_cpu``).
BUNDLED_SEGMENTER = Path(__file__).resolve().parent / "segmenter" / "segmenter.safetensors"


def model_path(setting: str | Path | None) -> Path:
    """A model setting as a path: empty or ``bundled`` = the default model, ``fast`` = the 64-px one."""
    if not setting:
        return BUNDLED_MODELS["bundled"]
    return BUNDLED_MODELS.get(str(setting), Path(setting))


# Every network a model file can hold, by the architecture its safetensors header names. Each class
# implements ``models.family.ModelNet`` (kind, file stem, header/from_header, input contract), so the
# one loader (``models.family.load_model_file``) can build and check it; a new kind is one line here.
ARCHITECTURES = Registry("model architecture", {
    "facepipe-deepfakes-gan-v1": "models.checkpoint:Networks",  # swap pair: shared encoder, decoders A and B, PatchGANs
    "facepipe-deepfakes-gan-multi-v1": "models.multi_identity:MultiGenerator",  # one decoder per identity (corpus GAN)
    "facepipe-xseg-unet-v1": "models.segmenter:SegmenterNet",  # visible-face segmenter for occlusion-aware blending
    # deepfake detectors (models.detectors.DETECTORS lists these as detector.architecture's choices)
    "meso4": "models.detectors.meso4:Meso4",
    "mesoinception4": "models.detectors.mesoinception4:MesoInception4",
    "xceptionmini": "models.detectors.xceptionmini:XceptionMini",
})
