"""The errors a pipeline Lambda raises on purpose. The class name is the `Error` a state machine's Catch (or Retry)
matches, so a class here is never renamed: the ASL names it."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of the errors a pipeline Lambda raises on purpose; the class name is the `Error` a Catch matches."""


class NotADataset(PipelineError):
    """The object is not a dataset upload (wrong prefix or suffix); nothing is started."""


class DatasetMissing(PipelineError):
    """The uploaded object (that version) is gone by the time the run reads it."""


class ModelCodeMissing(PipelineError):
    """The model code the jobs run has not been published to the artifacts bucket."""


class JobThrottled(PipelineError):
    """SageMaker throttled a Create*Job call; the state machine retries it with backoff."""


class JobQuotaExceeded(PipelineError):
    """The account's quota for the instance type is exhausted (new accounts start at zero GPUs)."""


class JobRequestRejected(PipelineError):
    """SageMaker rejected a Create*Job request as invalid."""


class EvaluationMissing(PipelineError):
    """The evaluation job finished without a readable evaluation.json."""


class InvalidPayload(PipelineError, ValueError):
    """A handler's event lacks a field it needs, or holds one of the wrong type; the message names the field."""


class NotificationFailed(PipelineError):
    """The run's outcome was recorded but its notification could not be published: nobody has been told."""


class UnsupportedImage(PipelineError):
    """An image the run's jobs use cannot run them (not an ECR image, or in another region than the jobs)."""


class SmokeTestFailed(PipelineError):
    """A new endpoint's scores for the model's smoke rows differ from the evaluation's (or it errs or answers what
    does not parse): the message names the worst row, expected and got. The deployment rolls back."""


class SmokeTestUnavailable(PipelineError):
    """The model package has no smoke rows to test with (a model evaluated before the evaluation job wrote them, or
    no evaluation URI): the new endpoint cannot be checked, and the deployment treats that as a failure."""


class SageMakerUnavailable(PipelineError):
    """SageMaker throttled a call or was briefly unavailable (ThrottlingException, ServiceUnavailable, a model not
    ready yet): the state machine retries the task with backoff, by this name."""
