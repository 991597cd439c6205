"""The GAN training loop behind ``facepipe train``.

One iteration: a batch of each identity is augmented (affine, flip, colour, random warp), the shared
encoder + own decoder must rebuild the unwarped face (masked L1 + SSIM), the mask is regularised, and
after a warm-up each identity's PatchGAN pushes reconstructions (and swaps into that identity) towards
real-looking texture. Checkpoints carry the optimiser state so ``--resume`` continues seamlessly.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from models import losses
from models.augment import AugmentSettings, make_pair_with_maps
from models import model_path
from models.checkpoint import CARD, OPTIMIZER, WEIGHTS, Networks, bundled_with_shape, load_networks, save_weights
from models.family import git_commit, read_card, read_tensors
from models.face_parts import part_maps, pose_weights
from models.faceset_data import Faceset
from models.generator import ModelSpec, composite
from models.optimiser_state import dump_adam, load_adam
from models.preview import loss_curve, preview_grid
from models.train_config import TrainConfig
from pipeline.errors import FacepipeError
from pipeline.media.atomic import write_image

LOSS_KEYS = ("rec_a", "rec_b", "l1_a", "l1_b", "mask", "g_adv", "d_a", "d_b")


def _to_device(faces: np.ndarray, device: torch.device, landmarks: np.ndarray | None = None) -> torch.Tensor:
    """(N,R,R,4) uint8 -> (N,4,R,R) uint8 on the device (a 5th channel, the eyes-and-mouth map, when
    ``landmarks`` are given); float conversion happens per batch."""
    if landmarks is not None:
        faces = np.concatenate([faces, part_maps(landmarks, faces.shape[1])[..., None]], axis=3)
    return torch.from_numpy(np.ascontiguousarray(faces)).permute(0, 3, 1, 2).contiguous().to(device)


def _has_landmarks(fs: Faceset) -> bool:
    return bool(len(fs.train_landmarks)) and bool(np.isfinite(fs.train_landmarks).all(axis=(1, 2)).any())


def amp_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the GPU has it (no loss scaling, no overflow in the GAN terms), else float16."""
    return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16


