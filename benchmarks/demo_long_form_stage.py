"""Re-run the demo's long-form stage on a saved demo model (same held-out clips and seed as `qwen-audio-hf demo`).

    python benchmarks/demo_long_form_stage.py DEMO_DIR/model benchmarks/results/demo_long_form_seed0.json
"""
import json, sys
from transformers import AutoModelForCausalLM, AutoProcessor
import qwen_audio_hf  # noqa: F401
from qwen_audio_hf import demo
from qwen_audio_hf.demo import synthetic
from qwen_audio_hf.modeling.generation import set_generation_defaults
from qwen_audio_hf.demo.long_form import long_form_metrics

model_dir, out = sys.argv[1], sys.argv[2]
settings = demo.DemoSettings()
model = AutoModelForCausalLM.from_pretrained(model_dir)
processor = AutoProcessor.from_pretrained(model_dir)
set_generation_defaults(model, processor.tokenizer)
model.eval()
held_out = synthetic.make_examples(settings.eval_per_task, seed=settings.seed + 2)
metrics = long_form_metrics(model, processor, held_out, seed=settings.seed + 3, prompt_text=demo.prompt_text,
                            is_correct=demo.is_correct)
metrics.pop("timeline")  # the recording itself (for the demo report), not a figure
json.dump(metrics, open(out, "w"), indent=2)
print(json.dumps({k: v for k, v in metrics.items() if k != "tagged"}, indent=1), metrics["tagged"]["recovered_fraction"], metrics["tagged"]["clip_alone_accuracy"])
