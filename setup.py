"""Package metadata for open_vclip_hf (Open-VCLIP, Weng et al., ICML 2023, as a transformers model)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

extras = {
    # `accelerate launch examples/train_openvclip.py` (method doc section 4)
    "train": ["accelerate>=1.0", "datasets>=3.0", "tensorboard"],
    # `open-vclip evaluate` (method doc sections 5 and 7); accelerate divides the videos under `accelerate launch`
    "eval": ["accelerate>=1.0", "evaluate>=0.4", "matplotlib", "pandas"],
    "onnx": ["onnx>=1.16", "onnxruntime>=1.18", "onnxscript"],
    "demo": ["gradio>=6,<7"],
    # `open-vclip embed` / `search` (one machine or `accelerate launch`); `faiss` adds the index for large collections
    "collection": ["accelerate>=1.0", "datasets>=3.0"],
    "faiss": ["faiss-cpu>=1.8"],
}
extras["dev"] = sorted(
    # open_clip_torch (for the tokenizer cross-check) is installed by the Makefile with --no-deps: its
    # dependencies include torchvision, which does not import beside the CPU torch pinned there.
    {"pytest>=8", "pytest-timeout", "scikit-video", "ftfy", "regex", "selenium>=4.20", "gradio_client", "ruff>=0.6"}
    | set(extras["train"])
    | set(extras["collection"])
    | set(extras["faiss"])
    | set(extras["eval"])
    | set(extras["demo"])
    | set(extras["onnx"])
)

setup(
    name="open_vclip_hf",
    version="0.1.0",
    description="Open-VCLIP (ICML 2023) as a Hugging Face transformers model: zero-shot video classification",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["open_vclip_hf", "open_vclip_hf.*"]),
    package_data={
        "open_vclip_hf": [
            "assets/*",
            "assets/clip_tokenizer/*",
            "evaluation/data/*",
            "evaluation/metrics/*/*",
        ]
    },
    include_package_data=True,
    install_requires=[
        # An open range on purpose: GPU users keep their CUDA build. The Makefile pins the CPU wheel.
        "torch>=2.4",
        "transformers>=5.0,<6",
        "huggingface_hub>=1.0",
        "safetensors>=0.4",
        "numpy>=1.24",
        "pillow>=10",
        "av>=12",
        "jinja2>=3",  # the model card template (hub.py); torch needs it too
        "tqdm",
    ],
    extras_require=extras,
    entry_points={"console_scripts": ["open-vclip=open_vclip_hf.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
