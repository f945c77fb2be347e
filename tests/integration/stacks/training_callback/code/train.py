"""A tiny script-mode training script: reads its channel, writes a model, reports a metric."""

import argparse
import json
import os
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--max_depth", type=int, required=True)
args = parser.parse_args()
rows = (Path(os.environ["SM_CHANNEL_TRAIN"]) / "data.csv").read_text().splitlines()[1:]
model = {"max_depth": args.max_depth, "rows": len(rows), "gpus": int(os.environ["SM_NUM_GPUS"])}
(Path(os.environ["SM_MODEL_DIR"]) / "model.json").write_text(json.dumps(model))
print("validation-auc:0.9125")
