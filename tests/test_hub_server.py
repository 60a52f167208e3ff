"""Tests of the fake Hub server (tests/hub_server.py), driven only through huggingface_hub / transformers.

Fixture to copy into other test modules (or a conftest.py)::

    import pytest
    from hub_server import FakeHub, configure_hf_clients  # tests/ is on sys.path under pytest

    @pytest.fixture
    def fake_hub(tmp_path, monkeypatch):
        with FakeHub(tmp_path / "fake_hub") as hub:
            # HF_ENDPOINT + already-imported constants, fresh HF_HOME/HF_HUB_CACHE, dummy HF_TOKEN
            configure_hf_clients(monkeypatch, hub.endpoint, tmp_path / "hf_home")
            yield hub
            assert not hub.server_errors, hub.server_errors[0]
            assert not hub.unhandled_requests(), hub.unhandled_requests()
"""

import hashlib
import json
import os

import huggingface_hub
import numpy as np
import pytest
from hub_server import FakeHub, configure_hf_clients, git_blob_sha1, no_retry_sleep
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    create_branch,
    create_repo,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
    upload_folder,
)
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RevisionNotFoundError
from huggingface_hub.utils._runtime import is_xet_available
from safetensors.numpy import save_file

REPO = "test-org/tiny-model"


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    with FakeHub(tmp_path / "fake_hub") as hub:
        configure_hf_clients(monkeypatch, hub.endpoint, tmp_path / "hf_home")
        yield hub
        assert not hub.server_errors, hub.server_errors[0]
        assert not hub.unhandled_requests(), hub.unhandled_requests()
        # Downloads/uploads never went through xet (nothing advertises it).
        assert not [r for r in hub.requests if "xet" in r.path], [r.path for r in hub.requests if "xet" in r.path]


@pytest.fixture
def lfs_hub(tmp_path, monkeypatch):
    """Hub answering 'lfs' like the real one (*.safetensors, > 10 MB); client forced off xet."""
    with FakeHub(tmp_path / "fake_hub", upload_mode="auto") as hub:
        configure_hf_clients(monkeypatch, hub.endpoint, tmp_path / "hf_home", disable_xet=True)
        yield hub
        assert not hub.server_errors, hub.server_errors[0]
        assert not hub.unhandled_requests(), hub.unhandled_requests()


def _make_folder(path, *, big: bool = True, config: dict | None = None):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config or {"model_type": "test", "hidden_size": 32}))
    (path / "README.md").write_text("---\nlicense: mit\ntags:\n- open-vclip\n---\n# Tiny test model\n")
    rng = np.random.default_rng()
    save_file({"w": rng.standard_normal((32, 32), dtype=np.float32)}, str(path / "model.safetensors"))  # ~4 KB
    if big:  # > 10 MB: the size at which the real Hub insists on LFS
        save_file({"w": rng.standard_normal((1024, 2600), dtype=np.float32)}, str(path / "big.safetensors"))
    return path


def _folder_bytes(path):
    return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}


# ------------------------------------------------------------------------------------------ basics


def test_create_repo_whoami_and_repo_info(fake_hub):
    api = HfApi()
    url = create_repo(REPO)
    assert url.repo_id == REPO and url.startswith(fake_hub.endpoint)
    assert create_repo(REPO, exist_ok=True).repo_id == REPO
    with pytest.raises(HfHubHTTPError) as exc:
        create_repo(REPO)
    assert exc.value.response.status_code == 409

    # No namespace => the token's user namespace.
    assert api.create_repo("no-namespace").repo_id == f"{fake_hub.user}/no-namespace"
    assert api.whoami()["name"] == fake_hub.user

    info = api.model_info(REPO)
    assert info.sha == fake_hub.resolve(REPO) and len(info.sha) == 40
    assert [s.rfilename for s in info.siblings] == [".gitattributes"]  # initial commit, as on the Hub
    assert api.repo_exists(REPO) and not api.repo_exists("test-org/missing")
    with pytest.raises(huggingface_hub.errors.RepositoryNotFoundError):
        api.model_info("test-org/missing")


