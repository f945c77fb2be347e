"""Whether the container images of a run's jobs can run them at all, checked before the first job starts: a run that
can only fail at its training job (an hour in) must fail at once, naming the image and what to use instead. Plain
values; the images are the stack's parameters, the region the one the jobs run in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import UnsupportedImage

# <account>.dkr.ecr.<region>.<URL suffix>/<repository>(:<tag>|@sha256:<digest>), the suffix of the region's partition:
# amazonaws.com, amazonaws.com.cn (China), c2s.ic.gov, sc2s.sgov.gov, csp.hci.ic.gov (the ISO regions)
ECR_IMAGE = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\."
    r"(?:amazonaws\.com(?:\.cn)?|c2s\.ic\.gov|sc2s\.sgov\.gov|csp\.hci\.ic\.gov)/"
    r"(?P<repository>[a-z0-9._/-]+)(?::(?P<tag>[A-Za-z0-9._-]+)|@(?P<digest>sha256:[a-f0-9]{64}))$"
)


@dataclass(frozen=True)
class ImageReference:
    """An ECR image URI as ECR's API names it (BatchGetImage's registryId, repositoryName and imageIds)."""

    registry_id: str
    repository: str
    image_id: dict[str, str]  # {"imageTag": ...} or {"imageDigest": ...}


def image_reference(image: str) -> ImageReference | None:
    """The parts of an ECR image URI; None when it is not one (`image_problem` says why)."""
    match = ECR_IMAGE.match(image)
    if match is None:
        return None
    image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"]}
    return ImageReference(match["account"], match["repository"], image_id)


def image_problem(parameter: str, image: str, region: str) -> str | None:
    """Why `image` (the template parameter `parameter`) cannot run a SageMaker job in `region`, or None."""
    match = ECR_IMAGE.match(image)
    if match is None:
        return (
            f"{parameter} {image!r} is not an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:"
            "<tag>): SageMaker runs jobs only from ECR images"
        )
    if match["region"] != region:
        return (
            f"{parameter} {image!r} is in {match['region']}, the jobs run in {region}: SageMaker pulls only from its "
            f"own region's ECR (AWS publishes its framework images in every region, under each region's account: "
            f"use the {region} URI of {match['repository']}, or leave the parameter empty for the image of the "
            "stack's region)"
        )
    return None


def require_usable_images(images: Mapping[str, str], region: str) -> None:
    """`UnsupportedImage` naming every image parameter of `images` (name: URI) that cannot run in `region`."""
    problems = [p for name, image in images.items() if (p := image_problem(name, image, region))]
    if problems:
        raise UnsupportedImage("; ".join(problems))