class Trainer:
    """Owns networks, optimisers, data and history for one model directory."""

    def __init__(self, cfg: TrainConfig, out_dir: Path, faces_a: Faceset, faces_b: Faceset, device: torch.device,
                 resume: bool = False) -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.device = device
        self.faces_a, self.faces_b = faces_a, faces_b
        self.spec = ModelSpec(cfg.resolution, cfg.width, cfg.latent, cfg.decoder_width)
        torch.manual_seed(cfg.seed)
        # Tiny Adam moments / activations turn denormal on CPUs and slow every op by 10-50x.
        torch.set_flush_denormal(True)
        self.rng = torch.Generator(device=device).manual_seed(cfg.seed)
        self.aug = AugmentSettings(cfg.rotate, cfg.zoom, cfg.shift, cfg.flip, cfg.warp, cfg.jitter)
        parts = cfg.parts_weight > 0 and _has_landmarks(faces_a) and _has_landmarks(faces_b)
        self.data_a = _to_device(faces_a.train, device, faces_a.train_landmarks if parts else None)
        self.data_b = _to_device(faces_b.train, device, faces_b.train_landmarks if parts else None)
        self.draw_a = self._draw_weights(faces_a)
        self.draw_b = self._draw_weights(faces_b)
        self.iteration = 0
        self.history: dict[str, list[float]] = {k: [] for k in LOSS_KEYS}
        self.history_its: list[int] = []
        self.wall_seconds = 0.0
        self.card_extra: dict[str, Any] = {}
        if resume:
            self.nets = self._resume()
        else:
            self.nets = Networks(self.spec, cfg.disc_width).to(device)
            source = init_source(cfg.init, self.spec, cfg.disc_width)
            if source is not None:
                self._start_from(source)
            mask = np.concatenate([faces_a.train[..., 3], faces_b.train[..., 3]]).astype(np.float32).mean(0) / 255.0
            self.nets.face_mask.copy_(torch.from_numpy(mask)[None, None].to(device))
        g_params = list(self.nets.g.parameters())
        d_params = list(self.nets.d_a.parameters()) + list(self.nets.d_b.parameters())
        self.opt_g = torch.optim.Adam(g_params, lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(d_params, lr=cfg.lr_d, betas=(cfg.beta1, 0.999))
        self.amp = cfg.amp and device.type == "cuda"
        self.amp_dtype = amp_dtype(device)
        scale = self.amp and self.amp_dtype == torch.float16  # bfloat16 has float32's range: nothing to scale
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=scale)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=scale)
        if resume:
            self._load_optimisers()
        self.preview_idx_a = self._preview_indices(faces_a)
        self.preview_idx_b = self._preview_indices(faces_b)

    # ------------------------------------------------------------------ resume / save
    def _start_from(self, source: Path) -> None:
        """Copy a trained model's weights (generator and discriminators) into this new model.

        Why: a model pretrained on many people (DeepFaceLab's pretraining) has an encoder that already
        knows poses, expressions and lighting beyond the two identities; the swap pair then only
        teaches the decoders who to paint. Shapes must match; the iteration count starts at 0.
        """
        nets, card = load_networks(source, spec=self.spec, disc_width=self.cfg.disc_width)
        state = nets.state_dict()
        state["face_mask"] = self.nets.face_mask  # this model's average mask comes from its own faces
        self.nets.load_state_dict(state)
        self.card_extra["initialised_from"] = {"model": str(source), "sha256": card.sha256,
                                               "iterations": card.record.get("iterations"), "data": card.record.get("data")}

    def _draw_weights(self, fs: Faceset) -> torch.Tensor | None:
        """Per-face draw probabilities (even over head yaw), or None for uniform draws."""
        if not self.cfg.balance_pose or not _has_landmarks(fs):
            return None
        return torch.from_numpy(pose_weights(fs.train_landmarks)).float().to(self.device)

    def _resume(self) -> Networks:
        if not (self.out_dir / WEIGHTS).is_file():
            raise FacepipeError(f"--resume: no checkpoint in {self.out_dir} (expected {WEIGHTS})")
        nets, card = load_networks(self.out_dir, spec=self.spec, disc_width=self.cfg.disc_width)
        self.iteration = int(card.record.get("iterations", 0))
        if "initialised_from" in card.record:
            self.card_extra["initialised_from"] = card.record["initialised_from"]
        self.wall_seconds = float(card.record.get("training", {}).get("wall_seconds", 0.0))
        return nets.to(self.device)

    def _load_optimisers(self) -> None:
        path = self.out_dir / OPTIMIZER
        if not path.is_file():
            raise FacepipeError(f"--resume: {path} missing; cannot continue the optimiser state")
        tensors, meta = read_tensors(path)
        try:
            step = int(tensors.pop("iteration").item())
            for name, opt in (("g", self.opt_g), ("d", self.opt_d)):
                load_adam(opt, tensors, name, json.loads(meta[f"{name}_groups"]))
            for name, scaler in (("g", self.scaler_g), ("d", self.scaler_d)):
                if scaler.is_enabled() and f"{name}_scaler" in meta:
                    scaler.load_state_dict(json.loads(meta[f"{name}_scaler"]))
            its = tensors.pop("history.iteration", torch.zeros(0)).long().tolist()
            self.history = {k: tensors.pop(f"history.{k}", torch.zeros(0)).tolist() for k in LOSS_KEYS}
            self.history_its = its
        except (KeyError, ValueError, RuntimeError) as exc:
            raise FacepipeError(f"{path}: optimiser state does not fit this model ({exc})") from None
        if step != self.iteration:
            raise FacepipeError(f"{path}: optimiser state is from iteration {step}, weights from {self.iteration}")

    def save(self, losses_now: dict[str, float] | None = None, evaluation: dict[str, Any] | None = None) -> None:
        """Weights, optimiser state and card; each file is replaced atomically."""
        opt_tensors: dict[str, torch.Tensor] = {"iteration": torch.tensor(self.iteration, dtype=torch.int64)}
        meta: dict[str, str] = {}
        for name, opt in (("g", self.opt_g), ("d", self.opt_d)):
            t, groups = dump_adam(opt, name)
            opt_tensors.update(t)
            meta[f"{name}_groups"] = json.dumps(groups)
        if self.scaler_g.is_enabled():
            meta["g_scaler"] = json.dumps(self.scaler_g.state_dict())
            meta["d_scaler"] = json.dumps(self.scaler_d.state_dict())
        opt_tensors["history.iteration"] = torch.tensor(self.history_its, dtype=torch.int64)
        for k in LOSS_KEYS:
            opt_tensors[f"history.{k}"] = torch.tensor(self.history[k], dtype=torch.float32)
        if evaluation is not None:
            self.card_extra["evaluation"] = evaluation
        save_weights(self.nets, self.out_dir, self.card(losses_now), opt_tensors, meta)

    def card(self, losses_now: dict[str, float] | None) -> dict[str, Any]:
        if losses_now is None and self.history_its:
            losses_now = {k: v[-1] for k, v in self.history.items() if v}
        data = {}
        for ident, fs in (("a", self.faces_a), ("b", self.faces_b)):
            data[ident] = {"facesets": fs.sources, "clips": fs.clips, "train_faces": int(len(fs.train)), "held_out_faces": int(len(fs.held)),
                           "duplicates_dropped": fs.duplicates, "gap_faces": fs.gap_faces, "held_out_by": fs.split,
                           "prepared": fs.prepared}
        data["align"] = self.faces_a.align or self.faces_b.align
        return {
            "description": "facepipe GAN face-swap model: shared encoder, decoders A and B (RGB + mask), PatchGAN per identity",
            "iterations": self.iteration,
            "git_commit": git_commit(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "data": data,
            "losses": {k: round(float(v), 5) for k, v in (losses_now or {}).items()},
            "training": {"config": asdict(self.cfg), "device": str(self.device), "torch": torch.__version__,
                         "threads": torch.get_num_threads(), "wall_seconds": round(self.wall_seconds, 1),
                         "iterations_per_second": round(self.iteration / self.wall_seconds, 3) if self.wall_seconds else None},
            **self.card_extra,
        }

    # ------------------------------------------------------------------ one iteration
    def _batch(self, data: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        if weights is None:
            idx = torch.randint(0, data.shape[0], (self.cfg.batch_size,), generator=self.rng, device=self.device)
        else:
            idx = torch.multinomial(weights, self.cfg.batch_size, replacement=True, generator=self.rng)
        return data[idx].float().div_(255.0)

    def step(self) -> dict[str, float]:
        cfg, nets = self.cfg, self.nets
        g = nets.g
        wa, ta, ma, pa = make_pair_with_maps(self._batch(self.data_a, self.draw_a), self.aug, self.rng)
        wb, tb, mb, pb = make_pair_with_maps(self._batch(self.data_b, self.draw_b), self.aug, self.rng)
        use_gan = cfg.adversarial_weight > 0 and self.iteration >= cfg.gan_warmup
        autocast = torch.autocast("cuda", dtype=self.amp_dtype) if self.amp else nullcontext()
        face_mask = nets.face_mask
        with autocast:
            code_a, code_b = g.encoder(wa), g.encoder(wb)
            rgb_aa, al_aa = g.decoder_a(code_a)
            rgb_bb, al_bb = g.decoder_b(code_b)
            out_aa, out_bb = composite(rgb_aa, al_aa, wa), composite(rgb_bb, al_bb, wb)
        out = {}
        # Losses in float32: SSIM is sensitive to half precision.
        rec_a, out["l1_a"] = _rec(out_aa.float(), rgb_aa.float(), ta, ma, cfg.ssim_weight, pa, cfg.parts_weight)
        rec_b, out["l1_b"] = _rec(out_bb.float(), rgb_bb.float(), tb, mb, cfg.ssim_weight, pb, cfg.parts_weight)
        mask_loss = losses.mask_regulariser(al_aa.float(), ma) + losses.mask_regulariser(al_bb.float(), mb)
        loss_g = rec_a + rec_b + cfg.mask_weight * mask_loss
        fakes_a, fakes_b = out_aa, out_bb
        if use_gan:
            if cfg.swap_adversarial:
                half = max(1, cfg.batch_size // 2)
                with autocast:
                    rgb_ab, al_ab = g.decoder_b(code_a[:half])
                    rgb_ba, al_ba = g.decoder_a(code_b[:half])
                fakes_b = torch.cat([out_bb, composite(rgb_ab, al_ab, wa[:half])])
                fakes_a = torch.cat([out_aa, composite(rgb_ba, al_ba, wb[:half])])
            _requires_grad(nets.d_a, False)
            _requires_grad(nets.d_b, False)
            with autocast:
                adv = losses.adversarial_g(nets.d_a(fakes_a * face_mask).float()) + losses.adversarial_g(nets.d_b(fakes_b * face_mask).float())
            loss_g = loss_g + cfg.adversarial_weight * adv
            out["g_adv"] = adv
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss_g).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        if cfg.adversarial_weight > 0:
            _requires_grad(nets.d_a, True)
            _requires_grad(nets.d_b, True)
            with autocast:
                d_a = losses.adversarial_d(nets.d_a(ta * face_mask).float(), nets.d_a(fakes_a.detach() * face_mask).float())
                d_b = losses.adversarial_d(nets.d_b(tb * face_mask).float(), nets.d_b(fakes_b.detach() * face_mask).float())
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(d_a + d_b).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            out["d_a"], out["d_b"] = d_a, d_b
        out.update(rec_a=rec_a, rec_b=rec_b, mask=mask_loss)
        self.iteration += 1
        values = {k: float(v.detach()) for k, v in out.items()}
        if not all(np.isfinite(v) for v in values.values()):
            raise FacepipeError(f"training diverged at iteration {self.iteration} (loss is NaN/inf); lower train.lr_g/lr_d or resume from the last checkpoint")
        return values

    # ------------------------------------------------------------------ previews
    @staticmethod
    def _preview_indices(fs: Faceset) -> tuple[str, np.ndarray]:
        """Fixed faces for the preview: held-out ones when there are any, spread across the set."""
        source = "held" if len(fs.held) >= 3 else "train"
        n = len(getattr(fs, source))
        return source, np.linspace(0, n - 1, min(6, n)).round().astype(int)

    @torch.no_grad()
    def preview(self) -> np.ndarray:
        was_training = self.nets.training
        self.nets.eval()
        g = self.nets.g
        rows: list[np.ndarray] = []
        for (src, idx), fs, own, other in ((self.preview_idx_a, self.faces_a, "a", "b"), (self.preview_idx_b, self.faces_b, "b", "a")):
            x = torch.from_numpy(getattr(fs, src)[idx][..., :3]).permute(0, 3, 1, 2).float().div(255).to(self.device)
            code = g.encoder(x)
            row = [x]
            for ident in (own, other):
                rgb, alpha = g.decoder(ident)(code)
                row.append(composite(rgb, alpha, x))
            rows += [(r.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()) for r in row]
        self.nets.train(was_training)
        return preview_grid(rows)

    def write_pictures(self) -> None:
        write_image(self.out_dir / "preview.png", self.preview())
        write_image(self.out_dir / "losses.png", loss_curve(self.history, self.history_its))

    # ------------------------------------------------------------------ the loop
    def run(self, until: int, on_step: Callable[[int, dict[str, float], float], None] | None = None,
            on_save: Callable[[int], None] | None = None, max_seconds: float | None = None) -> dict[str, float]:
        """Train to ``until`` total iterations (or for ``max_seconds``); checkpoint every ``save_every`` and on Ctrl-C."""
        deadline = time.monotonic() + max_seconds if max_seconds else None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.nets.train()
        running: dict[str, float] = {}
        recent: dict[str, list[float]] = {}
        t_last = time.perf_counter()
        try:
            while self.iteration < until and (deadline is None or time.monotonic() < deadline):
                t0 = time.perf_counter()
                values = self.step()
                self.wall_seconds += time.perf_counter() - t0
                for k, v in values.items():
                    recent.setdefault(k, []).append(v)
                running = {k: float(np.mean(v[-50:])) for k, v in recent.items()}
                if self.iteration % 10 == 0 or self.iteration == until:
                    self.history_its.append(self.iteration)
                    for k in LOSS_KEYS:
                        self.history[k].append(float(np.mean(recent[k][-10:])) if k in recent else float("nan"))
                now = time.perf_counter()
                if on_step:
                    on_step(self.iteration, running, now - t_last)
                t_last = now
                if self.iteration % self.cfg.preview_every == 0:
                    self.write_pictures()
                if self.iteration % self.cfg.save_every == 0:
                    self.save(running)
                    if on_save:
                        on_save(self.iteration)
        except KeyboardInterrupt:
            self.save(running or None)
            self.write_pictures()
            raise
        self.write_pictures()
        self.save(running or None)
        return running


def _rec(out: torch.Tensor, rgb: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, ssim_weight: float,
         parts: torch.Tensor, parts_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction of the composite, plus half-weight on the raw face so it is good under any alpha.
    ``parts`` (N,0|1,H,W): the eyes-and-mouth map, empty when the faceset has no landmarks."""
    parts_or_none = parts if parts.shape[1] else None
    loss, l1 = losses.reconstruction(out, target, mask, ssim_weight, parts_or_none, parts_weight)
    raw, _ = losses.reconstruction(rgb, target, mask, ssim_weight, parts_or_none, parts_weight)
    return loss + 0.5 * raw, l1


def _requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def init_source(setting: str, spec: ModelSpec, disc_width: int) -> Path | None:
    """The model a new pair starts from (``train.init``), or None for random weights.

    Why 'auto' is the default: twelve CPU minutes from random weights leave a blur with dark eye
    sockets, while the same minutes from a trained model give a face; a pretrained start is what
    makes a user's own pair usable, so it is taken whenever a bundled model has the run's shape.
    """
    if setting in ("", "none"):
        return None
    if setting != "auto":
        return model_path(setting)
    found = bundled_with_shape(spec)
    if found is None:
        return None
    card = read_card(found / CARD)
    bundled_disc = (card.record if card else {}).get("spec", {}).get("disc_width")
    return found if bundled_disc == disc_width else None


def set_threads(threads: int) -> None:
    """0 = all cores (as the [train] threads option documents).

    Denormal flushing is switched on first: worker threads inherit the setting only if it is made
    before the thread pool starts.
    """
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads or os.cpu_count() or 1)
