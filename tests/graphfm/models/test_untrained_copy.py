import torch

from graphfm.models.samgpt import SAMGPT


def _fitted():
    torch.manual_seed(3)
    model = SAMGPT(in_dims={"a": 12, "b": 9}, align_dim=4, hidden=8, num_layers=2)
    model.aligner.fit("a", torch.randn(40, 12))
    model.aligner.fit("b", torch.randn(30, 9))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)                                   # "pretraining" moved every parameter
    return model


def test_untrained_copy_redraws_parameters_and_keeps_fitted_buffers():
    model = _fitted()
    copy = model.untrained_copy(seed=0)
    assert type(copy) is SAMGPT and copy.init_kwargs == model.init_kwargs
    params = dict(model.named_parameters())
    for name, p in copy.named_parameters():
        assert not torch.equal(p, params[name]), name
    buffers = dict(model.named_buffers())
    for name, b in copy.named_buffers():
        assert torch.equal(b, buffers[name]), name


def test_untrained_copy_is_seeded_and_leaves_the_global_rng_alone():
    model = _fitted()
    torch.manual_seed(11)
    before = torch.rand(3)
    torch.manual_seed(11)
    a, b = model.untrained_copy(seed=5), model.untrained_copy(seed=5)
    assert torch.equal(torch.rand(3), before)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q)
    c = model.untrained_copy(seed=6)
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_a_samgpt_with_prepared_graphs_cached_can_be_deep_copied():
    import copy

    import torch
    from torch_geometric.data import Data

    from graphfm.models.samgpt import SAMGPT

    model = SAMGPT(domains=["a"], in_dims={"a": 6}, align_dim=4, hidden=8, num_layers=2)
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    graph = Data(x=torch.randn(4, 6), edge_index=edge_index, domain="a")
    model.aligner.fit("a", graph.x)
    model.prepare(graph)                                  # fills the cache with CSR matrices
    assert len(model._cache) == 1
    twin = copy.deepcopy(model)
    assert twin._cache == {} and len(model._cache) == 1
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
