"""Registries are filled by entry points; ``build`` is the one way to build from a spec."""
from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from graphfm.errors import ConfigError
from graphfm.registry import Registry


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_lookup_in_a_fresh_interpreter_finds_every_model_kind() -> None:
    # Nothing but the base module is imported: the registry must load samgpt, unigraph2 and
    # multimodal_vit by itself (the bug of issue 12: adapt missed multimodal_vit).
    out = _fresh("from graphfm.models.base import MODELS; import sys; "
                 "assert 'multimodal' not in sys.modules; "
                 "print(MODELS.get('multimodal_vit').__name__, MODELS.get('samgpt').__name__, ','.join(MODELS.names()))")
    assert out.split() == ["MultimodalViT", "SAMGPT", "multimodal_vit,samgpt,unigraph2"]


def test_a_hit_loads_only_the_entry_point_of_that_name() -> None:
    out = _fresh("from graphfm.models.base import MODELS; import sys; MODELS.get('samgpt'); "
                 "print('graphfm.models.unigraph2' in sys.modules, 'multimodal' in sys.modules)")
    assert out.split() == ["False", "False"]


def test_register_sets_the_name_attribute_once() -> None:
    reg = Registry("widget", name_attr="widget_name")

    @reg.register("plain")
    class Plain:
        pass

    @reg.register("child")
    class Child(Plain):
        pass

    assert Plain.widget_name == "plain" and Child.widget_name == "child"
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("plain")(Child)


@pytest.fixture
def widgets(tmp_path, monkeypatch):
    """A registry of group ``test.widgets`` with three entry points: ``module:attr``, a bare module
    that registers two widgets in a loop, and one whose module does not exist."""
    (tmp_path / "widget_registry.py").write_text(
        "from graphfm.registry import Registry\n"
        "WIDGETS = Registry('widget', group='test.widgets', name_attr='widget_name')\n")
    (tmp_path / "widget_plugin.py").write_text(
        "from widget_registry import WIDGETS\n"
        "class Dial:\n    def __init__(self, size: int = 1, colour: str = 'red'):\n"
        "        self.size, self.colour = size, colour\n"
        "for n in ('knob', 'lever'):\n    WIDGETS.register(n)(type(n.title(), (), {}))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("widget_registry", "widget_plugin"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    points = [EntryPoint("dial", "widget_plugin:Dial", "test.widgets"),
              EntryPoint("loop", "widget_plugin", "test.widgets"),
              EntryPoint("broken", "no_such_module_xyz:Thing", "test.widgets")]
    monkeypatch.setattr("graphfm.registry.entry_points", lambda group: points if group == "test.widgets" else [])
    import widget_registry

    return widget_registry.WIDGETS


def test_module_and_attribute_entry_points_both_register(widgets) -> None:
    dial = widgets.get("dial")                       # module:attr -> registered under the entry point's name
    assert dial.__name__ == "Dial" and dial.widget_name == "dial"
    assert widgets.get("Knob").__name__ == "Knob"    # a bare module registers on import (a miss loads all)
    with pytest.warns(RuntimeWarning, match="no_such_module_xyz"):
        assert widgets.names() == ["dial", "knob", "lever"]


def test_a_broken_plugin_is_named_in_the_error(widgets) -> None:
    with pytest.raises(ConfigError, match="widget plugin 'broken'.*failed to import.*ModuleNotFoundError"):
        widgets.get("broken")
    with pytest.raises(ConfigError, match="unknown widget 'gear'; valid widgets: dial, knob, lever; plugins that "
                                          "failed to load: broken"):
        widgets.get("gear")


@pytest.mark.filterwarnings("ignore:widget plugin")
def test_build_checks_the_spec(widgets) -> None:
    dial = widgets.build({"name": "dial", "size": 3})
    assert (dial.size, dial.colour) == (3, "red")
    assert widgets.build("dial", colour="blue").colour == "blue"
    with pytest.raises(ConfigError, match=r"widget 'dial': unknown key\(s\) \['sise'\]; valid keys: size, colour"):
        widgets.build({"name": "dial", "sise": 3})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['colour'\]; valid keys: size"):
        widgets.build({"name": "dial", "colour": "green"}, colour="blue")   # fixed by the caller
    with pytest.raises(ConfigError, match=r"widget 'dial'.size: expected int"):
        widgets.build({"name": "dial", "size": "big"})
    with pytest.raises(ConfigError, match="unknown widget 'dail'; valid widgets: dial"):
        widgets.build({"name": "dail"})
    with pytest.raises(ConfigError, match="mapping with a 'name' key"):
        widgets.build({"kind": "dial"})


def test_every_builtin_entry_point_registers_something() -> None:
    from graphfm.bench import BENCHMARKS
    from graphfm.data import DATASETS
    from graphfm.encoders import ENCODERS
    from graphfm.engine.datamodules import DATAMODULES
    from graphfm.models import MODELS
    from graphfm.objectives import OBJECTIVES

    for registry in (BENCHMARKS, DATASETS, ENCODERS, DATAMODULES, MODELS, OBJECTIVES):
        registry.names()
        assert not registry.failures, registry.failures
    assert {"samgpt", "unigraph2", "multimodal_vit"} <= set(MODELS.names())
    assert {"cora", "mutag", "digits_graph"} <= set(DATASETS.names())
    assert {"samgpt", "unigraph2", "multimodal"} <= set(BENCHMARKS.names())
    assert {"graph_domains", "multimodal_graphs", "multimodal"} <= set(DATAMODULES.names())
    assert {"multimae", "bm_mae", "graph_contrastive"} <= set(OBJECTIVES.names())
    assert {"text", "precomputed", "graphfm"} <= set(ENCODERS.names())
