"""mlx-lm's side of test/compat/mlxLm.test.ts: read checkpoints with mlx-lm's own loader and run them,
or write checkpoints with mlx-lm's own quantizer. One JSON job list on stdin, one JSON line out.

  {"op": "logits", "jobs": [{"model": DIR, "ids": [...], "out": FILE}, ...]}
      mlx_lm.utils.load_model(DIR) (its sanitize, its quantization predicate, strict weight
      loading), parameters cast to float32, all-position logits [T, V] written to FILE as
      little-endian float32. A checkpoint that fails to load is reported per job, not fatal.
  {"op": "convert", "jobs": [{"model": SRC, "out": DST, "bits": B, "group_size": G, "recipe": R|null}]}
      what `mlx_lm.convert -q` does minus the tokenizer (PyPI is out of reach here, so
      transformers is not): load_model, quantize_model (a mixed recipe through
      mixed_quant_predicate_builder), save_model + save_config.
"""

import json
import shutil
import sys
import traceback
from pathlib import Path

import importlib

import mlx.core as mx
from mlx_lm.utils import load_model, quantize_model, save_config, save_model


def logits(job):
    model, _ = load_model(Path(job["model"]))
    model.set_dtype(mx.float32)
    out = model(mx.array([job["ids"]], mx.int32))[0].astype(mx.float32)
    mx.eval(out)
    Path(job["out"]).write_bytes(bytes(memoryview(out)))
    return {"shape": list(out.shape)}


def convert(job):
    src, dst = Path(job["model"]), Path(job["out"])
    model, config = load_model(src, lazy=True)
    predicate = None
    if job.get("recipe"):
        # mlx_lm/__init__ re-exports the convert *function*; the module holds the recipes.
        predicate = importlib.import_module("mlx_lm.convert").mixed_quant_predicate_builder(job["recipe"], model, job["group_size"])
    model, config = quantize_model(model, config, job["group_size"], job["bits"], quant_predicate=predicate)
    dst.mkdir(parents=True, exist_ok=True)
    save_model(dst, model, donate_model=True)
    save_config(config, config_path=dst / "config.json")
    for f in src.iterdir():  # tokenizer files as convert copies them
        if f.name.startswith("tokenizer") or f.suffix in (".jinja", ".model", ".tiktoken") or f.name == "generation_config.json":
            shutil.copy(f, dst / f.name)
    return {"quantization": config.get("quantization")}


def main():
    req = json.load(sys.stdin)
    op = {"logits": logits, "convert": convert}[req["op"]]
    results = []
    for job in req["jobs"]:
        try:
            results.append({"ok": True, **op(job)})
        except Exception as e:
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]})
    versions = {"mlx": mx.__version__}
    print(json.dumps({"results": results, **versions}))


if __name__ == "__main__":
    main()
