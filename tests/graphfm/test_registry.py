"""One registration mechanism: a registry imports its providers on the first miss."""
from __future__ import annotations

import subprocess
import sys

import pytest

from graphfm.errors import ConfigError
from graphfm.registry import PROVIDERS, Registry


def test_lookup_in_a_fresh_interpreter_finds_every_model_kind() -> None:
    # Nothing but the base module is imported: the registry must load samgpt, unigraph2 and
    # multimodal_vit by itself (the bug of issue 12: adapt missed multimodal_vit).
    code = ("from graphfm.models.base import MODELS; import sys; "
            "assert 'multimodal' not in sys.modules; "
            "print(MODELS.get('multimodal_vit').__name__, MODELS.get('samgpt').__name__, ','.join(MODELS.names()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["MultimodalViT", "SAMGPT", "multimodal_vit,samgpt,unigraph2"]


def test_providers_are_loaded_once_on_a_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setitem(PROVIDERS, "widget", ("json",))
    reg = Registry("widget")
    monkeypatch.setattr("graphfm.registry.load_providers", lambda kind: calls.append(kind))
    reg.register("a")(object)
    assert reg.get("a") is object and calls == []          # a hit imports nothing
    with pytest.raises(ConfigError, match="unknown widget 'b'; valid widgets: a"):
        reg.get("b")
    assert "b" not in reg and calls == ["widget"]          # a miss imports the providers once


def test_every_provider_module_registers_something() -> None:
    from graphfm.registry import load_all

    load_all()
    from graphfm.bench import BENCHMARKS
    from graphfm.data import DATASETS
    from graphfm.models import MODELS

    assert {"samgpt", "unigraph2", "multimodal_vit"} <= set(MODELS.names())
    assert {"cora", "mutag", "digits_graph"} <= set(DATASETS.names())
    assert {"samgpt", "unigraph2", "multimodal"} <= set(BENCHMARKS.names())
