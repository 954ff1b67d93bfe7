"""Randomly initialised checkpoint files of the full perception backends, written where the registry
looks for them: no download, and each in the format its backend loads."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from vidcli.models import registry


def write_yolo() -> None:
    """A YOLOv8n built from its model YAML, saved as yolov8x.pt, its person logit raised (and the other
    classes' lowered) so that it finds people everywhere."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolov8n.yaml", task="detect")
    for branch in model.model.model[-1].cv3:  # per-level class logits
        branch[-1].bias.data[:] = -10.0
        branch[-1].bias.data[0] = 10.0
    model.save(str(registry.local_path("yolov8x")))


def write_sam_vit_b() -> None:
    """A random SAM vit_b state dict, in float16 (half the bytes; loading casts it back)."""
    import torch
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    state = {k: v.half() for k, v in sam_model_registry["vit_b"]().state_dict().items()}
    torch.save(state, registry.local_path("sam_vit_b"))


def write_vitpose(keypoints: int = 17, experts: int = 1, name: str = "vitpose_base") -> None:
    """A tiny ViTPose (2 layers, width 32, 64x48 input) with `keypoints` heatmaps, in the hub folder of
    checkpoint `name`; with `experts` > 1 a ViTPose+ backbone (one MLP expert per dataset)."""
    import torch
    from transformers import (VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation,
                              VitPoseImageProcessor)

    folder = registry.local_path(name)
    torch.manual_seed(0)
    backbone = VitPoseBackboneConfig(image_size=[64, 48], patch_size=[16, 16], hidden_size=32,
                                     num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                     out_indices=[2], num_experts=experts, part_features=8)
    network = VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, num_labels=keypoints))
    network.eval().save_pretrained(folder)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(folder)


def home_with(folder: Path, write: Callable[[], None]) -> Path:
    """`folder` made a VIDCLI_HOME whose checkpoints `write` puts there (VIDCLI_HOME set only meanwhile)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VIDCLI_HOME", str(folder))
        registry.checkpoint_dir().mkdir()
        write()
    return folder
