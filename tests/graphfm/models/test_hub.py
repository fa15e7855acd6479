"""Hub conventions, offline: a cache laid out as huggingface_hub lays it out, and push_to_hub
against a stand-in Hub on 127.0.0.1 (only the endpoints the client calls)."""
from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from graphfm.errors import CheckpointError
from graphfm.models import PretrainedModel
from graphfm.models.hub import is_repo_id, resolve_checkpoint

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def tiny_model() -> PretrainedModel:
    from multimodal.model import MultimodalViT

    torch.manual_seed(0)
    return MultimodalViT(modalities={"rgb": {"name": "patch2d", "channels": 3, "image_size": 8, "patch_size": 4}},
                         dim=16, depth=1, heads=2)


def hub_cache(cache: Path, repo_id: str, files: Dict[str, bytes]) -> Path:
    """Lay out ``files`` as huggingface_hub caches a model repo: blobs, snapshot symlinks, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        blob = hashlib.sha256(content).hexdigest()
        (repo / "blobs" / blob).write_bytes(content)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob))
    return snapshot


def test_from_pretrained_reads_a_hub_id_from_the_cache_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model()
    model.save_pretrained(tmp_path / "ckpt")
    files = {n: (tmp_path / "ckpt" / n).read_bytes() for n in ("config.yaml", "model.safetensors", "README.md")}
    hub_cache(tmp_path / "hub", "graphfm-org/tiny-vit", files)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")   # would refuse at once if anything were fetched
    loaded = PretrainedModel.from_pretrained("graphfm-org/tiny-vit")
    assert type(loaded).__name__ == "MultimodalViT"
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    assert resolve_checkpoint(f"graphfm-org/tiny-vit@{COMMIT}").name == COMMIT
    with pytest.raises(CheckpointError, match="does not exist.*not in the Hugging Face cache"):
        PretrainedModel.from_pretrained("graphfm-org/absent")


def test_repo_ids_and_paths_are_told_apart(tmp_path: Path) -> None:
    assert is_repo_id("owner/name") and is_repo_id("owner/name@v1")
    assert not is_repo_id(str(tmp_path / "x")) and not is_repo_id("./a/b") and not is_repo_id("a/b/c")
    assert resolve_checkpoint(tmp_path) == tmp_path


def test_model_card_beside_the_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "experiment.yaml").write_text("name: tiny\ndata: {name: multimodal, datasets: [digits]}\n"
                                              "objective: {name: multimae}\ntrainer: {max_steps: 20}\n")
    (tmp_path / "logs" / "metrics.csv").write_text("step,train/loss\n9,2.5\n19,1.25\n")
    tiny_model().save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: graphfm\n")
    for fragment in ("source domains: digits", "objective: multimae", "steps: 20", "train/loss 1.25",
                     "graphfm version:", "model: multimodal_vit", "dim: 16"):
        assert fragment in card, fragment


class StandInHub(BaseHTTPRequestHandler):
    """The endpoints HfApi.create_repo + upload_folder call; every file is a 'regular' upload."""

    calls: List[str] = []
    repos: Dict[str, Dict[str, bytes]] = {}

    def log_message(self, *args) -> None:
        pass

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = self.path.split("?")[0]
        self.calls.append(f"POST {path}")
        if path == "/api/repos/create":
            req = json.loads(body)
            repo = f"{req.get('organization') or 'user'}/{req['name']}"
            self.repos.setdefault(repo, {})
            return self._reply(200, {"url": f"http://{self.headers['Host']}/{repo}", "name": repo})
        if path == "/api/validate-yaml":
            return self._reply(200, {"errors": [], "warnings": []})
        parts = path.split("/")            # /api/models/<owner>/<name>/<verb>/<revision>
        if len(parts) == 7 and parts[:3] == ["", "api", "models"]:
            repo, verb = f"{parts[3]}/{parts[4]}", parts[5]
            if verb == "preupload":
                files = json.loads(body)["files"]
                return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                   for f in files]})
            if verb == "commit":
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        value = item["value"]
                        self.repos[repo][value["path"]] = base64.b64decode(value["content"])
                return self._reply(200, {"commitUrl": f"http://{self.headers['Host']}/{repo}/commit/{COMMIT}",
                                            "commitOid": COMMIT})
        self._reply(404, {"error": f"stand-in hub has no {path}"})


def test_push_to_hub_against_a_stand_in_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    # CI runs with HF_HUB_OFFLINE=1, which blocks every request; the stand-in is on 127.0.0.1.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    StandInHub.calls, StandInHub.repos = [], {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInHub)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        model = tiny_model()
        url = model.push_to_hub("graphfm-org/tiny-vit", token="hf_test", endpoint=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert url.endswith(COMMIT)
    assert StandInHub.calls == ["POST /api/repos/create", "POST /api/validate-yaml",
                                "POST /api/models/graphfm-org/tiny-vit/preupload/main",
                                "POST /api/models/graphfm-org/tiny-vit/commit/main"]
    uploaded = StandInHub.repos["graphfm-org/tiny-vit"]
    assert sorted(uploaded) == ["README.md", "config.yaml", "model.safetensors"]
    assert "graphfm-org/tiny-vit" in uploaded["README.md"].decode()
    (tmp_path / "back").mkdir()
    for name, content in uploaded.items():
        (tmp_path / "back" / name).write_bytes(content)
    back = PretrainedModel.from_pretrained(tmp_path / "back")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
