"""`import qwen_audio_hf` is light, and the Auto classes know the package however it was imported."""

import subprocess
import sys

import pytest

_CHECK = (
    "import sys\n"
    "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
    "from transformers.models.auto.processing_auto import PROCESSOR_MAPPING\n"
    "from transformers.pipelines import SUPPORTED_TASKS\n"
    "print('qwen_audio' in CONFIG_MAPPING, 'qwen-audio-long-form' in SUPPORTED_TASKS,\n"
    "      PROCESSOR_MAPPING[CONFIG_MAPPING['qwen_audio']].__name__)\n"
)


def _run(code):
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_importing_the_package_imports_neither_torch_nor_transformers():
    assert _run("import sys, qwen_audio_hf\nprint('torch' in sys.modules, 'transformers' in sys.modules)") == [
        "False", "False"]


@pytest.mark.parametrize(
    "first",
    [
        "import qwen_audio_hf",  # then transformers: the hook registers when it is imported
        "import transformers\nimport qwen_audio_hf",  # at once
        "from qwen_audio_hf.processing import QwenAudioProcessor",  # transformers imported from inside the package
        "from qwen_audio_hf import QwenAudioForConditionalGeneration",
        "import qwen_audio_hf.long_form.pipeline",
    ],
)
def test_the_auto_classes_know_the_package_however_it_was_imported(first):
    assert _run(first + "\n" + _CHECK)[-3:] == ["True", "True", "QwenAudioProcessor"]


def test_public_names_and_subpackages_resolve_lazily():
    """As the README shows: `import qwen_audio_hf`, then `evaluate.load(qwen_audio_hf.evaluation.metric_path(...))`."""
    out = _run("import evaluate, qwen_audio_hf as q\n"
               "wer = evaluate.load(q.evaluation.metric_path('wer'))\n"
               "print(q.QwenAudioProcessor.__name__, wer.compute(predictions=['a b c x'], references=['a b c d']))")
    assert out[0] == "QwenAudioProcessor" and " ".join(out[1:]) == "{'wer': 0.25}"