def test_upload_folder_then_snapshot_and_single_file_downloads_match(fake_hub, tmp_path):
    create_repo(REPO)
    folder = _make_folder(tmp_path / "upload")
    expected = _folder_bytes(folder)

    info = upload_folder(repo_id=REPO, folder_path=folder, commit_message="Add weights")
    assert info.oid == fake_hub.resolve(REPO)
    assert fake_hub.list_files(REPO) == sorted([".gitattributes", *expected])
    for name, data in expected.items():
        assert fake_hub.read_file(REPO, name) == data
    assert [c["title"] for c in fake_hub.commits(REPO)] == ["Add weights", "initial commit"]

    snap = snapshot_download(REPO)
    for name, data in expected.items():
        single = hf_hub_download(REPO, name)
        assert open(single, "rb").read() == data
        assert open(os.path.join(snap, name), "rb").read() == data
        assert os.path.realpath(single) == os.path.realpath(os.path.join(snap, name))  # same cached blob

    # ETag = git blob sha1 for regular files: that is the name of the blob in the client cache.
    meta = get_hf_file_metadata(hf_hub_url(REPO, "model.safetensors"))
    assert meta.etag == git_blob_sha1(expected["model.safetensors"])
    assert meta.commit_hash == info.oid and meta.size == len(expected["model.safetensors"])
    assert os.path.basename(os.path.realpath(hf_hub_download(REPO, "model.safetensors"))) == meta.etag

    # Cached: a second download only HEADs the file, it does not GET it again.
    fake_hub.clear_requests()
    hf_hub_download(REPO, "big.safetensors")
    assert [r.method for r in fake_hub.requests if r.path.endswith("/big.safetensors")] == ["HEAD"]

    # Range requests (safetensors header parsing reads only the first bytes of each file).
    st_meta = HfApi().get_safetensors_metadata(REPO)
    assert st_meta.files_metadata["model.safetensors"].tensors["w"].shape == [32, 32]
    files = {f.path: f for f in HfApi().list_repo_tree(REPO, recursive=True)}
    assert files["big.safetensors"].size == len(expected["big.safetensors"])
    assert HfApi().list_repo_files(REPO) == sorted([".gitattributes", *expected])


def test_branch_commit_and_revision_downloads(fake_hub, tmp_path):
    api = HfApi()
    create_repo(REPO)
    v1 = _make_folder(tmp_path / "v1", big=False, config={"version": 1})
    main_sha = upload_folder(repo_id=REPO, folder_path=v1).oid

    create_branch(REPO, branch="raw-swa")
    v2 = _make_folder(tmp_path / "v2", big=False, config={"version": 2})
    (v2 / "extra.txt").write_text("only on the branch")
    branch_sha = upload_folder(repo_id=REPO, folder_path=v2, revision="raw-swa", commit_message="SWA weights").oid

    assert branch_sha != main_sha
    assert fake_hub.resolve(REPO, "main") == main_sha
    assert fake_hub.resolve(REPO, "raw-swa") == branch_sha
    assert "extra.txt" not in fake_hub.list_files(REPO, "main")
    assert fake_hub.read_file(REPO, "extra.txt", revision="raw-swa") == b"only on the branch"

    refs = api.list_repo_refs(REPO)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": main_sha, "raw-swa": branch_sha}

    def cfg(**kw):
        return json.load(open(hf_hub_download(REPO, "config.json", **kw)))

    assert cfg() == {"version": 1}
    assert cfg(revision="raw-swa") == {"version": 2}
    assert cfg(revision=main_sha) == {"version": 1}  # a commit sha is a revision too
    assert cfg(revision=branch_sha[:10]) == {"version": 2}  # and so is a short sha

    snap = snapshot_download(REPO, revision="raw-swa")
    assert os.path.basename(snap) == branch_sha
    assert open(os.path.join(snap, "model.safetensors"), "rb").read() == (v2 / "model.safetensors").read_bytes()
    assert api.model_info(REPO, revision="raw-swa").sha == branch_sha
    assert [c.title for c in api.list_repo_commits(REPO, revision="raw-swa")][0] == "SWA weights"

    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "config.json", revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "no-such-file.bin")
    with pytest.raises(HfHubHTTPError) as exc:
        create_branch(REPO, branch="raw-swa")
    assert exc.value.response.status_code == 409
    create_branch(REPO, branch="raw-swa", exist_ok=True)

    api.create_tag(REPO, tag="v1.0", revision=main_sha)
    assert cfg(revision="v1.0") == {"version": 1}


