"""A training script that fails the way AWS's docs describe: a reason in /opt/ml/output/failure."""

import os
import sys
from pathlib import Path

(Path(os.environ["SM_OUTPUT_DIR"]) / "failure").write_text("label column is_fraud is missing")
sys.exit(2)
