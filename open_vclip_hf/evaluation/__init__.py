# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Zero-shot evaluation with the official Open-VCLIP protocols (method doc sections 5 and 7): `open-vclip evaluate`.

- `protocols`: readers of the official split files (UCF101, HMDB51, K600 new classes, K400; custom lists through
  `open_vclip_hf.data`) and the class-name rules;
- `runner`: decoding in DataLoader workers, 3 views with summed logits, patch-ratio and frame-wise runs;
- `metrics/topk_accuracy`: the `evaluate` metric module (shipped, works offline);
- `report`: JSON, markdown table and patch-sweep plot;
- `zero_shot.evaluate_protocol`: all of it in one call.
"""

from .protocols import (
    PROTOCOL_SPLITS,
    PROTOCOLS,
    hmdb51_class_name,
    kinetics_class_names,
    read_hmdb51,
    read_k400,
    read_k600,
    read_protocol,
    read_ucf101,
    ucf101_class_name,
)
from .report import REPORT_FORMAT, markdown_report, plot_patch_sweep, summarize, write_report
from .runner import (
    OFFICIAL_SAMPLING,
    TOPK_ACCURACY_PATH,
    EvaluationResult,
    Run,
    SplitResult,
    evaluate_splits,
    load_topk_accuracy,
    make_runs,
    temporal_attention,
)
from .zero_shot import evaluate_protocol, parse_ratios

__all__ = [
    "OFFICIAL_SAMPLING",
    "PROTOCOLS",
    "PROTOCOL_SPLITS",
    "REPORT_FORMAT",
    "TOPK_ACCURACY_PATH",
    "EvaluationResult",
    "Run",
    "SplitResult",
    "evaluate_protocol",
    "evaluate_splits",
    "hmdb51_class_name",
    "kinetics_class_names",
    "load_topk_accuracy",
    "make_runs",
    "markdown_report",
    "parse_ratios",
    "plot_patch_sweep",
    "read_hmdb51",
    "read_k400",
    "read_k600",
    "read_protocol",
    "read_ucf101",
    "summarize",
    "temporal_attention",
    "ucf101_class_name",
    "write_report",
]