def test_token_checks_private_repos_and_server_side_seeding(tmp_path, monkeypatch):
    with FakeHub(tmp_path / "hub", token="hf_right") as hub:
        configure_hf_clients(monkeypatch, hub.endpoint, tmp_path / "home", token="hf_wrong")
        with pytest.raises(HfHubHTTPError) as exc:
            create_repo(REPO)
        assert exc.value.response.status_code == 401

        api = HfApi(token="hf_right")
        api.create_repo(REPO, private=True)
        api.upload_file(repo_id=REPO, path_or_fileobj=b"secret", path_in_repo="s.txt")
        assert open(api.hf_hub_download(REPO, "s.txt"), "rb").read() == b"secret"
        with pytest.raises(huggingface_hub.errors.RepositoryNotFoundError):
            HfApi(token=False).model_info(REPO)  # private repo + no token: hidden, as on the Hub

        # Seeding without HTTP, e.g. to test download code against a prepared repo (datasets too).
        sha = hub.commit_files("test-org/data", {"a/b.json": b"{}"}, repo_type="dataset", message="seed")
        monkeypatch.setenv("HF_TOKEN", "hf_right")
        path = hf_hub_download("test-org/data", "a/b.json", repo_type="dataset")
        assert open(path, "rb").read() == b"{}" and sha in path
        assert HfApi().list_repo_files("test-org/data", repo_type="dataset") == [".gitattributes", "a/b.json"]
        assert not hub.server_errors and not hub.unhandled_requests()


# -------------------------------------------------------------------------------------- transformers


def _tiny_clip():
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=100,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=16,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
    )
    return CLIPModel(config).eval()


