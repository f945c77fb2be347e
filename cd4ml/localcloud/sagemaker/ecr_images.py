"""ECR's answer for AWS's own container images (the framework images SageMaker jobs and endpoints run), as far as the
local cloud runs them: `BatchGetImage` of an image in another account's registry (AWS publishes its framework
images under its own accounts) finds it when `images.resolve_image` has a local equivalent for it, and answers
`ImageNotFound` naming the images that do run when it has none. So a check that works on AWS (can this image be
pulled?) tells the truth locally too, before any job is started with an image that cannot run.

Images in this account's own repositories are moto's as always; with no local cloud running, moto answers alone.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from .images import UnsupportedImageError, resolve_image

# A manifest body for images that exist only as a local equivalent (its digest names the image; nothing pulls it).
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def framework_image_uri(registry_id: str, region: str, repository: str, image_id: dict[str, str]) -> str:
    reference = f"@{image_id['imageDigest']}" if "imageDigest" in image_id else f":{image_id.get('imageTag', '')}"
    return f"{registry_id}.dkr.ecr.{region}.amazonaws.com/{repository}{reference}"


def runnable(uri: str) -> str | None:
    """None when the local cloud runs `uri` (by tag, or by digest in a repository it runs); else why not."""
    probe = uri if "@" not in uri else uri.split("@", 1)[0] + ":digest"
    try:
        resolve_image(probe)
    except UnsupportedImageError as error:
        return str(error)
    return None


def install() -> None:
    from moto.ecr.models import ECRBackend, Image

    from .hooks import ACTIVE_JOBS

    if getattr(ECRBackend.batch_get_image, "_cd4ml_hook", False):
        return
    original = ECRBackend.batch_get_image

    @functools.wraps(original)
    def batch_get_image(
        self: Any, repository_name: str, registry_id: str | None = None, image_ids: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        foreign = registry_id not in (None, self.account_id) and repository_name not in self.repositories
        if ACTIVE_JOBS() is None or not foreign or not image_ids:
            return original(self, repository_name, registry_id, image_ids)
        answer: dict[str, Any] = {"images": [], "failures": []}
        for image_id in image_ids:
            uri = framework_image_uri(str(registry_id), self.region_name, repository_name, image_id)
            problem = runnable(uri)
            if problem is not None:
                answer["failures"].append(
                    {"imageId": image_id, "failureCode": "ImageNotFound", "failureReason": problem}
                )
                continue
            manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "cd4ml-local": uri})
            tag: Any = image_id.get("imageTag")  # None for a digest: moto keeps no tag then
            answer["images"].append(
                Image(
                    str(registry_id),
                    tag,
                    manifest,
                    repository_name,
                    MANIFEST_MEDIA_TYPE,
                    image_id.get("imageDigest"),
                    str(registry_id),
                )
            )
        return answer

    batch_get_image._cd4ml_hook = True  # type: ignore[attr-defined]
    ECRBackend.batch_get_image = batch_get_image  # type: ignore[method-assign]
