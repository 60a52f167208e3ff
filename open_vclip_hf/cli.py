# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""`open-vclip` command line: parsing and printing only; the library is imported lazily so that `--help` is instant."""

import argparse
import json
import os
import sys
from pathlib import Path


def _dtype(name: str | None):
    import torch

    return getattr(torch, name) if name else None


def _pick(args: argparse.Namespace, *names: str) -> dict:
    """The arguments `names`, for a library function whose keyword arguments have the same names."""
    return {name: getattr(args, name) for name in names}


def _convert(args: argparse.Namespace) -> None:
    from .convert import convert_checkpoint
    from .pretrained import backbone_name

    options = _pick(args, "clip_anchor", "ratio", "overwrite", "num_frames")
    model = convert_checkpoint(args.src, output_dir=args.out, **options)
    vision = model.config.vision_config
    print(
        f"converted {args.src} -> {args.out}\n"
        f"  {backbone_name(model.config)}: {vision.num_hidden_layers} layers, width {vision.hidden_size}, "
        f"image {vision.image_size}, {model.num_parameters() / 1e6:.1f}M parameters\n"
        f"  patch ratio r={args.ratio}" + (f" toward {args.clip_anchor}" if args.clip_anchor else " (not patched)")
    )


def _read_labels(args: argparse.Namespace) -> list[str]:
    from .data import read_lines
    from .prompts import check_labels

    if args.labels_file:
        labels = [line for _, line in read_lines(Path(args.labels_file))]
    else:
        labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    if not labels:
        raise ValueError("no labels given: use --labels 'a,b,c' or --labels-file FILE (one label per line)")
    return check_labels(labels, distinct=True)


def _classifier(args: argparse.Namespace):
    """The zero-shot pipeline on `--model`, or on a small random-weight model (with a loud warning) without it."""
    from transformers import pipeline

    from . import OpenVCLIPProcessor, ZeroShotVideoClassificationPipeline
    from .onnx import VISION_FILE, OpenVCLIPOnnxModel

    onnx = getattr(args, "backend", "pytorch") == "onnx"
    if not args.model:
        if onnx:
            raise ValueError("--backend onnx needs --model: a folder written by `open-vclip export-onnx`")
        from .demo import RANDOM_MODEL_WARNING, random_demo_model

        print(RANDOM_MODEL_WARNING, file=sys.stderr)
        model = random_demo_model().to(_dtype(args.dtype))
        processor = OpenVCLIPProcessor.for_model(model.config)
        return ZeroShotVideoClassificationPipeline(model=model, processor=processor, device=args.device)
    weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    has_weights = any(os.path.isfile(os.path.join(args.model, name)) for name in weights)
    if not onnx and not has_weights and os.path.isfile(os.path.join(args.model, VISION_FILE)):
        raise ValueError(f"{args.model} is an ONNX export ({VISION_FILE}): add --backend onnx")
    processor = OpenVCLIPProcessor.from_pretrained(args.model)  # the folder's, or its model's default one
    if onnx:
        model = OpenVCLIPOnnxModel.from_pretrained(args.model)
        return ZeroShotVideoClassificationPipeline(model=model, processor=processor, device="cpu")
    # pipeline_class: a repository pushed by `open-vclip push` names its remote-code pipeline in config.json, which
    # transformers refuses without trust_remote_code.
    options = {"processor": processor, "device": args.device, "dtype": _dtype(args.dtype)}
    return pipeline(
        "zero-shot-video-classification", args.model, pipeline_class=ZeroShotVideoClassificationPipeline, **options
    )