def _tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1, **{f"w{i}": i + 2 for i in range(98)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert (sa[key] == sb[key]).all(), key


def test_transformers_push_to_hub_and_from_pretrained(fake_hub):
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPModel

    repo_id = "test-org/tiny-clip"
    model = _tiny_clip()
    model.push_to_hub(repo_id)
    assert "model.safetensors" in fake_hub.list_files(repo_id)
    assert "config.json" in fake_hub.list_files(repo_id)

    loaded = CLIPModel.from_pretrained(repo_id)
    _assert_same_weights(model, loaded)
    assert AutoConfig.from_pretrained(repo_id).model_type == "clip"
    auto = AutoModel.from_pretrained(repo_id)
    assert type(auto).__name__ == "CLIPModel"
    _assert_same_weights(model, auto)

    tokenizer = _tiny_tokenizer()
    tokenizer.push_to_hub(repo_id)
    tok2 = AutoTokenizer.from_pretrained(repo_id)
    assert tok2("w1 w2 w97")["input_ids"] == tokenizer("w1 w2 w97")["input_ids"]

    # A second model on a branch; main keeps the first one.
    main_sha = fake_hub.resolve(repo_id)
    with torch.no_grad():
        model2 = _tiny_clip()
        for p in model2.parameters():
            p.add_(1.0)
    model2.push_to_hub(repo_id, revision="raw-swa")  # transformers creates the branch itself
    assert fake_hub.resolve(repo_id) == main_sha
    _assert_same_weights(model2, CLIPModel.from_pretrained(repo_id, revision="raw-swa"))
    _assert_same_weights(model, CLIPModel.from_pretrained(repo_id))
    assert AutoTokenizer.from_pretrained(repo_id, revision="raw-swa")("w3")["input_ids"] == tokenizer("w3")["input_ids"]


# ---------------------------------------------------------------------------------- failures


def test_commit_500_makes_upload_folder_raise_and_leaves_main_unchanged(fake_hub, tmp_path, monkeypatch):
    no_retry_sleep(monkeypatch)  # upload_folder retries a failed commit 5 times with backoff
    create_repo(REPO)
    upload_folder(repo_id=REPO, folder_path=_make_folder(tmp_path / "v1", big=False, config={"v": 1}))
    before_sha, before_files = fake_hub.resolve(REPO), fake_hub.list_files(REPO)
    before_config = fake_hub.read_file(REPO, "config.json")

    v2 = _make_folder(tmp_path / "v2", config={"v": 2})
    fault = fake_hub.fail_next("POST", "/commit/", status=500, times=None)  # every commit attempt fails
    with pytest.raises(HfHubHTTPError) as exc:
        upload_folder(repo_id=REPO, folder_path=v2)
    assert exc.value.response.status_code == 500
    assert fault.triggered >= 1
    assert fake_hub.resolve(REPO) == before_sha
    assert fake_hub.list_files(REPO) == before_files
    assert fake_hub.read_file(REPO, "config.json") == before_config
    assert json.load(open(hf_hub_download(REPO, "config.json"))) == {"v": 1}

    # Once the server is healthy again the same call goes through.
    fake_hub.clear_faults()
    upload_folder(repo_id=REPO, folder_path=v2)
    assert json.loads(fake_hub.read_file(REPO, "config.json")) == {"v": 2}


def test_transient_commit_500(fake_hub, tmp_path, monkeypatch):
    """One 500 on the commit: retried by upload_folder when hf_xet is installed, fatal otherwise."""
    no_retry_sleep(monkeypatch)
    create_repo(REPO)
    before = fake_hub.resolve(REPO)
    fault = fake_hub.fail_next("POST", "/commit/", status=500)
    folder = _make_folder(tmp_path / "up", big=False)
    if is_xet_available():  # streamed pipeline: commit POST sent with retry_on_error=True
        upload_folder(repo_id=REPO, folder_path=folder)
        assert fake_hub.resolve(REPO) != before
    else:  # legacy single create_commit: no retry
        with pytest.raises(HfHubHTTPError):
            upload_folder(repo_id=REPO, folder_path=folder)
        assert fake_hub.resolve(REPO) == before
    assert fault.triggered == 1


def test_commit_500_without_xet_create_commit_path(tmp_path, monkeypatch):
    """HF_HUB_DISABLE_XET: upload_folder is one create_commit, which does not retry the commit."""
    with FakeHub(tmp_path / "hub") as hub:
        configure_hf_clients(monkeypatch, hub.endpoint, tmp_path / "home", disable_xet=True)
        create_repo(REPO)
        before = hub.resolve(REPO)
        hub.fail_next("POST", "/commit/", status=503)
        with pytest.raises(HfHubHTTPError):
            upload_folder(repo_id=REPO, folder_path=_make_folder(tmp_path / "up", big=False))
        assert hub.resolve(REPO) == before and hub.list_files(REPO) == [".gitattributes"]
        assert not hub.server_errors


def test_commits_are_atomic(fake_hub):
    api = HfApi()
    create_repo(REPO)
    api.upload_file(repo_id=REPO, path_or_fileobj=b"one", path_in_repo="a.txt")
    before = fake_hub.resolve(REPO)

    # The deletion fails server-side => the addition in the same commit must not land either.
    with pytest.raises(EntryNotFoundError):
        api.create_commit(
            REPO,
            operations=[
                CommitOperationAdd(path_in_repo="b.txt", path_or_fileobj=b"two"),
                CommitOperationDelete(path_in_repo="missing.txt"),
            ],
            commit_message="half-valid commit",
        )
    assert fake_hub.resolve(REPO) == before
    assert fake_hub.list_files(REPO) == [".gitattributes", "a.txt"]

    # parent_commit is honoured: a stale parent is refused (412).
    api.upload_file(repo_id=REPO, path_or_fileobj=b"three", path_in_repo="c.txt")
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_commit(
            REPO,
            operations=[CommitOperationAdd(path_in_repo="d.txt", path_or_fileobj=b"four")],
            commit_message="stale",
            parent_commit=before,
        )
    assert exc.value.response.status_code == 412
    assert "d.txt" not in fake_hub.list_files(REPO)


def test_network_failures_during_download(fake_hub, tmp_path, monkeypatch):
    no_retry_sleep(monkeypatch)
    api = HfApi()
    create_repo(REPO)
    payload = os.urandom(100_000)
    api.upload_file(repo_id=REPO, path_or_fileobj=payload, path_in_repo="f.bin")

    # Connection cut after 1000 bytes of the body: the client retries (it would send a Range request
    # for the rest if it had written any bytes, but it buffers up to 10 MB before writing).
    fake_hub.clear_requests()
    fault = fake_hub.fail_next("GET", "/resolve/", truncate_body=1000)
    assert open(hf_hub_download(REPO, "f.bin", cache_dir=tmp_path / "c1"), "rb").read() == payload
    assert fault.triggered == 1
    assert [r.method for r in fake_hub.requests if r.path.endswith("/f.bin")] == ["HEAD", "GET", "GET"]

    # Server unreachable for every GET: the download fails (nothing cached for this cache dir).
    fake_hub.fail_next("GET", "/resolve/", drop_connection=True, times=None)
    with pytest.raises(Exception):
        hf_hub_download(REPO, "f.bin", cache_dir=tmp_path / "c2")
    fake_hub.clear_faults()
    assert open(hf_hub_download(REPO, "f.bin", cache_dir=tmp_path / "c2"), "rb").read() == payload


# --------------------------------------------------------------------------------- LFS transfer


def test_lfs_basic_transfer_when_xet_disabled(lfs_hub, tmp_path):
    create_repo(REPO)
    folder = _make_folder(tmp_path / "up")
    expected = _folder_bytes(folder)
    upload_folder(repo_id=REPO, folder_path=folder)

    assert lfs_hub.file_info(REPO, "model.safetensors")["lfs"]  # *.safetensors pattern
    assert lfs_hub.file_info(REPO, "big.safetensors")["lfs"]
    assert not lfs_hub.file_info(REPO, "config.json")["lfs"]
    paths = [r.path for r in lfs_hub.requests]
    assert any(p.endswith(".git/info/lfs/objects/batch") for p in paths)
    assert sum("/_fakehub/lfs/upload/" in p for p in paths) == 2

    big_sha = hashlib.sha256(expected["big.safetensors"]).hexdigest()
    meta = get_hf_file_metadata(hf_hub_url(REPO, "big.safetensors"))
    assert meta.etag == big_sha  # LFS files: ETag is the sha256
    snap = snapshot_download(REPO)
    for name, data in expected.items():
        assert open(hf_hub_download(REPO, name), "rb").read() == data
        assert open(os.path.join(snap, name), "rb").read() == data
    tree = {f.path: f for f in HfApi().list_repo_tree(REPO)}
    assert tree["big.safetensors"].lfs.sha256 == big_sha

    # Re-uploading identical content: nothing to transfer, nothing to commit.
    lfs_hub.clear_requests()
    upload_folder(repo_id=REPO, folder_path=folder)
    assert not [r for r in lfs_hub.requests if "/_fakehub/lfs/upload/" in r.path or "/commit/" in r.path]


def test_lfs_upload_failing_midway_leaves_main_unchanged(lfs_hub, tmp_path, monkeypatch):
    no_retry_sleep(monkeypatch)
    create_repo(REPO)
    before = lfs_hub.resolve(REPO)
    # First LFS PUT succeeds, every later one fails (the client retries PUTs on 5xx).
    fault = lfs_hub.fail_next("PUT", "/_fakehub/lfs/upload/", status=500, skip=1, times=None)
    with pytest.raises(Exception):
        upload_folder(repo_id=REPO, folder_path=_make_folder(tmp_path / "up"))
    assert fault.triggered >= 1
    assert not [r for r in lfs_hub.requests if "/commit/" in r.path]
    assert lfs_hub.resolve(REPO) == before and lfs_hub.list_files(REPO) == [".gitattributes"]
