"""The deepfakes generator: one shared encoder, one decoder per identity, RGBA output.

Why this shape: the encoder is trained on both identities, so it learns pose, expression and lighting
but not who the face is; each decoder learns to paint one identity. Swapping A->B is "encode A, decode
with B's decoder". The dense bottleneck forces the encoder to drop pixel detail (and with it identity),
which is what makes the swap work. The decoder also predicts a mask (alpha), as faceswap-GAN does, so
the generator only paints the face and the rest of the crop is passed through from the input.

Tensors are NCHW, BGR channel order, values in [0, 1] at the model's resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

ARCHITECTURE = "facepipe-deepfakes-gan-v1"
RESOLUTIONS = (64, 128, 256)


@dataclass(frozen=True)
class ModelSpec:
    """Everything that fixes the tensor shapes of a model; stored in every checkpoint."""

    resolution: int = 64  # crop side in pixels
    width: int = 32  # channels of the first encoder layer; the rest scale from it
    latent: int = 256  # size of the dense bottleneck
    # Channels of the decoder's last (full-resolution) layer, doubling towards the 8x8 code. 0 keeps
    # the first models' thin decoder (width*4 at 8x8, halving to width/2), so their files still load;
    # a 128-px face needs the wider one to paint lips, teeth and eyelids rather than a smear.
    decoder_width: int = 0

    def check(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution {self.resolution} not supported (one of {RESOLUTIONS})")
        if self.width < 4 or self.latent < 8:
            raise ValueError("width must be >= 4 and latent >= 8")
        if self.decoder_width and self.decoder_width < 4:
            raise ValueError("decoder_width must be 0 (the first models' decoder) or >= 4")

    def decoder_channels(self) -> list[int]:
        """Output channels of each decoder upscale, 8x8 code to full resolution."""
        steps = int(math.log2(self.resolution // 8))
        if self.decoder_width:
            return [self.decoder_width * 2 ** (steps - 1 - i) for i in range(steps)]
        chans, cin = [], Encoder.out_channels(self)
        for _ in range(steps):
            cin = max(cin // 2, self.width // 2, 8)
            chans.append(cin)
        return chans

    def header(self) -> dict[str, str]:
        """The shape as safetensors metadata; ``decoder_width`` only when set, so old files read the same."""
        meta = {"resolution": str(self.resolution), "width": str(self.width), "latent": str(self.latent)}
        if self.decoder_width:
            meta["decoder_width"] = str(self.decoder_width)
        return meta

    @classmethod
    def from_header(cls, meta: dict[str, str]) -> "ModelSpec":
        """The inverse of :meth:`header`; KeyError/ValueError when malformed."""
        return cls(int(meta["resolution"]), int(meta["width"]), int(meta["latent"]), int(meta.get("decoder_width", 0)))

    @property
    def down_steps(self) -> int:
        """Stride-2 convolutions from the input down to a 4x4 map."""
        return int(math.log2(self.resolution // 4))

    def encoder_channels(self) -> list[int]:
        # Double per step, capped so that 128/256-px models do not explode in size.
        return [min(self.width * 2**i, self.width * 8) for i in range(self.down_steps)]


class _Down(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        # 5x5 on the image itself (cheap at 3 input channels), 3x3 after that for speed on CPUs.
        k = 5 if cin == 3 else 3
        super().__init__(nn.Conv2d(cin, cout, k, stride=2, padding=k // 2), nn.LeakyReLU(0.1, inplace=True))


class _Up(nn.Sequential):
    """Conv to 4x channels + pixel shuffle: the deepfakes "UpScale" block (no checkerboard artefacts)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.LeakyReLU(0.1, inplace=True), nn.PixelShuffle(2))


class _Residual(nn.Module):
    """A cheap residual block at the decoder's highest-but-one scale; sharpens detail at small cost."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(x + self.conv2(y), 0.2)


class Encoder(nn.Module):
    """Crop -> 8x8 feature map through a dense bottleneck (identity-agnostic code)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        chans = spec.encoder_channels()
        layers: list[nn.Module] = []
        cin = 3
        for cout in chans:
            layers.append(_Down(cin, cout))
            cin = cout
        self.down = nn.Sequential(*layers)
        self.flat = cin * 16
        self.bottleneck = nn.Linear(self.flat, spec.latent)
        self.expand = nn.Linear(spec.latent, self.flat)
        self.channels = cin
        self.up = _Up(cin, self.out_channels(spec))

    @staticmethod
    def out_channels(spec: ModelSpec) -> int:
        """Channels of the 8x8 code the decoders read (the wide decoder's first upscale keeps them)."""
        return spec.decoder_width * 2 ** (int(math.log2(spec.resolution // 8)) - 1) if spec.decoder_width else spec.width * 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down(x * 2.0 - 1.0)
        h = self.expand(self.bottleneck(h.flatten(1)))
        return self.up(h.view(-1, self.channels, 4, 4))


class Decoder(nn.Module):
    """8x8 code -> RGB face + alpha mask at full resolution."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        chans = spec.decoder_channels()
        steps = len(chans)
        cin = Encoder.out_channels(spec)
        layers: list[nn.Module] = []
        for i, cout in enumerate(chans):
            layers.append(_Up(cin, cout))
            if i == steps - 2:
                layers.append(_Residual(cout))
            cin = cout
        self.up = nn.Sequential(*layers)
        self.rgb = nn.Conv2d(cin, 3, 5, padding=2)
        self.alpha = nn.Conv2d(cin, 1, 5, padding=2)

    def forward(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.up(code)
        return torch.sigmoid(self.rgb(h)), torch.sigmoid(self.alpha(h))


class Generator(nn.Module):
    """Shared encoder plus decoders ``a`` and ``b``."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        spec.check()
        self.spec = spec
        self.encoder = Encoder(spec)
        self.decoder_a = Decoder(spec)
        self.decoder_b = Decoder(spec)

    def decoder(self, identity: str) -> Decoder:
        return self.decoder_a if identity == "a" else self.decoder_b

    def forward(self, x: torch.Tensor, identity: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Paint ``identity`` onto ``x``: returns (composite, raw rgb, alpha)."""
        rgb, alpha = self.decoder(identity)(self.encoder(x))
        return composite(rgb, alpha, x), rgb, alpha


def composite(rgb: torch.Tensor, alpha: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Generator face where alpha says so, the input crop elsewhere."""
    return alpha * rgb + (1.0 - alpha) * background
