"""A MultiMAE checkpoint from ``graphfm pretrain`` as UniGraph2's image encoder."""
import pytest
import torch
import torch.nn.functional as F
import yaml

from graphfm.encoders import build_encoder, graph_modalities
from graphfm.errors import ConfigError


@pytest.fixture(scope="module")
def multimae_run(tmp_path_factory):
    from graphfm.config import resolve_config
    from graphfm.engine import pretrain

    cfg = yaml.safe_load(open(resolve_config("multimodal/multimae")))
    cfg["trainer"].update(max_steps=2, log_every=1)
    return pretrain(cfg, tmp_path_factory.mktemp("multimae") / "run")


def test_image_branch_features_equal_the_multimae_encoder_output(multimae_run, tmp_path):
    from torch_geometric.data import Data

    from graphfm.data.digits import digits_graph
    from graphfm.models import PretrainedModel
    from graphfm.models.unigraph2 import UniGraph2

    full = digits_graph()
    data = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), image=full.image[:40], num_nodes=40)
    spec = {"image": {"encoder": {"name": "graphfm", "checkpoint": str(multimae_run)}}}
    feats, masks = graph_modalities(data, spec, cache_dir=tmp_path, progress=False)
    vit = PretrainedModel.from_pretrained(multimae_run).eval()
    size = vit.adapters["rgb"].size[0]
    with torch.no_grad():
        expected = vit.embed({"rgb": F.interpolate(full.image[:40], size=(size, size), mode="bilinear",
                                                   align_corners=False).clamp(0, 1)})
    assert feats["image"].shape == (40, vit.dim) and bool(masks["image"].all())
    assert torch.allclose(feats["image"], expected, atol=1e-5)
    # the cache returns the same rows; a UniGraph2 built on it reads them as its image branch
    again, _ = graph_modalities(data, spec, cache_dir=tmp_path, progress=False)
    assert torch.equal(again["image"], feats["image"])
    model = UniGraph2({"image": dict(spec["image"], dim=vit.dim)}, hidden_dim=16, num_experts=2, heads=2)
    got, _ = model.prepare(data, cache_dir=tmp_path, progress=False)
    from graphfm.encoders import normalize_features

    assert torch.allclose(got["image"], normalize_features(feats, masks, "center")["image"])


def test_encoder_identity_and_options(multimae_run):
    enc = build_encoder({"name": "graphfm", "checkpoint": str(multimae_run)})
    assert enc.modality == "rgb" and enc.dim == 64
    assert enc.encoder_id.startswith("graphfm:") and build_encoder(enc.config()).encoder_id == enc.encoder_id
    assert enc.preprocess(torch.rand(3, 3, 32, 32)).shape == (3, 1, 16, 16)      # colour averaged, resized
    with pytest.raises(ConfigError, match="not an image modality"):
        build_encoder({"name": "graphfm", "checkpoint": str(multimae_run), "modality": "semseg"})


def test_bad_checkpoints_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="graphfm pretrain"):
        build_encoder({"name": "graphfm", "checkpoint": str(tmp_path)})
    with pytest.raises(ConfigError, match="needs checkpoint"):
        build_encoder({"name": "graphfm"})
