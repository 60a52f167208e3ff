"""open_vclip_hf: Open-VCLIP (Weng et al., ICML 2023) as a Hugging Face transformers model.

Importing the package registers the model with the transformers Auto classes (`AutoConfig`, `AutoModel`,
`AutoProcessor`) and the `zero-shot-video-classification` pipeline.
"""

from transformers import AutoConfig, AutoModel, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_open_vclip import OpenVCLIPConfig, OpenVCLIPVisionConfig
from .modeling_open_vclip import (
    OpenVCLIPModel,
    OpenVCLIPOutput,
    OpenVCLIPVisionModel,
    OpenVCLIPVisionModelOutput,
    OpenVCLIPVisionModelWithProjection,
)
from .pipeline_zero_shot_video import ZeroShotVideoClassificationPipeline
from .processing_open_vclip import OpenVCLIPProcessor
from .prompts import PROMPT_TEMPLATES, ClassEmbeddingCache, build_class_embeddings
from .video_decoding import VideoDecodingError, load_video, sample_frame_indices


__version__ = "0.1.0"

AutoConfig.register(OpenVCLIPConfig.model_type, OpenVCLIPConfig, exist_ok=True)
AutoConfig.register(OpenVCLIPVisionConfig.model_type, OpenVCLIPVisionConfig, exist_ok=True)
AutoModel.register(OpenVCLIPConfig, OpenVCLIPModel, exist_ok=True)
AutoModel.register(OpenVCLIPVisionConfig, OpenVCLIPVisionModel, exist_ok=True)
AutoProcessor.register(OpenVCLIPConfig, OpenVCLIPProcessor, exist_ok=True)
PIPELINE_REGISTRY.register_pipeline(
    "zero-shot-video-classification",
    pipeline_class=ZeroShotVideoClassificationPipeline,
    pt_model=AutoModel,
    type="multimodal",
)

__all__ = [
    "PROMPT_TEMPLATES",
    "ClassEmbeddingCache",
    "OpenVCLIPConfig",
    "OpenVCLIPModel",
    "OpenVCLIPOutput",
    "OpenVCLIPProcessor",
    "OpenVCLIPVisionConfig",
    "OpenVCLIPVisionModel",
    "OpenVCLIPVisionModelOutput",
    "OpenVCLIPVisionModelWithProjection",
    "VideoDecodingError",
    "ZeroShotVideoClassificationPipeline",
    "build_class_embeddings",
    "load_video",
    "sample_frame_indices",
]
