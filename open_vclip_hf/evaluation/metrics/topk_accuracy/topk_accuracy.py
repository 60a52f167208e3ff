# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Top-k accuracy from class scores: an `evaluate` metric module shipped inside `open_vclip_hf`, so that
`evaluate.load(<this folder>)` works offline."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
Top-k accuracy: the fraction of samples whose reference class is among the k classes with the highest scores.
A sample counts as correct at k when fewer than k classes score strictly higher than its reference class, so ties
are resolved in favour of the reference (they do not occur with real-valued logits).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): one score per class for every sample (logits or probabilities).
    references (`list` of `int`): the index of the correct class of every sample.
    k (`int` or `list` of `int`, defaults to `[1, 5]`): the k values to report.

Returns:
    `top{k}` (`float`) for every k: accuracy in [0, 1]; and `num_samples` (`int`).

Examples:
    >>> metric = evaluate.load("open_vclip_hf/evaluation/metrics/topk_accuracy")
    >>> metric.compute(predictions=[[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]], references=[1, 2], k=[1, 2])
    {'top1': 0.5, 'top2': 0.5, 'num_samples': 2}
"""

_CITATION = """
@inproceedings{weng2023openvclip,
  title={Open-VCLIP: Transforming CLIP to an Open-vocabulary Video Model via Interpolated Weight Optimization},
  author={Weng, Zejia and Yang, Xitong and Li, Ang and Wu, Zuxuan and Jiang, Yu-Gang},
  booktitle={International Conference on Machine Learning},
  year={2023}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TopkAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, k=(1, 5)):
        ks = [k] if isinstance(k, int) else list(k)
        if not ks or any(value < 1 for value in ks):
            raise ValueError(f"k must be positive integers, got {k!r}")
        scores = np.asarray(predictions, dtype=np.float32)
        references = np.asarray(references, dtype=np.int64)
        if scores.ndim != 2 or len(scores) != len(references):
            raise ValueError(f"predictions must be (samples, classes) scores, got shape {scores.shape}")
        if len(references) and not ((references >= 0) & (references < scores.shape[1])).all():
            raise ValueError(f"references must be class indices in 0..{scores.shape[1] - 1}")
        reference_scores = scores[np.arange(len(references)), references]
        higher = (scores > reference_scores[:, None]).sum(axis=1)
        results = {f"top{value}": float((higher < value).mean()) if len(references) else float("nan") for value in ks}
        results["num_samples"] = len(references)
        return results
