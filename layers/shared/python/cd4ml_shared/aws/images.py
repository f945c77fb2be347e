"""Whether ECR holds the images a run's jobs use, asked before the first job starts (`BatchGetImage`, which the job
role may call on AWS's framework repositories as on the account's own): a tag that does not exist, or a repository
that is not there, fails the run at once naming the parameter, instead of failing its training job an hour in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..errors import UnsupportedImage
from ..images import image_reference
from .client_errors import error_code, error_message

# What ECR answers for an image or repository that is not there (anything else, AccessDenied included, is raised).
_NOT_THERE = frozenset({"RepositoryNotFoundException", "ImageNotFoundException", "RegistryNotFoundException"})


def require_images_pullable(ecr: Any, images: Mapping[str, str]) -> None:
    """`UnsupportedImage` naming every image (template parameter: URI) that ECR does not hold. URIs that are not ECR
    image URIs are `images.require_usable_images`'s to refuse; each distinct URI is asked once."""
    problems: list[str] = []
    asked: dict[str, str | None] = {}
    for parameter, uri in images.items():
        if uri not in asked:
            asked[uri] = _missing(ecr, uri)
        if asked[uri] is not None:
            problems.append(f"{parameter} {uri!r}: {asked[uri]}")
    if problems:
        raise UnsupportedImage("; ".join(problems))


def _missing(ecr: Any, uri: str) -> str | None:
    reference = image_reference(uri)
    if reference is None:
        return None
    try:
        answer = ecr.batch_get_image(
            registryId=reference.registry_id, repositoryName=reference.repository, imageIds=[reference.image_id]
        )
    except ClientError as error:
        if error_code(error) not in _NOT_THERE:
            raise
        return f"{error_code(error)}: {error_message(error)}"
    failures = answer.get("failures") or []
    if failures or not answer.get("images"):
        failure = failures[0] if failures else {"failureCode": "ImageNotFound", "failureReason": "no such image"}
        return f"{failure.get('failureCode')}: {failure.get('failureReason')}"
    return None
