"""open_vclip_hf: Open-VCLIP (Weng et al., ICML 2023) as a Hugging Face transformers model.

Importing the package registers the model with the transformers Auto classes (`AutoConfig`, `AutoModel`,
`AutoProcessor`) and the `zero-shot-video-classification` pipeline.
"""

from transformers import AutoConfig, AutoModel

from .configuration_open_vclip import OpenVCLIPConfig, OpenVCLIPVisionConfig
from .modeling_open_vclip import (
    OpenVCLIPModel,
    OpenVCLIPOutput,
    OpenVCLIPVisionModel,
    OpenVCLIPVisionModelOutput,
    OpenVCLIPVisionModelWithProjection,
)


__version__ = "0.1.0"

AutoConfig.register(OpenVCLIPConfig.model_type, OpenVCLIPConfig, exist_ok=True)
AutoConfig.register(OpenVCLIPVisionConfig.model_type, OpenVCLIPVisionConfig, exist_ok=True)
AutoModel.register(OpenVCLIPConfig, OpenVCLIPModel, exist_ok=True)
AutoModel.register(OpenVCLIPVisionConfig, OpenVCLIPVisionModel, exist_ok=True)

__all__ = [
    "OpenVCLIPConfig",
    "OpenVCLIPModel",
    "OpenVCLIPOutput",
    "OpenVCLIPVisionConfig",
    "OpenVCLIPVisionModel",
    "OpenVCLIPVisionModelOutput",
    "OpenVCLIPVisionModelWithProjection",
]
