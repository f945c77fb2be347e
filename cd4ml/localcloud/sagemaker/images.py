"""The one place that says how a SageMaker container image runs on the local cloud, and what hardware it gets.

AWS's framework containers (XGBoost, scikit-learn, PyTorch, TensorFlow, Hugging Face) run user code in
"script mode": the training or inference script and its folder are named by the `sagemaker_program` and
`sagemaker_submit_directory` hyperparameters (training) or the `SAGEMAKER_PROGRAM` and
`SAGEMAKER_SUBMIT_DIRECTORY` environment variables (serving), and the container calls into it. Locally the same
script runs as a Python process of this machine, with the project's virtual environment standing in for the
framework's image. A processing image runs the job's `ContainerEntrypoint` the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from ..errors import LocalCloudError


class UnsupportedImageError(LocalCloudError):
    def __init__(self, image: str) -> None:
        self.image = image
        patterns = ", ".join(rule.description for rule in IMAGE_RULES)
        super().__init__(
            f"image {image!r} has no local equivalent; the local cloud runs these images: {patterns}. "
            "Add a rule to cd4ml/localcloud/sagemaker/images.py for another one."
        )


@dataclass(frozen=True)
class LocalImage:
    """How a container image behaves locally."""

    framework: str  # "xgboost", "sklearn", "pytorch", "tensorflow", "huggingface", "python"
    script_mode: bool = True  # runs `sagemaker_program` / `SAGEMAKER_PROGRAM`
    description: str = ""


@dataclass(frozen=True)
class ImageRule:
    pattern: re.Pattern[str]
    image: LocalImage

    @property
    def description(self) -> str:
        return self.image.description


# ECR repository names of AWS's prebuilt framework images: any account (AWS publishes them under one per region, see
# the template's FrameworkImages mapping), region, tag, and partition's DNS suffix (amazonaws.com, amazonaws.com.cn,
# the ISO partitions' own).
_ECR = r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.[a-z0-9-]+(?:\.[a-z0-9-]+)+/"
IMAGE_RULES: list[ImageRule] = [
    ImageRule(re.compile(_ECR + r"sagemaker-xgboost:"), LocalImage("xgboost", description="sagemaker-xgboost")),
    ImageRule(
        re.compile(_ECR + r"sagemaker-scikit-learn:"), LocalImage("sklearn", description="sagemaker-scikit-learn")
    ),
    ImageRule(
        re.compile(_ECR + r"pytorch-(?:training|inference)(?:-[a-z]+)?:"),
        LocalImage("pytorch", description="pytorch-training / pytorch-inference"),
    ),
    ImageRule(
        re.compile(_ECR + r"tensorflow-(?:training|inference):"),
        LocalImage("tensorflow", description="tensorflow-training / tensorflow-inference"),
    ),
    ImageRule(
        re.compile(_ECR + r"huggingface-[a-z]+-(?:training|inference):"),
        LocalImage("huggingface", description="huggingface-*-training / -inference"),
    ),
    # The project's own images (built from this repository) follow the same script-mode contract.
    ImageRule(re.compile(r"(?:^|/)cd4ml[-/][a-z0-9-]+(?::|$)"), LocalImage("python", description="cd4ml-*")),
]


def resolve_image(image: str) -> LocalImage:
    """The local behaviour of `image`, or UnsupportedImageError naming the images that are supported."""
    for rule in IMAGE_RULES:
        if rule.pattern.search(image):
            return rule.image
    raise UnsupportedImageError(image)


@lru_cache(maxsize=1)
def local_gpu_count() -> int:
    """GPUs this machine really has (nvidia-smi), so that SM_NUM_GPUS tells jobs the truth.

    `CD4ML_LOCAL_GPUS` overrides the detection (0 forces the CPU path on a GPU machine).
    """
    override = os.environ.get("CD4ML_LOCAL_GPUS")
    if override is not None:
        return max(int(override), 0)
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


def is_gpu_instance(instance_type: str | None) -> bool:
    """ml.g* and ml.p* instances carry NVIDIA GPUs; Trainium/Inferentia and CPU families do not."""
    return re.match(r"^ml\.[gp][0-9a-z-]*\.", instance_type or "") is not None


def gpu_count_for(instance_type: str | None, available: int) -> int:
    """SM_NUM_GPUS: every GPU of this machine for a GPU instance type, none otherwise."""
    return available if is_gpu_instance(instance_type) else 0


def device_environment(num_gpus: int) -> dict[str, str]:
    """CUDA_VISIBLE_DEVICES naming the GPUs a process may use; empty hides them all, so CPU work stays on the CPU."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(num_gpus))}


def gpu_environment(instance_type: str | None, available: int) -> dict[str, str]:
    """SM_NUM_GPUS and CUDA_VISIBLE_DEVICES for a job or serving process on `instance_type`."""
    num_gpus = gpu_count_for(instance_type, available)
    return {"SM_NUM_GPUS": str(num_gpus), **device_environment(num_gpus)}
