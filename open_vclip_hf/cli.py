# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""`open-vclip` command line: argument parsing and printing only; the work is done by the library, imported lazily
so that `open-vclip --help` is instant."""

import argparse
import os
import sys


def _convert(args: argparse.Namespace) -> None:
    from .convert import convert_checkpoint
    from .pretrained import backbone_name

    model = convert_checkpoint(
        args.src,
        clip_anchor=args.clip_anchor,
        ratio=args.ratio,
        output_dir=args.out,
        overwrite=args.overwrite,
        num_frames=args.num_frames,
    )
    vision = model.config.vision_config
    print(
        f"converted {args.src} -> {args.out}\n"
        f"  {backbone_name(model.config)}: {vision.num_hidden_layers} layers, width {vision.hidden_size}, "
        f"image {vision.image_size}, {model.num_parameters() / 1e6:.1f}M parameters\n"
        f"  patch ratio r={args.ratio}" + (f" toward {args.clip_anchor}" if args.clip_anchor else " (not patched)")
    )


def _read_labels(args: argparse.Namespace) -> list[str]:
    if args.labels_file:
        with open(args.labels_file, encoding="utf-8") as handle:
            labels = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    else:
        labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    if not labels:
        raise ValueError("no labels given: use --labels 'a,b,c' or --labels-file FILE (one label per line)")
    from .prompts import check_labels

    return check_labels(labels, distinct=True)


def _classifier(args: argparse.Namespace):
    """The zero-shot pipeline on `--model`, or on a small random-weight model (with a loud warning) without it."""
    import torch
    from transformers import pipeline

    from . import OpenVCLIPProcessor, ZeroShotVideoClassificationPipeline

    dtype = getattr(torch, args.dtype) if args.dtype else None
    if getattr(args, "backend", "pytorch") == "onnx":
        from .onnx import OpenVCLIPOnnxModel

        if not args.model:
            raise ValueError("--backend onnx needs --model: a folder written by `open-vclip export-onnx`")
        return ZeroShotVideoClassificationPipeline(
            model=OpenVCLIPOnnxModel.from_pretrained(args.model),
            processor=OpenVCLIPProcessor.from_pretrained(args.model),
            device="cpu",
        )
    if args.model:
        from .onnx import VISION_FILE

        weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
        is_onnx_export = os.path.isfile(os.path.join(args.model, VISION_FILE))
        if is_onnx_export and not any(os.path.isfile(os.path.join(args.model, name)) for name in weights):
            raise ValueError(f"{args.model} is an ONNX export ({VISION_FILE}): add --backend onnx")
        # pipeline_class: repositories pushed by `open-vclip push` name their remote-code pipeline in config.json
        # (`custom_pipelines`), which transformers would refuse without trust_remote_code; use the package's class.
        # processor: the folder's, or the default one of its model (an epoch_N checkpoint, a CLIP folder).
        return pipeline(
            "zero-shot-video-classification",
            model=args.model,
            processor=OpenVCLIPProcessor.from_pretrained(args.model),
            device=args.device,
            dtype=dtype,
            pipeline_class=ZeroShotVideoClassificationPipeline,
        )
    from .demo import RANDOM_MODEL_WARNING, random_demo_model

    print(RANDOM_MODEL_WARNING, file=sys.stderr)
    model = random_demo_model()
    if dtype is not None:
        model = model.to(dtype)
    return ZeroShotVideoClassificationPipeline(
        model=model, processor=OpenVCLIPProcessor.for_model(model.config), device=args.device
    )


def _classify(args: argparse.Namespace) -> None:
    import json

    from tqdm.auto import tqdm

    from .demo import RANDOM_MODEL_WARNING
    from .prompts import check_templates

    labels = _read_labels(args)
    if args.template:
        check_templates(args.template)  # a bad template is one error, not one per video
    classifier = _classifier(args)
    options = {
        "candidate_labels": labels,
        "top_k": args.top_k,
        "num_frames": args.num_frames,
        "num_clips": args.num_clips,
        "sampling": args.sampling,
    }
    if args.template:
        options["hypothesis_template"] = args.template
    results, failed = [], 0
    for video in tqdm(args.videos, desc="videos", unit="video", disable=len(args.videos) < 2, file=sys.stderr):
        try:
            results.append({"video": video, "predictions": classifier(video, **options)})
        except (ValueError, OSError) as error:  # missing or undecodable video: report it, go on with the others
            failed += 1
            results.append({"video": video, "error": str(error)})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        width = max(len(label) for label in labels)
        for result in results:
            print(result["video"])
            if "error" in result:
                print(f"  error: {result['error']}")
            for rank, prediction in enumerate(result.get("predictions", []), start=1):
                print(f"  {rank:>3}. {prediction['label']:<{width}}  {prediction['score']:.4f}")
    if not args.model:
        print(RANDOM_MODEL_WARNING, file=sys.stderr)
    if failed:
        raise ValueError(f"{failed} of {len(args.videos)} videos could not be classified (see above)")


def _export_onnx(args: argparse.Namespace) -> None:
    from .onnx import export_onnx

    differences = export_onnx(args.model, args.out, text=not args.no_text, verify=not args.no_verify)
    print(f"exported {args.model} -> {args.out}")
    for name, difference in differences.items():
        print(f"  {name}: max |onnxruntime - PyTorch| = {difference:.2e}")


def _serve(args: argparse.Namespace) -> None:
    from . import web_demo

    try:
        web_demo.require_gradio()  # fail before loading the model
    except ImportError as error:
        raise RuntimeError(str(error)) from None
    collection = _collection(args) if args.collection else None
    if collection is not None:  # both tabs run the collection's model
        from . import ZeroShotVideoClassificationPipeline

        classifier = ZeroShotVideoClassificationPipeline(model=collection.model, processor=collection.processor)
    web_demo.serve(
        classifier if collection else _classifier(args),
        random_model=not args.model and not collection,
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        allow_private_urls=args.allow_private_urls,
        collection=collection,
    )


def _collection(args: argparse.Namespace):
    import torch

    from .collection import VideoCollection

    dtype = getattr(torch, args.dtype) if args.dtype else None
    return VideoCollection(args.collection, model=args.model, device=args.device, dtype=dtype)


def _embed(args: argparse.Namespace) -> None:
    import torch

    from .collection import embed_collection
    from .evaluation.runner import process_state

    options = {"num_frames": args.num_frames, "num_clips": args.num_clips, "sampling": args.sampling}
    same_names = ("dtype", "batch_size", "num_workers", "shard_size", "video_column", "device")
    result = embed_collection(
        args.source,
        args.model,
        args.out,
        sampling={key: value for key, value in options.items() if value is not None},
        faiss_index=args.faiss,
        model_dtype=getattr(torch, args.model_dtype) if args.model_dtype else None,
        **{name: getattr(args, name) for name in same_names},
    )
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
    import json

    from .prompts import PROMPT_TEMPLATES

    if (args.query is None) == (args.video is None):
        raise ValueError("give a text QUERY or --video FILE (one of them)")
    results = _collection(args).search(
        args.query,
        video=args.video,
        top_k=args.top_k,
        templates=args.template or PROMPT_TEMPLATES,
        num_frames=args.num_frames,
        exact=True if args.exact else None,
    )
    if args.json:
        print(json.dumps(results, indent=2))
    for rank, result in enumerate([] if args.json else results, start=1):
        label = f"  [{result['label']}]" if result["label"] else ""
        print(f"{rank:>3}. {result['score']:.4f}  {result['path']}{label}")


def _evaluate(args: argparse.Namespace) -> None:
    import torch

    from .evaluation import evaluate_protocol, parse_ratios

    summary, paths, _ = evaluate_protocol(
        args.model,
        args.protocol,
        data_root=args.data_root,
        split=args.split,
        split_file=args.split_file,
        out_dir=args.out,
        patch_ratios=parse_ratios(args.patch_sweep) if args.patch_sweep else None,
        clip_anchor=args.clip_anchor,
        frame_wise=args.frame_wise,
        limit=args.limit,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        dtype=getattr(torch, args.dtype) if args.dtype else None,
    )
    if paths:  # under `accelerate launch` only the main process writes and prints the report
        print(paths["markdown"].read_text(encoding="utf-8"))
        print("wrote " + ", ".join(str(path) for path in paths.values()))
    empty = [split["name"] for split in summary["splits"] if split["num_evaluated"] == 0]
    if empty:
        raise ValueError(f"no video could be evaluated in {', '.join(map(str, empty))} (see the failures above)")


def _push(args: argparse.Namespace) -> None:
    from .hub import push_to_hub

    result = push_to_hub(
        args.model_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        raw_swa_dir=args.raw_swa,
        raw_swa_revision=args.raw_swa_revision,
        checkpoint=args.checkpoint,
        license=args.license,
        commit_message=args.commit_message,
    )
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
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _check_arguments(args: argparse.Namespace) -> None:
    """Errors that would otherwise surface deep inside a library: a local `--model` / `--clip` / `--clip-anchor` path
    that does not exist (Hub ids have at most one '/'), a device this PyTorch build does not have."""
    for option in ("model", "clip", "clip_anchor"):
        path = getattr(args, option, None)
        if isinstance(path, str) and not os.path.exists(path):
            looks_local = os.path.isabs(path) or path.startswith((".", "~")) or path.endswith(("/", os.sep))
            if looks_local or path.count("/") > 1:
                raise FileNotFoundError(f"{path} does not exist (a Hub id looks like 'org/name')")
    device = getattr(args, "device", None)
    if device:
        import torch

        kind = device.split(":")[0]
        available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}.get(kind)
        if available is not None and not available():
            raise ValueError(f"--device {device}: this PyTorch ({torch.__version__}) has no usable {kind} device")


_MODEL_HELP = (
    "save_pretrained folder or Hub id of an Open-VCLIP model, or of a transformers CLIP model (run as Open-VCLIP); "
    "without processor files (e.g. an epoch_N checkpoint) the model's default processor is used"
)
_OVERWRITE_HELP = (
    "replace an existing output model folder: its config, weight, processor and tokenizer files (its other files "
    "stay); a non-empty folder that is not a model folder is refused"
)


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="e.g. cpu, cuda, cuda:1, mps (default: cpu)")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="model dtype")


_INPUT_LIMITS = (
    "Input limits (attributes of open_vclip_hf.video_decoding, settable from Python): videos of more than "
    "MAX_VIDEO_PIXELS = 8192 x 4320 pixels per frame are refused before decoding; an http(s) URL is downloaded into "
    "memory up to MAX_DOWNLOAD_BYTES = 512 MiB within DOWNLOAD_TIMEOUT_SECONDS = 60 s in all, following redirects to "
    "http(s) URLs only."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="open-vclip",
        description="Open-VCLIP (Weng et al., ICML 2023): zero-shot video classification with transformers.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert",
        help="convert an official swa_2_22.pth / OpenAI CLIP checkpoint into a save_pretrained folder",
        description="Convert an official Open-VCLIP checkpoint (swa_2_22.pth), a PySlowFast epoch checkpoint, an "
        "OpenAI CLIP state dict or an OpenAI TorchScript .pt (its tensors only: none of its code runs) into a "
        "transformers folder (safetensors), optionally patched toward CLIP: θ = r·θ_CLIP + (1−r)·θ (r = 0.5 for "
        "B/16, 0.6 for L/14).",
    )
    convert.add_argument("src", help="checkpoint file")
    convert.add_argument("--out", required=True, help="output folder (written atomically)")
    convert.add_argument("--clip-anchor", help="θ_CLIP: OpenAI .pt file, CLIP save_pretrained folder or Hub id")
    convert.add_argument(
        "--ratio", type=float, default=0.0, help="weight r of the CLIP anchor (default 0; > 0 with --clip-anchor)"
    )
    convert.add_argument("--num-frames", type=_positive_int, default=8, help="frames sampled per video by default (8)")
    convert.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    convert.set_defaults(func=_convert)

    classify = commands.add_parser(
        "classify",
        help="zero-shot classify videos with your own labels",
        description="Rank your labels for each video (Open-VCLIP zero-shot classification). Without --model a "
        "small random-weight model is used and the scores are meaningless. " + _INPUT_LIMITS,
    )
    classify.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or http(s) URLs")
    classify.add_argument("--model", help=_MODEL_HELP)
    labels = classify.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="comma-separated class names, e.g. 'archery,cooking,surfing'")
    labels.add_argument("--labels-file", help="text file with one class name per line")
    classify.add_argument("--template", help="a single prompt such as 'a video of {}.' (default: 28-template ensemble)")
    classify.add_argument("--top-k", type=_positive_int, default=5, help="labels to show per video (default 5)")
    classify.add_argument("--num-frames", type=_positive_int, help="frames per view (default: the processor's, 8)")
    classify.add_argument("--num-clips", type=_positive_int, help="temporal views whose logits are summed (default 1)")
    classify.add_argument("--sampling", choices=["uniform", "dense"], help="frame sampling (default uniform)")
    _add_runtime_options(classify)
    classify.add_argument(
        "--backend", choices=["pytorch", "onnx"], default="pytorch", help="onnx: --model is an export-onnx folder"
    )
    classify.add_argument("--json", action="store_true", help="print JSON instead of a table")
    classify.set_defaults(func=_classify)

    serve = commands.add_parser(
        "serve",
        help="web demo: classify your video with your labels in the browser (Gradio)",
        description="Serve a Gradio page: upload a video or pick an example, type labels (or a preset such as the "
        "Kinetics-400 classes), see the ranked labels, the sampled frames and the time taken. Needs gradio "
        "(pip install 'open_vclip_hf[demo]'). Without --model a small random-weight model is used and the page "
        "says so. " + _INPUT_LIMITS + " The page also refuses a request whose frames x views x width x height exceed "
        "open_vclip_hf.web_demo.MAX_SAMPLED_PIXELS (32 x 5 x 1920 x 1080), before decoding.",
    )
    serve.add_argument("--model", help=_MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=7860, help="TCP port (default 7860; 0 picks a free one)")
    serve.add_argument("--max-upload-mb", type=float, default=200, help="larger uploads are refused (default 200)")
    serve.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="let video URLs and their redirects reach loopback / private / link-local addresses (refused by default)",
    )
    serve.add_argument(
        "--collection", metavar="DIR", help="add a tab searching this `open-vclip embed` folder (no --model: its model)"
    )
    _add_runtime_options(serve)
    serve.set_defaults(func=_serve)

    evaluate = commands.add_parser(
        "evaluate",
        help="zero-shot accuracy on UCF101 / HMDB51 / Kinetics-600 / Kinetics-400 with the official protocols",
        description="Reproduce the paper's zero-shot numbers: read the official split files, sample 8 frames x 3 "
        "temporal views x 1 centre crop per video, sum the logits over the views, score against the 28-template class "
        "embeddings; top-1 / top-5 per split, mean ± std over splits, a JSON file, a markdown table and (with "
        "--patch-sweep) a plot. Videos that cannot be decoded are listed and counted. Several processes or machines: "
        "`accelerate launch --multi_gpu --num_processes N [--num_machines M ...] -m open_vclip_hf.cli evaluate ...` "
        "divides the videos between them (CPU processes: add --mixed_precision no --dynamo_backend no --device cpu).",
    )
    evaluate.add_argument("--model", required=True, help=_MODEL_HELP)
    evaluate.add_argument(
        "--protocol", required=True, choices=["ucf101", "hmdb51", "k600", "k400", "custom"], help="benchmark"
    )
    evaluate.add_argument("--data-root", help="folder with the videos (custom: or a datasets video folder)")
    evaluate.add_argument(
        "--split", default="all", help="1, 2, 3 or all (default); 'full' for UCF101 / HMDB51 (UCF*, HMDB*)"
    )
    evaluate.add_argument(
        "--split-file",
        help="ucf101 / hmdb51: folder of the official split files (default: found under --data-root); "
        "k600 / k400: the val annotation CSV (default: class folders under --data-root); custom: a path,label CSV",
    )
    evaluate.add_argument("--out", default="eval-results", help="folder for <protocol>.json / .md / .png")
    evaluate.add_argument("--limit", type=int, help="evaluate only N videos per split, evenly spaced (quick runs)")
    evaluate.add_argument(
        "--patch-sweep", metavar="R1,R2,...", help="evaluate r·θ_CLIP + (1−r)·θ for each ratio, e.g. 0,0.1,...,1"
    )
    evaluate.add_argument("--clip-anchor", help="θ_CLIP for --patch-sweep: OpenAI .pt file, CLIP folder or Hub id")
    evaluate.add_argument(
        "--frame-wise", action="store_true", help="also evaluate with temporal attention off (frozen-CLIP style)"
    )
    evaluate.add_argument("--batch-size", type=int, default=8, help="videos per forward pass (default 8)")
    evaluate.add_argument("--num-workers", type=int, default=2, help="decoding worker processes (default 2)")
    _add_runtime_options(evaluate)
    evaluate.set_defaults(func=_evaluate)

    embed = commands.add_parser(
        "embed",
        help="embed a collection of videos once (a folder, a CSV or list of paths/URLs, a datasets dataset)",
        description="Embed every video of SOURCE into a `datasets` dataset in --out (Arrow shards, one row per "
        "video: path, embedding, frame count, duration, sampling settings, model and SHA-256 of its weights). Decoding "
        "runs in DataLoader workers; videos that fail are listed and the run goes on. Run the same command again to "
        "embed only what is missing (after a kill, or new videos). Several processes or machines: `accelerate launch "
        "--multi_gpu --num_processes N [--num_machines M ...] -m open_vclip_hf.cli embed ...` (CPU processes: add "
        "--mixed_precision no --dynamo_backend no, and --device cpu).",
    )
    embed.set_defaults(func=_embed)
    embed.add_argument(
        "source",
        metavar="SOURCE",
        help="a folder of videos (recursive), a path,label CSV, a text file of paths or URLs (one per line), or the "
        "save_to_disk folder of a datasets Dataset with a video column",
    )
    embed.add_argument("--model", required=True, help="save_pretrained folder or Hub id of an Open-VCLIP model")
    embed.add_argument("--out", required=True, help="the collection folder (new, empty, or embedded before)")
    embed.add_argument(
        "--dtype", choices=["float32", "float16"], default="float32", help="of the stored embeddings (default float32)"
    )
    embed.add_argument("--num-frames", type=_positive_int, help="frames per view (default: the processor's, 8)")
    embed.add_argument("--num-clips", type=_positive_int, help="views, whose embeddings are averaged (default 1)")
    embed.add_argument("--sampling", choices=["uniform", "dense"], help="frame sampling (default uniform)")
    embed.add_argument("--batch-size", type=_positive_int, default=8, help="videos per forward pass (default 8)")
    embed.add_argument("--num-workers", type=int, default=2, help="decoding worker processes (default 2)")
    embed.add_argument("--shard-size", type=_positive_int, default=1000, help="videos per shard (default 1000)")
    embed.add_argument(
        "--faiss",
        action=argparse.BooleanOptionalAction,
        help="build a FAISS index (needs faiss-cpu; default: for collections of 20,000 videos or more)",
    )
    embed.add_argument("--video-column", default="video", help="video column of a datasets SOURCE (default video)")
    embed.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: cpu; under accelerate launch: its GPUs)")
    embed.add_argument("--model-dtype", choices=["float32", "float16", "bfloat16"], help="model dtype")

    search = commands.add_parser(
        "search",
        help="search an embedded collection by text, or for videos similar to a video",
        description="Rank the videos of a collection written by `open-vclip embed` by cosine similarity to a text "
        "query (28-template prompt ensemble, or --template) or to --video. Exact search by default; a collection "
        "embedded with a FAISS index is searched through it (--exact: compare with every video).",
    )
    search.set_defaults(func=_search)
    search.add_argument("collection", metavar="DIR", help="folder written by `open-vclip embed`")
    search.add_argument("query", metavar="QUERY", nargs="?", help='text, e.g. "a dog catching a frisbee"')
    search.add_argument("--video", help="a video file or URL: find similar videos instead")
    search.add_argument("--top-k", type=_positive_int, default=10, help="videos to show (default 10)")
    search.add_argument("--template", help="a single prompt such as 'a video of {}.' (default: 28-template ensemble)")
    search.add_argument("--num-frames", type=_positive_int, help="--video: frames per view (must be the collection's)")
    search.add_argument("--model", help="the model (default: the one recorded in the collection; same weights only)")
    search.add_argument("--exact", action="store_true", help="compare with every embedding even if indexed")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_runtime_options(search)

    push = commands.add_parser(
        "push",
        help="publish a converted folder on the Hugging Face Hub (weights, processor, remote code, model card)",
        description="Upload a converted folder to the Hub: safetensors weights, config and processor files, the "
        "package's remote code (usable with trust_remote_code=True where open_vclip_hf is not installed) and a model "
        "card with the SHA-256 of every weight file, in one atomic commit (a failed push leaves the branch as it "
        "was; run it again to resume). --raw-swa publishes the ratio-0 conversion on its own branch first.",
    )
    push.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by `open-vclip convert` (patched weights)")
    push.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub (created if missing)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--revision", help="branch receiving MODEL_DIR (default: main)")
    push.add_argument("--raw-swa", metavar="DIR", help="the same checkpoint converted with --ratio 0 (raw SWA weights)")
    push.add_argument("--raw-swa-revision", default="raw-swa", help="branch for --raw-swa (default: raw-swa)")
    push.add_argument(
        "--checkpoint",
        default="none",
        help="official checkpoint whose published numbers the card quotes, for weights converted from that file: "
        "none (default), open-vclip-b16, open-vclip-l14, auto (the one of the same architecture)",
    )
    push.add_argument("--license", help="Hub license id for the card (default: other; the official code has none)")
    push.add_argument("--commit-message", help="title of the commit on --revision")
    push.set_defaults(func=_push)

    average = commands.add_parser(
        "average",
        help="SWA: average checkpoints (e.g. the epoch folders of a training run) into one model",
        description="Uniform mean of checkpoints, Open-VCLIP's SWA (the official weight_average_tool.py averages "
        "epochs 2..22). CKPT: save_pretrained folders (-> a model folder, config and processor from the last one) "
        "or state-dict files such as checkpoint_epoch_00005.pyth (-> --out ending in .pth or .safetensors).",
    )
    average.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint folders or files")
    average.add_argument("--out", required=True, help="output folder, or a .pth / .safetensors file (atomic)")
    average.add_argument("--start", type=int, help="first epoch to average (the last number in each name)")
    average.add_argument("--end", type=int, help="last epoch to average")
    average.add_argument(
        "--overwrite", action="store_true", help=f"{_OVERWRITE_HELP}; a .pth / .safetensors --out file is replaced"
    )
    average.set_defaults(func=_average)

    patch = commands.add_parser(
        "patch",
        help="interpolate a model's weights with CLIP's: θ = r·θ_CLIP + (1−r)·θ",
        description="Test-time interpolation of a fine-tuned Open-VCLIP model with the original CLIP weights "
        "(r = 0.5 for B/16 and B/32, 0.6 for L/14), over the whole state dict; the processor and other files of "
        "MODEL are copied and the total weight on CLIP is recorded in config.patch_ratio.",
    )
    patch.add_argument("model", metavar="MODEL", help="save_pretrained folder or Hub id of the fine-tuned model")
    patch.add_argument("--clip", required=True, help="θ_CLIP: OpenAI .pt file, CLIP save_pretrained folder or Hub id")
    patch.add_argument("--ratio", type=float, required=True, help="weight r of CLIP, in [0, 1]")
    patch.add_argument("--out", required=True, help="output folder (written atomically)")
    patch.add_argument("--overwrite", action="store_true", help=_OVERWRITE_HELP)
    patch.set_defaults(func=_patch)

    export = commands.add_parser(
        "export-onnx",
        help="export the video and text towers to ONNX (dynamic batch and frame count)",
        description="Export an Open-VCLIP model to ONNX: vision_model.onnx (pixel_values (videos, frames, 3, H, W) "
        "-> video and frame embeddings, dynamic videos and frames) and text_model.onnx, plus config and processor "
        "files; the outputs are checked against PyTorch in onnxruntime. Classify with "
        "`open-vclip classify VIDEO --model DIR --backend onnx`.",
    )
    export.add_argument("model", metavar="MODEL", help="save_pretrained folder or Hub id of an Open-VCLIP model")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--no-text", action="store_true", help="skip the text tower (fixed class embeddings only)")
    export.add_argument("--no-verify", action="store_true", help="do not compare onnxruntime with PyTorch")
    export.set_defaults(func=_export_onnx)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_arguments(args)
        args.func(args)
    except ImportError as error:  # an optional extra is not installed
        extras = "pip install 'open_vclip_hf[train,eval,onnx,demo]'"
        print(f"open-vclip {args.command}: error: {error} (optional dependencies: {extras})", file=sys.stderr)
        return 1
    except (OSError, ValueError, RuntimeError) as error:  # user errors: a message, not a traceback
        print(f"open-vclip {args.command}: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if type(error).__name__ != "SafetensorError":
            raise
        message = f"a .safetensors file is truncated or damaged: {error}"
        print(f"open-vclip {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
