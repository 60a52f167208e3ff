# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The official Open-VCLIP checkpoints in one table (like open_clip's `pretrained.py`): their files, the CLIP they are
patched toward with which ratio, and the published numbers a model card may quote. A ratio or file name needs a line
of the official code behind it, a number a source a reader can open; numbers are for the *patched* weights, evaluated
with 8 frames and the paper's views (method doc 5, 7)."""

from dataclasses import KW_ONLY, dataclass

OFFICIAL_REPO_URL = "https://github.com/wengzejia1/Open-VCLIP"
# The Google Drive folder linked from the official README ("Checkpoint" section).
OFFICIAL_DOWNLOAD_URL = "https://drive.google.com/drive/folders/1VhwPFESkrr9Ed40yU5NEPIkrGIf6WQ9N?usp=share_link"
PAPER_URL = "https://arxiv.org/abs/2302.00624"

_FROSTER = (
    "FROSTER (Huang et al., ICLR 2024), README Table 2, rows taken from Open-VCLIP",
    "https://github.com/Visual-AI/FROSTER",
)
_MOTE = ("MoTE (Zhu et al., NeurIPS 2024), Tables 3-4, Open-VCLIP rows", "https://openreview.net/forum?id=vpEq2bzsS0")
_ABSTRACT = ("Open-VCLIP paper, abstract (arXiv 2302.00624)", PAPER_URL)
_SPLITS = "mean over the 3 official test splits"
_HEADLINE = "headline number (protocol not stated in the abstract)"
_K600 = "160 novel classes, mean over 3 splits"
_K400_3X1 = "closed set, validation, 3x1 views"


@dataclass(frozen=True)
class PaperResult:
    """One published number of an official checkpoint (top-1 accuracy in % unless `metric` says otherwise)."""

    dataset: str  # display name, e.g. "UCF101"; lower-cased, the `model-index` dataset type (`dataset_id`)
    protocol: str  # how it was evaluated, e.g. "mean over the 3 official test splits"
    value: float
    source: str
    source_url: str
    _: KW_ONLY  # the old 6-argument positional form (with `dataset_id`) now fails instead of shifting fields
    std: float | None = None  # ± over the splits, when the source gives it
    metric: str = "top-1 accuracy"
    metric_id: str = "accuracy"  # `model-index` metric type

    @property
    def dataset_id(self) -> str:
        return self.dataset.lower()


@dataclass(frozen=True, kw_only=True)  # its fields were reordered: no positional call may shift them silently
class OfficialCheckpoint:
    """A released Open-VCLIP checkpoint (method doc section 6) and how to turn it into the published weights."""

    name: str  # key of `OFFICIAL_CHECKPOINTS`, also the suggested Hub repo name
    backbone: str  # "ViT-B/16"
    official_file: str  # path inside the Google Drive folder
    patch_ratio: float  # r in θ = r·θ_CLIP + (1−r)·θ_SWA, from `script/testing/temporal_test_*/*.sh:6`
    clip_hf_id: str  # the CLIP weights (fp32) on the Hugging Face Hub
    clip_openai_sha256: str  # of the OpenAI TorchScript file the official test scripts interpolate toward
    # Architecture, to recognise a converted folder (defaults: ViT-B).
    patch_size: int
    vision_hidden_size: int = 768
    vision_layers: int = 12
    image_size: int = 224
    text_hidden_size: int = 512
    # SHA-256 of `official_file`. None: the Drive folder publishes no checksums (and one user got a truncated B/16
    # download, issue #4). Fill it in from a download that reproduces the published numbers.
    sha256: str | None = None
    results: tuple[PaperResult, ...] = ()
    verified_release: bool = True  # False: the file is presumed to exist but was not seen (method doc 6)

    @property
    def clip_openai_file(self) -> str:
        return self.backbone.replace("/", "-") + ".pt"

    @property
    def clip_openai_url(self) -> str:
        """OpenAI's download URL; `clip._download` checks the file against the SHA-256 in it."""
        return f"https://openaipublic.azureedge.net/clip/models/{self.clip_openai_sha256}/{self.clip_openai_file}"