def _classify(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from .demo import RANDOM_MODEL_WARNING
    from .prompts import check_templates

    labels = _read_labels(args)
    if args.template is not None:
        check_templates(args.template)  # a bad template is one error, not one per video
    options = _pick(args, "top_k", "num_frames", "num_clips", "sampling")
    classifier = _classifier(args)
    results = []
    for video in tqdm(args.videos, desc="videos", unit="video", disable=len(args.videos) < 2, file=sys.stderr):
        try:
            predictions = classifier(video, candidate_labels=labels, hypothesis_template=args.template, **options)
            results.append({"video": video, "predictions": predictions})
        except (ValueError, OSError) as error:  # missing or undecodable video: report it, go on with the others
            results.append({"video": video, "error": str(error)})
    width = max(map(len, labels))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print(result["video"])
            if "error" in result:
                print(f"  error: {result['error']}")
            for rank, prediction in enumerate(result.get("predictions", []), start=1):
                print(f"  {rank:>3}. {prediction['label']:<{width}}  {prediction['score']:.4f}")
    if not args.model:
        print(RANDOM_MODEL_WARNING, file=sys.stderr)
    failed = sum("error" in result for result in results)
    if failed:
        raise ValueError(f"{failed} of {len(args.videos)} videos could not be classified (see above)")


def _export_onnx(args: argparse.Namespace) -> None:
    from .onnx import export_onnx

    differences = export_onnx(args.model, args.out, text=not args.no_text, verify=not args.no_verify)
    print(f"exported {args.model} -> {args.out}")
    for name, difference in differences.items():
        print(f"  {name}: max |onnxruntime - PyTorch| = {difference:.2e}")


def _collection(args: argparse.Namespace):
    from .collection import VideoCollection

    return VideoCollection(args.collection, model=args.model, device=args.device, dtype=_dtype(args.dtype))


def _serve(args: argparse.Namespace) -> None:
    from . import ZeroShotVideoClassificationPipeline, web_demo

    try:
        web_demo.require_gradio()  # fail before loading the model
    except ImportError as error:
        raise RuntimeError(str(error)) from None
    collection = _collection(args) if args.collection else None
    if collection is None:
        classifier = _classifier(args)
    else:  # both tabs run the collection's model
        classifier = ZeroShotVideoClassificationPipeline(model=collection.model, processor=collection.processor)
    options = _pick(args, "host", "port", "max_upload_mb", "allow_private_urls")
    web_demo.serve(classifier, random_model=not args.model and not collection, collection=collection, **options)


def _embed(args: argparse.Namespace) -> None:
    from .collection import embed_collection
    from .evaluation.runner import process_state

    sampling = _pick(args, "num_frames", "num_clips", "sampling")
    options = _pick(args, "dtype", "batch_size", "num_workers", "shard_size", "video_column", "device")
    options.update(faiss_index=args.faiss, model_dtype=_dtype(args.model_dtype))
    options["sampling"] = {key: value for key, value in sampling.items() if value is not None}
    result = embed_collection(args.source, args.model, args.out, **options)
    if process_state(args.device).is_main_process:  # under `accelerate launch` the main process reports
        for path, error in result["failed"]:
            print(f"failed: {path}: {error}", file=sys.stderr)
        print(
            f"embedded {result['embedded']} videos ({len(result['failed'])} failed, {result['skipped']} embedded "
            f"before): {result['rows']} videos in {result['dataset']}"
        )
    if result["failed"] and not result["embedded"]:
        raise ValueError(f"nothing was embedded: all {len(result['failed'])} videos failed (listed above)")


def _search(args: argparse.Namespace) -> None:
    from .prompts import PROMPT_TEMPLATES

    if (args.query is None) == (args.video is None):
        raise ValueError("give a text QUERY or --video FILE (one of them)")
    options = _pick(args, "video", "top_k", "num_frames")
    templates, exact = PROMPT_TEMPLATES if args.template is None else args.template, True if args.exact else None
    results = _collection(args).search(args.query, templates=templates, exact=exact, **options)
    if args.json:
        print(json.dumps(results, indent=2))
    for rank, result in enumerate([] if args.json else results, start=1):
        label = f"  [{result['label']}]" if result["label"] else ""
        print(f"{rank:>3}. {result['score']:.4f}  {result['path']}{label}")


def _evaluate(args: argparse.Namespace) -> None:
    from .evaluation import evaluate_protocol, parse_ratios

    options = _pick(args, "data_root", "split", "split_file", "clip_anchor", "frame_wise", "limit", "batch_size")
    options.update(num_workers=args.num_workers, device=args.device, dtype=_dtype(args.dtype))
    ratios = parse_ratios(args.patch_sweep) if args.patch_sweep else None
    summary, paths, _ = evaluate_protocol(args.model, args.protocol, out_dir=args.out, patch_ratios=ratios, **options)
    if paths:  # under `accelerate launch` only the main process writes and prints the report
        print(paths["markdown"].read_text(encoding="utf-8"))
        print("wrote " + ", ".join(str(path) for path in paths.values()))
    empty = [split["name"] for split in summary["splits"] if split["num_evaluated"] == 0]
    if empty:
        raise ValueError(f"no video could be evaluated in {', '.join(map(str, empty))} (see the failures above)")


def _push(args: argparse.Namespace) -> None:
    from .hub import push_to_hub

    options = _pick(args, "private", "revision", "raw_swa_revision", "checkpoint", "license", "commit_message")
    result = push_to_hub(args.model_dir, args.repo_id, raw_swa_dir=args.raw_swa, **options)
    print(f"pushed to {result.url}")
    for revision, commit in result.commits.items():
        print(f"  {revision}: commit {commit[:12]}")
        for path, digest in result.checksums[revision].items():
            print(f"    {path}  sha256 {digest}")


def _average(args: argparse.Namespace) -> None:
    from .training import write_swa_model

    averaged = write_swa_model(args.checkpoints, args.out, start=args.start, end=args.end, overwrite=args.overwrite)
    print(f"averaged {len(averaged)} checkpoints -> {args.out}")
    for path in averaged:
        print(f"  {path}")


def _patch(args: argparse.Namespace) -> None:
    from .training import write_patched_model

    model = write_patched_model(args.model, args.clip, args.ratio, args.out, overwrite=args.overwrite)
    print(
        f"patched {args.model} toward {args.clip} with r={args.ratio} -> {args.out}\n"
        f"  config.patch_ratio = {model.config.patch_ratio:g} (total weight on CLIP)"
    )


def _positive_int(text: str) -> int:
    if int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return int(text)


def _check_arguments(args: argparse.Namespace) -> None:
    """One clear error for a missing local `--model` / `--clip` / `--clip-anchor` path or an unavailable device."""
    for path in (getattr(args, option, None) for option in ("model", "clip", "clip_anchor")):
        if isinstance(path, str) and not os.path.exists(path):
            looks_local = os.path.isabs(path) or path.startswith((".", "~")) or path.endswith(("/", os.sep))
            if looks_local or path.count("/") > 1:
                raise FileNotFoundError(f"{path} does not exist (a Hub id looks like 'org/name')")
    kind = (getattr(args, "device", None) or "").split(":")[0]
    if kind in ("cuda", "mps"):
        import torch

        if not {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}[kind]():
            raise ValueError(f"--device {args.device}: this PyTorch ({torch.__version__}) has no usable {kind} device")


_MODEL_HELP = "folder or Hub id of an Open-VCLIP or CLIP model (without processor files: its default processor)"
_INPUT_LIMITS = (
    "Input limits (open_vclip_hf.video_decoding): MAX_VIDEO_PIXELS = 8192 x 4320 per frame; an http(s) URL is read "
    "into memory up to MAX_DOWNLOAD_BYTES = 512 MiB within DOWNLOAD_TIMEOUT_SECONDS = 60 s."
)
_ACCELERATE = "Under `accelerate launch -m open_vclip_hf.cli` the videos are divided between the processes."


def _command(commands, name: str, func, summary: str, epilog: str = "") -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=summary, epilog=epilog)
    parser.set_defaults(func=func)
    return parser


