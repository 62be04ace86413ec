"""The package's import direction: layers import only downward, and no module imports itself back (lazy imports too).

Every import in src/qwen_audio_hf counts, at module level or inside a function, absolute or relative. Layers,
bottom-up (a module may import its own layer and the layers below it):

    core  <  processing  <  modeling  <  training, evaluation, long_form  <  demo, cli, export, serving, web

Within modeling, the configuration imports no other modeling module (configuration <- modeling). core imports
only the standard library (torch-free foundations).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = "qwen_audio_hf"
ROOT = Path(__file__).resolve().parent.parent / "src" / PACKAGE

LAYERS = {
    "core": 0,
    "processing": 1,
    "modeling": 2,
    "training": 3,
    "evaluation": 3,
    "long_form": 3,
    "demo": 4,
    "serving": 4,
    "web": 4,  # the browser app (Gradio, imported only here)
}
"""Rank of each subpackage. A new subpackage must be given one here."""
TOP_LEVEL_MODULES = {
    "jsonl": 0,  # pure-Python jsonl reader shared by training and evaluation
    "cli": 4,
    "export": 4,
    "__main__": 4,
    "registration": 4,  # registers the model and processing classes with the Auto classes
    "": 4,  # qwen_audio_hf/__init__.py: lazy access to the classes and subpackages; installs the registration
}
"""Rank of each module directly in qwen_audio_hf/ (by name, "" for the package's __init__)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str:
    """The module an import of ``name`` loads: the name itself if it is one of ours, else its longest known prefix."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> list[tuple[str, int]]:
    """(imported qwen_audio_hf module, line) for every import statement of ``module``, lazy ones included."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from pkg import name` loads pkg.name when that is a module, else pkg itself
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in MODULES else origin for alias in node.names]
        else:
            continue
        found += [(_resolve(target), node.lineno) for target in targets if target.split(".")[0] == PACKAGE]
    return found


def layer_of(module: str) -> tuple[str, int]:
    """(layer name, rank); raises naming the module when it has none."""
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and parts[1] in TOP_LEVEL_MODULES):
        name = parts[1] if len(parts) == 2 else ""
        if name not in TOP_LEVEL_MODULES:
            raise LookupError(name)
        return (name or "qwen_audio_hf/__init__"), TOP_LEVEL_MODULES[name]
    if parts[1] not in LAYERS:
        raise LookupError(parts[1])
    return parts[1], LAYERS[parts[1]]


def test_every_module_has_a_layer():
    unassigned = []
    for module in MODULES:
        try:
            layer_of(module)
        except LookupError as error:
            unassigned.append(f"{module} ({error.args[0]!r})")
    assert not unassigned, (
        f"{unassigned}: no layer assigned. Give each new subpackage a rank in LAYERS (or each new top-level module "
        "one in TOP_LEVEL_MODULES) in tests/test_import_layers.py, following the layering in TEAM_RULES / README "
        "(core < processing < modeling < training/evaluation/long_form < demo/cli/export/serving)."
    )


def test_imports_point_down_the_layers():
    upward = []
    for module in MODULES:
        source_layer, source_rank = layer_of(module)
        for target, line in imports_of(module):
            target_layer, target_rank = layer_of(target)
            if target_rank > source_rank:
                upward.append(f"{MODULES[module].relative_to(ROOT.parent)}:{line} ({source_layer}) imports "
                              f"{target} ({target_layer})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_configuration_imports_no_modeling_module():
    config = f"{PACKAGE}.modeling.configuration_qwen_audio"
    modeling = [target for target, _ in imports_of(config) if target.startswith(f"{PACKAGE}.modeling")]
    assert not modeling, f"{config} imports {modeling}; configuration <- modeling, never the other way"


def test_core_is_pure_python():
    for module in (m for m in MODULES if layer_of(m)[0] == "core"):
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else [])
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names, f"{module} imports {name}; core imports the standard library only"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    graph = {module: {target for target, _ in imports_of(module) if target != module} for module in MODULES}
    assert not _cycles(graph), f"import cycles (lazy imports included): {_cycles(graph)}"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from ..modeling import QwenAudioConfig\n", f"{PACKAGE}.modeling"),
        ("def f():\n    from ..modeling.modeling_qwen_audio import X\n", f"{PACKAGE}.modeling.modeling_qwen_audio"),
        ("import qwen_audio_hf\n", PACKAGE),
        ("from qwen_audio_hf.core import token_ids\n", f"{PACKAGE}.core.token_ids"),
    ],
)
def test_the_scan_sees_relative_absolute_and_lazy_imports(source, expected, monkeypatch, tmp_path):
    fake = tmp_path / "fake.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, f"{PACKAGE}.processing.fake", fake)
    assert imports_of(f"{PACKAGE}.processing.fake") == [(expected, source.count("\n"))]
