"""open_vclip_hf: Open-VCLIP (Weng et al., ICML 2023) as a Hugging Face transformers model.

Importing the package registers the model with the transformers Auto classes (`AutoConfig`, `AutoModel`,
`AutoProcessor`) and the `zero-shot-video-classification` pipeline. The public names are imported on first use
(PEP 562), so that `import open_vclip_hf` (and `open-vclip --help`) does not import torch or transformers: when
transformers is not imported yet, the registration runs as soon as it is (before any of its Auto classes or
`pipeline` can be called), once no module of this package is half-imported.
"""

import importlib.abc
import sys

__version__ = "0.1.0"

_EXPORTS = {
    "configuration_open_vclip": ("OpenVCLIPConfig", "OpenVCLIPVisionConfig"),
    "modeling_open_vclip": (
        "OpenVCLIPModel",
        "OpenVCLIPOutput",
        "OpenVCLIPVisionModel",
        "OpenVCLIPVisionModelOutput",
        "OpenVCLIPVisionModelWithProjection",
    ),
    "pipeline_zero_shot_video": ("ZeroShotVideoClassificationPipeline",),
    "processing_open_vclip": ("OpenVCLIPProcessor",),
    "prompts": ("PROMPT_TEMPLATES", "ClassEmbeddingCache", "build_class_embeddings"),
    "video_decoding": ("VideoDecodingError", "load_video", "sample_frame_indices"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _register() -> None:
    if _registrar in sys.meta_path:
        sys.meta_path.remove(_registrar)
    from transformers import AutoConfig, AutoModel, AutoProcessor
    from transformers.pipelines import PIPELINE_REGISTRY

    from .configuration_open_vclip import OpenVCLIPConfig, OpenVCLIPVisionConfig
    from .modeling_open_vclip import OpenVCLIPModel, OpenVCLIPVisionModel
    from .pipeline_zero_shot_video import ZeroShotVideoClassificationPipeline
    from .processing_open_vclip import OpenVCLIPProcessor

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


class _RegisterWhenTransformersIsImported(importlib.abc.MetaPathFinder):
    """Runs [`_register`] after the import of `transformers` or of a module of this package, once transformers is
    imported and no module of this package is being imported (registering imports them: a half-imported one could
    not be registered)."""

    depth = 0

    def find_spec(self, name, path=None, target=None):
        if name != "transformers" and not name.startswith(f"{__name__}."):
            return None
        finders = [finder for finder in sys.meta_path if finder is not self and hasattr(finder, "find_spec")]
        spec = next(filter(None, (finder.find_spec(name, path, target) for finder in finders)), None)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            self.depth += 1
            try:
                exec_module(module)
            finally:
                self.depth -= 1
            if self.depth == 0 and "transformers" in sys.modules and self in sys.meta_path:
                _register()

        spec.loader.exec_module = exec_then_register
        return spec


_registrar = _RegisterWhenTransformersIsImported()
if "transformers" in sys.modules:
    _register()
else:
    sys.meta_path.insert(0, _registrar)