def _add_output_options(parser: argparse.ArgumentParser, output: str = "output folder") -> None:
    parser.add_argument("--out", required=True, help=f"{output} (written atomically)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output (model files only)")


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="e.g. cpu, cuda, cuda:1, mps (default: cpu)")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="model dtype")


def _add_sampling_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-frames", type=_positive_int, help="frames per view (default: the processor's, 8)")
    parser.add_argument("--num-clips", type=_positive_int, help="temporal views, combined (default 1)")
    parser.add_argument("--sampling", choices=["uniform", "dense"], help="frame sampling (default uniform)")


def _add_ranking_options(parser: argparse.ArgumentParser, top_k: int) -> None:
    parser.add_argument("--top-k", type=_positive_int, default=top_k, help=f"results to show (default {top_k})")
    parser.add_argument("--template", help="one prompt such as 'a video of {}.' (default: 28-template ensemble)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_loader_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=_positive_int, default=8, help="videos per forward pass (default 8)")
    parser.add_argument("--num-workers", type=int, default=2, help="decoding worker processes (default 2)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="open-vclip", description="Open-VCLIP zero-shot video classification")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = _command(commands, "convert", _convert, "convert an official or OpenAI CLIP checkpoint to safetensors")
    convert.add_argument("src", help="swa_2_22.pth, PySlowFast epoch checkpoint, OpenAI state dict or TorchScript .pt")
    _add_output_options(convert)
    convert.add_argument("--clip-anchor", help="θ_CLIP: OpenAI .pt file, CLIP save_pretrained folder or Hub id")
    convert.add_argument("--ratio", type=float, default=0.0, help="r in θ = r·θ_CLIP + (1−r)·θ (default 0; B/16: 0.5)")
    convert.add_argument("--num-frames", type=_positive_int, default=8, help="frames sampled per video (default 8)")

    classify = _command(commands, "classify", _classify, "zero-shot classify videos with your labels", _INPUT_LIMITS)
    classify.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or http(s) URLs")
    classify.add_argument("--model", help=_MODEL_HELP + "; none: random weights, meaningless scores")
    labels = classify.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="comma-separated class names, e.g. 'archery,cooking,surfing'")
    labels.add_argument("--labels-file", help="text file with one class name per line")
    _add_ranking_options(classify, top_k=5)
    _add_sampling_options(classify)
    _add_runtime_options(classify)
    classify.add_argument(
        "--backend", choices=["pytorch", "onnx"], default="pytorch", help="onnx: an export-onnx --model"
    )

    sampled = "Requests of more than web_demo.MAX_SAMPLED_PIXELS (frames x views x width x height) are refused."
    serve = _command(commands, "serve", _serve, "web demo in the browser (Gradio)", f"{_INPUT_LIMITS} {sampled}")
    serve.add_argument("--model", help=_MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="TCP port (default 7860; 0 picks a free one)")
    serve.add_argument("--max-upload-mb", type=float, default=200, help="larger uploads are refused (default 200)")
    serve.add_argument("--allow-private-urls", action="store_true", help="let URLs reach private addresses")
    serve.add_argument("--collection", metavar="DIR", help="add a tab searching this `open-vclip embed` folder")
    _add_runtime_options(serve)

    evaluate = _command(commands, "evaluate", _evaluate, "zero-shot accuracy with the official protocols", _ACCELERATE)
    evaluate.add_argument("--model", required=True, help=_MODEL_HELP)
    evaluate.add_argument("--protocol", required=True, choices=["ucf101", "hmdb51", "k600", "k400", "custom"])
    evaluate.add_argument("--data-root", help="folder with the videos (custom: or a datasets video folder)")
    evaluate.add_argument("--split", default="all", help="1, 2, 3, all (default) or full (UCF101 / HMDB51)")
    evaluate.add_argument("--split-file", help="official split folder, Kinetics val CSV or custom path,label CSV")
    evaluate.add_argument("--out", default="eval-results", help="folder for <protocol>.json / .md / .png")
    _add_loader_options(evaluate)
    evaluate.add_argument("--limit", type=int, help="evaluate only N videos per split, evenly spaced")
    evaluate.add_argument("--patch-sweep", metavar="R1,R2,...", help="evaluate r·θ_CLIP + (1−r)·θ for each r")
    evaluate.add_argument("--clip-anchor", help="θ_CLIP for --patch-sweep: OpenAI .pt file, CLIP folder or Hub id")
    evaluate.add_argument("--frame-wise", action="store_true", help="also evaluate with temporal attention off")
    _add_runtime_options(evaluate)

    embed = _command(commands, "embed", _embed, "embed a collection of videos (again: only the new ones)", _ACCELERATE)
    embed.add_argument("source", metavar="SOURCE", help="video folder, path,label CSV, list of paths/URLs or dataset")
    embed.add_argument("--model", required=True, help="save_pretrained folder or Hub id of an Open-VCLIP model")
    embed.add_argument("--out", required=True, help="the collection folder (new, empty, or embedded before)")
    embed.add_argument("--dtype", choices=["float32", "float16"], default="float32", help="of the stored embeddings")
    _add_sampling_options(embed)
    _add_loader_options(embed)
    embed.add_argument("--shard-size", type=_positive_int, default=1000, help="videos per shard (default 1000)")
    embed.add_argument("--faiss", action=argparse.BooleanOptionalAction, help="FAISS index (default: kept; from 20k)")
    embed.add_argument("--video-column", default="video", help="video column of a datasets SOURCE")
    embed.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: cpu, or accelerate's)")
    embed.add_argument("--model-dtype", choices=["float32", "float16", "bfloat16"], help="model dtype")

    search = _command(commands, "search", _search, "search an embedded collection by text or by video")
    search.add_argument("collection", metavar="DIR", help="folder written by `open-vclip embed`")
    search.add_argument("query", metavar="QUERY", nargs="?", help='text, e.g. "a dog catching a frisbee"')
    search.add_argument("--video", help="a video file or URL: find similar videos instead")
    _add_ranking_options(search, top_k=10)
    search.add_argument("--num-frames", type=_positive_int, help="--video: frames per view (must be the collection's)")
    search.add_argument("--model", help="default: the collection's model (same weights only)")
    search.add_argument("--exact", action="store_true", help="compare with every embedding even if indexed")
    _add_runtime_options(search)

    push = _command(commands, "push", _push, "publish a converted folder on the Hugging Face Hub, with a model card")
    push.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by `open-vclip convert`")
    push.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub (created if missing)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--revision", help="branch receiving MODEL_DIR (default: main)")
    push.add_argument("--raw-swa", metavar="DIR", help="the same checkpoint converted with --ratio 0")
    push.add_argument("--raw-swa-revision", default="raw-swa", help="branch for --raw-swa (default: raw-swa)")
    push.add_argument("--checkpoint", default="none", help="official checkpoint the card quotes: none, auto or a name")
    push.add_argument("--license", help="Hub license id for the card (default: other)")
    push.add_argument("--commit-message", help="title of the commit on --revision")

    average = _command(commands, "average", _average, "SWA: average checkpoints (folders or files) into one model")
    average.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint folders or files")
    _add_output_options(average, output="output folder, or a .pth / .safetensors file")
    average.add_argument("--start", type=int, help="first epoch to average (the last number in each name)")
    average.add_argument("--end", type=int, help="last epoch to average")

    patch = _command(commands, "patch", _patch, "interpolate a model's weights with CLIP's: θ = r·θ_CLIP + (1−r)·θ")
    patch.add_argument("model", metavar="MODEL", help="save_pretrained folder or Hub id of the fine-tuned model")
    patch.add_argument("--clip", required=True, help="θ_CLIP: OpenAI .pt file, CLIP save_pretrained folder or Hub id")
    patch.add_argument("--ratio", type=float, required=True, help="weight r of CLIP, in [0, 1]")
    _add_output_options(patch)

    export = _command(commands, "export-onnx", _export_onnx, "export the video and text towers to ONNX")
    export.add_argument("model", metavar="MODEL", help="save_pretrained folder or Hub id of an Open-VCLIP model")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--no-text", action="store_true", help="skip the text tower (fixed class embeddings only)")
    export.add_argument("--no-verify", action="store_true", help="do not compare onnxruntime with PyTorch")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_arguments(args)
        args.func(args)
    except ImportError as error:  # an optional extra is not installed
        message = f"{error} (optional dependencies: pip install 'open_vclip_hf[train,eval,collection,onnx,demo]')"
    except (OSError, ValueError, RuntimeError) as error:  # user errors: a message, not a traceback
        message = str(error)
    except Exception as error:
        if type(error).__name__ != "SafetensorError":
            raise
        message = f"a .safetensors file is truncated or damaged: {error}"
    else:
        return 0
    print(f"open-vclip {args.command}: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
