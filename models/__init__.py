"""Networks, checkpoints and training. Architectures are listed by name in ``ARCHITECTURES``.

A checkpoint's safetensors header names its architecture; the loader looks the class up here and
builds it from the header (``Class.from_header(meta)``), so a new architecture is one module with
that class method plus one line in the table, and the file format and its checks stay shared.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.registry import Registry

# The bundled swap models by the names every model setting (``swap.model``, ``train.init``) accepts
# besides a path; here, free of torch, so that `facepipe doctor` and config checks can resolve them.
BUNDLED_MODELS = {
    "bundled": Path(__file__).resolve().parent / "bundled",  # the default: 128 px, trained on a GPU
    "fast": Path(__file__).resolve().parent / "bundled_fast",  # 64 px: live's profile, the corpus GAN's start
}



def model_path(setting: str | Path | None) -> Path:
    """A model setting as a path: empty or ``bundled`` = the default model, ``fast`` = the 64-px one."""
    if not setting:
        return BUNDLED_MODELS["bundled"]
    return BUNDLED_MODELS.get(str(setting), Path(setting))


ARCHITECTURES = Registry("model architecture", {
    "facepipe-deepfakes-gan-v1": "models.checkpoint:Networks",  # shared encoder, decoders A and B, PatchGANs
})

# Face segmenters (visible-face masks for occlusion-aware blending); same header/from_header contract.
SEGMENTERS = Registry("segmenter architecture", {
    "facepipe-xseg-unet-v1": "models.segmenter:SegmenterNet",  # small U-Net, trained with synthetic occluders
})