OFFICIAL_CHECKPOINTS: dict[str, OfficialCheckpoint] = {
    checkpoint.name: checkpoint
    for checkpoint in (
        OfficialCheckpoint(
            name="open-vclip-b16",
            backbone="ViT-B/16",
            patch_size=16,
            official_file="openvclip-b16/swa_2_22.pth",
            patch_ratio=0.5,
            results=(
                PaperResult("UCF101", _SPLITS, 83.4, *_FROSTER, std=1.2),
                PaperResult("UCF101", "all 13,320 videos (UCF*)", 83.5, *_FROSTER),
                PaperResult("HMDB51", _SPLITS, 53.9, *_FROSTER, std=1.2),
                PaperResult("HMDB51", "all videos of split 1 (HMDB*)", 53.2, *_FROSTER),
                PaperResult("Kinetics-600", _K600, 73.0, *_FROSTER, std=0.8),
                PaperResult("Kinetics-400", "closed set, validation, 1x1 view", 78.9, *_MOTE),
            ),
            clip_hf_id="openai/clip-vit-base-patch16",
            clip_openai_sha256="5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
        ),
        OfficialCheckpoint(
            name="open-vclip-l14",
            backbone="ViT-L/14",
            patch_size=14,
            vision_hidden_size=1024,
            vision_layers=24,
            text_hidden_size=768,
            official_file="openvclip-l14/swa_2_22.pth",
            patch_ratio=0.6,
            results=(
                PaperResult("UCF101", _SPLITS, 87.6, *_MOTE, std=1.2),
                PaperResult("UCF101", _HEADLINE, 87.9, *_ABSTRACT),
                PaperResult("HMDB51", _SPLITS, 59.0, *_MOTE, std=0.6),
                PaperResult("HMDB51", _HEADLINE, 58.3, *_ABSTRACT),
                PaperResult("Kinetics-600", _K600, 81.1, *_MOTE, std=0.8),
                PaperResult("Kinetics-400", _K400_3X1, 83.9, *_MOTE),
                PaperResult(
                    "Kinetics-400", _K400_3X1, 96.5, *_MOTE, metric="top-5 accuracy", metric_id="top-5-accuracy"
                ),
            ),
            clip_hf_id="openai/clip-vit-large-patch14",
            clip_openai_sha256="b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
        ),
        OfficialCheckpoint(
            # The official test scripts exist for B/32 (ratio 0.5), but neither the Drive file nor the paper's B/32
            # numbers could be checked (method doc 6, 7.1): no numbers, and the release is marked unverified.
            name="open-vclip-b32",
            backbone="ViT-B/32",
            patch_size=32,
            official_file="openvclip-b32/swa_2_22.pth",
            patch_ratio=0.5,
            verified_release=False,
            clip_hf_id="openai/clip-vit-base-patch32",
            clip_openai_sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
        ),
    )
}


def backbone_name(config) -> str:
    """`"ViT-B/16"`-style name of the vision tower (`"ViT-64d/32"` for widths without a letter)."""
    vision = config.vision_config
    size = {768: "B", 1024: "L", 1280: "H"}.get(vision.hidden_size, f"{vision.hidden_size}d")
    return f"ViT-{size}/{vision.patch_size}"


def match_official_checkpoint(config) -> OfficialCheckpoint | None:
    """The official checkpoint whose architecture `config` (an [`OpenVCLIPConfig`] or CLIP config) has, or None."""
    vision, text = config.vision_config, config.text_config
    for checkpoint in OFFICIAL_CHECKPOINTS.values():
        if (
            vision.hidden_size == checkpoint.vision_hidden_size
            and vision.num_hidden_layers == checkpoint.vision_layers
            and vision.patch_size == checkpoint.patch_size
            and vision.image_size == checkpoint.image_size
            and text.hidden_size == checkpoint.text_hidden_size
        ):
            return checkpoint
    return None
