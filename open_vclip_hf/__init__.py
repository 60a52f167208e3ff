"""open_vclip_hf: Open-VCLIP (Weng et al., ICML 2023) as a Hugging Face transformers model.

The public names are imported on first use (PEP 562), so `import open_vclip_hf` imports neither torch nor
transformers; the Auto classes and the `zero-shot-video-classification` pipeline are registered once transformers is.
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
    from transformers import AutoConfig, AutoModel, AutoProcessor
    from transformers.pipelines import PIPELINE_REGISTRY

    from .configuration_open_vclip import OpenVCLIPConfig, OpenVCLIPVisionConfig
    from .modeling_open_vclip import OpenVCLIPModel, OpenVCLIPVisionModel
    from .pipeline_zero_shot_video import ZeroShotVideoClassificationPipeline
    from .processing_open_vclip import OpenVCLIPProcessor

    for config, model in ((OpenVCLIPConfig, OpenVCLIPModel), (OpenVCLIPVisionConfig, OpenVCLIPVisionModel)):
        AutoConfig.register(config.model_type, config, exist_ok=True)
        AutoModel.register(config, model, exist_ok=True)
    AutoProcessor.register(OpenVCLIPConfig, OpenVCLIPProcessor, exist_ok=True)
    PIPELINE_REGISTRY.register_pipeline(
        "zero-shot-video-classification", ZeroShotVideoClassificationPipeline, pt_model=AutoModel, type="multimodal"
    )


class _RegisterWhenTransformersIsImported(importlib.abc.MetaPathFinder):
    """Runs [`_register`] (once) after an import of transformers or of this package's modules, when no module of this
    package is half-imported (registering imports them)."""

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
                sys.meta_path.remove(self)
                _register()

        spec.loader.exec_module = exec_then_register
        return spec


_registrar = _RegisterWhenTransformersIsImported()
if "transformers" in sys.modules:
    _register()
else:
    sys.meta_path.insert(0, _registrar)
