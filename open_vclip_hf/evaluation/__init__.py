# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Zero-shot evaluation with the official Open-VCLIP protocols (method doc sections 5 and 7): `open-vclip evaluate`,
[`evaluate_protocol`]: split files (`protocols`), evaluation loop (`runner`), reports (`report`), top-k metric."""
# isort: skip_file

from .protocols import (
    PROTOCOL_SPLITS, PROTOCOLS, hmdb51_class_name, kinetics_class_names, read_hmdb51, read_k400, read_k600,
    read_protocol, read_ucf101, ucf101_class_name,
)  # fmt: skip
from .report import REPORT_FORMAT, markdown_report, plot_patch_sweep, summarize, write_report
from .runner import (
    OFFICIAL_SAMPLING, TOPK_ACCURACY_PATH, EvaluationResult, Run, SplitResult, evaluate_splits, load_topk_accuracy,
    make_runs, temporal_attention,
)  # fmt: skip
from .zero_shot import evaluate_protocol, parse_ratios

__all__ = [
    "OFFICIAL_SAMPLING", "PROTOCOLS", "PROTOCOL_SPLITS", "REPORT_FORMAT", "TOPK_ACCURACY_PATH", "EvaluationResult",
    "Run", "SplitResult", "evaluate_protocol", "evaluate_splits", "hmdb51_class_name", "kinetics_class_names",
    "load_topk_accuracy", "make_runs", "markdown_report", "parse_ratios", "plot_patch_sweep", "read_hmdb51",
    "read_k400", "read_k600", "read_protocol", "read_ucf101", "summarize", "temporal_attention", "ucf101_class_name",
    "write_report",
]  # fmt: skip
