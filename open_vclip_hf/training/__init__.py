# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Fine-tuning Open-VCLIP (method doc sections 3 and 4): the recipe, the Interpolated Weight Optimization regularizer,
SWA and test-time patching. `examples/train_openvclip.py` puts them together under `accelerate launch`."""

from ..convert import write_patched_model
from .recipe import (
    AugmentationParams,
    TrainAugmentation,
    TrainingProgress,
    VideoClassificationDataset,
    collate_videos,
    enable_activation_checkpointing,
    freeze_text_tower,
    numbered_folders,
    official_lr_lambda,
    parameter_groups,
)
from .regularizer import InterpolatedLoss, InterpolatedWeightRegularizer
from .swa import average_checkpoints, epoch_of_checkpoint, select_epoch_checkpoints, write_swa_model

__all__ = [
    "AugmentationParams", "InterpolatedLoss", "InterpolatedWeightRegularizer", "TrainAugmentation", "TrainingProgress",
    "VideoClassificationDataset", "average_checkpoints", "collate_videos", "enable_activation_checkpointing",
    "epoch_of_checkpoint", "freeze_text_tower", "numbered_folders", "official_lr_lambda", "parameter_groups",
    "select_epoch_checkpoints", "write_patched_model", "write_swa_model",
]  # fmt: skip
