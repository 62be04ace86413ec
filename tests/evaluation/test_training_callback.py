"""Generation metrics during training (GenerationMetricsCallback) and the paper's metrics as offline `evaluate`
modules."""

import numpy as np
import pytest
import torch

from qwen_audio_hf.evaluation import GenerationMetricsCallback, evaluate, metric_path
from qwen_audio_hf.evaluation.metrics import accuracy, binary_answer_accuracy, corpus_bleu, word_error_rate

from ..tiny_models import tiny_decoding_model

ASR_TAGS = {"task": "transcribe", "audio_language": "en", "text_language": "en", "output_instruction": "wo_itn"}


def _clip(seconds, seed):
    return {"array": (0.1 * np.random.default_rng(seed).standard_normal(int(16000 * seconds))).astype(np.float32),
            "sampling_rate": 16000}


def test_generation_metrics_at_every_evaluation(processor, tmp_path):
    from qwen_audio_hf.training import pretrain

    texts = ["hello world", "good morning", "a dog barks", "yes"]
    train = [{"audio": _clip(0.5 + 0.25 * i, i), "tags": ASR_TAGS, "target": text} for i, text in enumerate(texts)]
    records = [{"audio": row["audio"], "gt": row["target"], "source": "librispeech_dev"} for row in train]
    scene = [{"audio": row["audio"], "gt": label, "source": "cochlscene"} for row, label in zip(train, "ab")]
    callbacks = [GenerationMetricsCallback(processor, records, "librispeech", limit=3, max_new_tokens=4),
                 GenerationMetricsCallback(processor, scene, "cochlscene", max_new_tokens=2, batch_size=1)]
    result = pretrain(tiny_decoding_model(seed=0), processor, train, str(tmp_path / "run"), eval_data=train,
                      max_steps=2, eval_strategy="steps", eval_steps=1, per_device_train_batch_size=2,
                      per_device_eval_batch_size=2, learning_rate=5e-2, warmup_steps=0, logging_steps=1,
                      save_steps=10, train_sampling_strategy="sequential", callbacks=callbacks)
    logged = {(entry["step"], key): value for entry in result.log_history for key, value in entry.items()
              if key.startswith("eval_librispeech_") or key.startswith("eval_cochlscene_")}
    assert {key for step, key in logged} == {"eval_librispeech_wer", "eval_librispeech_errors",
                                             "eval_librispeech_reference_tokens", "eval_cochlscene_accuracy"}
    assert {step for step, _ in logged} == {1, 2}
    assert logged[(2, "eval_librispeech_reference_tokens")] == 7  # limit=3: "hello world", "good morning", "a dog barks"

    # The last evaluation scored the final model exactly as the evaluation runner scores it.
    final = evaluate(result.model, processor, records[:3], "librispeech", max_new_tokens=4, progress=False)
    assert logged[(2, "eval_librispeech_wer")] == final.scores["librispeech_dev"]["wer"]
    scene_final = evaluate(result.model, processor, scene, "cochlscene", max_new_tokens=2, progress=False)
    assert logged[(2, "eval_cochlscene_accuracy")] == scene_final.scores["cochlscene"]["accuracy"]


def test_several_sources_get_their_own_keys(processor):
    callback = GenerationMetricsCallback(processor, [{"audio": _clip(0.5, 0), "gt": "a", "source": "s1"},
                                                     {"audio": _clip(0.5, 1), "gt": "b", "source": "s2"}],
                                         "cochlscene", max_new_tokens=1)
    values = callback.flat_metrics(callback.scores(tiny_decoding_model(seed=0)))
    assert set(values) == {"eval_cochlscene_s1_accuracy", "eval_cochlscene_s2_accuracy"}
    with pytest.raises(ValueError, match="lacks field"):
        GenerationMetricsCallback(processor, [{"audio": _clip(0.5, 0)}], "librispeech")


def test_evaluate_modules_load_offline_and_match_our_scoring(monkeypatch):
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import evaluate as hf_evaluate

    references = ["Hello, world!", "the cat sat on the mat", "yes", "no"]
    predictions = ["hello world", "the cat sat on a hat", "yes", "yes"]
    wer = hf_evaluate.load(metric_path("wer")).compute(predictions=predictions, references=references)
    assert wer == {"wer": word_error_rate(references, predictions)} and 0 < wer["wer"] < 1
    chinese = hf_evaluate.load(metric_path("wer")).compute(predictions=["今天天气好"], references=["今天天气很好"],
                                                           language="zh")
    assert chinese["wer"] == word_error_rate(["今天天气很好"], ["今天天气好"], "zh") == pytest.approx(1 / 6)
    bleu = hf_evaluate.load(metric_path("bleu")).compute(predictions=predictions, references=references,
                                                         text_language="de")
    assert bleu == {"bleu": corpus_bleu(references, predictions, "de")} and bleu["bleu"] > 0
    acc = hf_evaluate.load(metric_path("accuracy")).compute(predictions=predictions, references=references)
    assert acc == {"accuracy": accuracy(references, predictions),
                   "binary_accuracy": binary_answer_accuracy(references, predictions)}
    assert acc["accuracy"] == 0.25 and acc["binary_accuracy"] == 0.5
    with pytest.raises(ValueError, match="unknown metric"):
        metric_path("rouge")
