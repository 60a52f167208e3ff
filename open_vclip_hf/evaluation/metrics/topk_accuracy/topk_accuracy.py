# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Top-k accuracy: the fraction of samples whose reference class is among the k classes with the highest scores (ties
count in favour of the reference). An `evaluate` metric module shipped inside `open_vclip_hf`: it loads offline."""

import datasets
import evaluate
import numpy as np

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): one score per class for every sample (logits or probabilities).
    references (`list` of `int`): the index of the correct class of every sample.
    k (`int` or `list` of `int`, defaults to `[1, 5]`): the k values to report.
Returns:
    `top{k}` (`float`, in [0, 1]) for every k, and `num_samples` (`int`).
"""

_CITATION = """
@inproceedings{weng2023openvclip,
  title={Open-VCLIP: Transforming CLIP to an Open-vocabulary Video Model via Interpolated Weight Optimization},
  author={Weng, Zejia and Yang, Xitong and Li, Ang and Wu, Zuxuan and Jiang, Yu-Gang},
  booktitle={International Conference on Machine Learning}, year={2023}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class TopkAccuracy(evaluate.Metric):
    def _info(self):
        features = {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(features),
        )

    def _compute(self, predictions, references, k=(1, 5)):
        ks = [k] if isinstance(k, int) else list(k)
        if not ks or any(value < 1 for value in ks):
            raise ValueError(f"k must be positive integers, got {k!r}")
        scores, references = np.asarray(predictions, dtype=np.float32), np.asarray(references, dtype=np.int64)
        if scores.ndim != 2 or len(scores) != len(references) or not len(scores):
            raise ValueError(f"predictions must be one row of class scores per reference, got {scores.shape}")
        if not ((references >= 0) & (references < scores.shape[1])).all():
            raise ValueError(f"references must be class indices in 0..{scores.shape[1] - 1}")
        higher = (scores > scores[np.arange(len(references)), references][:, None]).sum(axis=1)
        results = {f"top{value}": float((higher < value).mean()) for value in ks}
        return {**results, "num_samples": len(references)}
