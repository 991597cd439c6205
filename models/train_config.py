"""The ``[train]`` table of ``pipeline.toml``. Kept free of torch so that config loading stays cheap."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import option


@dataclass
class TrainConfig:
    """Model shape, optimiser and augmentation settings for ``facepipe train``."""

    resolution: int = option(64, "model input/output crop size (fixed per model)", unit="px", choices=(64, 128, 256))
    threads: int = option(0, "CPU threads for training; 0 = all cores", min=0, max=256)
    width: int = option(32, "channels of the first encoder layer; the network scales from it", min=4, max=512)
    latent: int = option(256, "size of the encoder's dense bottleneck", min=8, max=8192)
    decoder_width: int = option(0, "channels of the decoder's full-resolution layer, doubling towards the code; "
                                "0 = the first 64-px models' thin decoder", min=0, max=512)
    disc_width: int = option(32, "channels of the first discriminator layer", min=4, max=512)
    batch_size: int = option(16, "faces per identity per iteration", unit="faces", min=1, max=1024)
    iterations: int = option(20000, "total iterations to train to (a resumed run continues to this count)", min=1, max=10_000_000)
    lr_g: float = option(3e-4, "generator learning rate (Adam)", min=0.0, max=1.0)
    lr_d: float = option(1e-4, "discriminator learning rate (Adam)", min=0.0, max=1.0)
    beta1: float = option(0.5, "Adam beta1 for both networks", min=0.0, max=0.999)
    ssim_weight: float = option(0.5, "weight of (1 - SSIM) next to L1 in the reconstruction loss", min=0.0, max=100.0)
    adversarial_weight: float = option(0.05, "weight of the LSGAN generator loss; 0 trains a plain autoencoder", min=0.0, max=100.0)
    gan_warmup: int = option(1000, "iterations of reconstruction only before the adversarial loss starts", min=0)
    swap_adversarial: bool = option(False, "also show swapped faces (A->B, B->A) to the discriminators (experimental: "
                                    "with a short training run it paints GAN texture into swaps)")
    parts_weight: float = option(3.0, "extra weight of the eyes and mouth in the reconstruction loss (their error "
                                 "counts 1 + this many times; needs the faceset's landmarks)", min=0.0, max=100.0)
    balance_pose: bool = option(True, "draw training faces evenly over head yaw, so turned heads are not starved by "
                                "frontal ones (needs the faceset's landmarks)")
    init: str = option("auto", "start a new model from trained weights: 'auto' = the bundled model of this shape "
                       "(the default shape starts from 'fast', the 64-px model; a 128-px, decoder_width 24 one from the "
                       "default model), or from scratch when none has it; 'none' = from scratch; or a model folder / "
                       "'fast' / 'bundled' (same shape); the iteration count starts at 0")
    mask_weight: float = option(0.3, "weight of the mask loss (alpha follows the faceset mask, smoothly)", min=0.0, max=100.0)
    warp: float = option(0.05, "random-warp strength (std of grid offsets, fraction of the crop)", min=0.0, max=0.5)
    rotate: float = option(10.0, "random rotation range", unit="degrees", min=0.0, max=180.0)
    zoom: float = option(0.05, "random zoom range (fraction)", min=0.0, max=0.5)
    shift: float = option(0.05, "random shift range (fraction of the crop)", min=0.0, max=0.5)
    flip: float = option(0.5, "probability of a horizontal flip", min=0.0, max=1.0)
    jitter: float = option(0.08, "colour jitter amplitude (brightness, contrast, channel gain)", min=0.0, max=1.0)
    occlusion_mask: bool = option(True, "leave whatever covers the face (hands, fingers, objects) out of the training "
                                  "masks, with the bundled occlusion segmenter, so the decoders never learn to paint it")
    holdout: float = option(0.0, "fraction of the faces kept out of training for the model card's figures", min=0.0, max=0.9)
    holdout_by: str = option("time", "hold out a contiguous block at the end of each clip (time) or whole clips (clip)",
                             choices=("time", "clip"))
    holdout_gap: int = option(25, "time hold-out: frames before each held-out block used neither for training nor "
                              "held out, so no training frame is a neighbour of a held-out one", unit="frames", min=0)
    dedupe_psnr: float = option(35.0, "faces whose crops lie within this PSNR of an earlier one count once "
                                "(the same footage in two files); 0 keeps all", unit="dB", min=0.0, max=100.0)
    preview_every: int = option(250, "iterations between preview grid and loss curve PNGs", min=1)
    save_every: int = option(500, "iterations between checkpoints", min=1)
    seed: int = option(0, "random seed for initialisation and sampling", min=0)
    amp: bool = option(True, "mixed precision on CUDA (ignored on CPU)")
