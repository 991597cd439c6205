"""Adam state in a safetensors file: flat tensors plus JSON parameter groups (safetensors holds tensors only).

Both trainers (the swap pair's and the multi-identity one's) resume through these, so a resumed run
continues with the moments it stopped with rather than a cold optimiser.
"""

from __future__ import annotations

import json
from typing import Any

import torch


def dump_adam(opt: torch.optim.Optimizer, name: str) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Optimiser state as flat tensors + JSON param groups (safetensors holds tensors only)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"{name}.{idx}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    groups = [{k: v for k, v in group.items()} for group in sd["param_groups"]]
    return tensors, json.loads(json.dumps(groups, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


def load_adam(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], name: str, groups: list[dict[str, Any]]) -> None:
    """Restore ``dump_adam``'s output into ``opt``; ValueError when the parameter groups differ."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    prefix = f"{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field = key[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[field] = value
    current = opt.state_dict()
    if len(groups) != len(current["param_groups"]) or any(len(a["params"]) != len(b["params"]) for a, b in zip(groups, current["param_groups"])):
        raise ValueError("parameter groups differ")
    for g_saved, g_now in zip(groups, current["param_groups"]):
        g_saved["betas"] = tuple(g_saved.get("betas", g_now["betas"]))
        # The configured learning rates win over the saved ones, so a resume can change them.
        g_saved["lr"] = g_now["lr"]
    opt.load_state_dict({"state": state, "param_groups": groups})
