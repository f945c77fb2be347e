"""Canaries for the moto internals SageMaker jobs hook into: an upgrade that moves them fails here."""

import inspect
from importlib.metadata import version

import moto.sagemaker.responses as responses_module
from moto.sagemaker.models import FakeProcessingJob, FakeTrainingJob, FakeTransformJob, Model, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

ACCOUNT, REGION = "123456789012", "us-east-1"


def _parameters(function):
    return list(inspect.signature(function).parameters)


def test_moto_is_the_pinned_version():
    assert version("moto") == "5.2.5", "SageMaker jobs hook private moto classes; re-check every hook below"


def test_create_and_stop_answers_are_the_hook_points():
    for name in ("create_training_job", "create_processing_job", "create_transform_job", "stop_processing_job"):
        original = getattr(SageMakerResponse, name)
        original = getattr(original, "__wrapped__", original)  # the hook keeps moto's answer as __wrapped__
        assert _parameters(original) == ["self"], name
    # moto answers from `self.params` and reaches the backend through `sagemaker_backend`
    assert SageMakerResponse().automated_parameter_parsing is True
    assert isinstance(inspect.getattr_static(SageMakerResponse, "sagemaker_backend"), property)


def test_moto_lacks_stop_training_and_stop_transform_which_the_local_cloud_adds():
    source = inspect.getsource(responses_module)
    # when moto implements them, the added answers must become wrappers of moto's own
    assert "def stop_training_job" not in source
    assert "def stop_transform_job" not in source


def test_backend_keeps_jobs_and_models_in_dicts_by_name():
    backend = SageMakerModelBackend(REGION, ACCOUNT)
    for name in ("training_jobs", "processing_jobs", "transform_jobs", "_models"):
        assert isinstance(getattr(backend, name), dict), name


def _training_job():
    return FakeTrainingJob(
        account_id=ACCOUNT,
        region_name=REGION,
        training_job_name="t",
        hyper_parameters={},
        algorithm_specification={"TrainingImage": "i", "TrainingInputMode": "File"},
        role_arn="r",
        input_data_config=[],
        output_data_config={"S3OutputPath": "s3://b/o"},
        resource_config={},
        vpc_config={},
        stopping_condition={},
        tags=[],
        enable_network_isolation=False,
        enable_inter_container_traffic_encryption=False,
        enable_managed_spot_training=False,
        checkpoint_config={},
        debug_hook_config={},
        debug_rule_configurations=[],
        tensor_board_output_config={},
        experiment_config={},
    )


def test_fake_training_job_attributes_and_their_describe_names():
    job = _training_job()
    for name in (
        "training_job_name",
        "arn",
        "training_job_status",
        "secondary_status",
        "secondary_status_transitions",
        "final_metric_data_list",
        "training_start_time",
        "training_end_time",
        "creation_time",
        "last_modified_time",
        "model_artifacts",
        "algorithm_specification",
        "tags",
    ):
        assert hasattr(job, name), name
    # moto replaces the request's MetricDefinitions (the hook puts them back)
    assert job.algorithm_specification["MetricDefinitions"][0]["Name"] == "test:dcg"
    # any attribute becomes a Describe field by its CamelCase name; None is left out
    job.billable_time_in_seconds = 7
    job.failure_reason = None
    described = job.response_object
    assert described["BillableTimeInSeconds"] == 7 and "FailureReason" not in described
    assert described["TrainingJobArn"] == job.arn


def test_fake_processing_and_transform_job_attributes():
    processing = FakeProcessingJob(
        app_specification={},
        experiment_config={},
        network_config={},
        processing_inputs=[],
        processing_job_name="p",
        processing_output_config={},
        account_id=ACCOUNT,
        region_name=REGION,
        role_arn="r",
        tags=[],
        stopping_condition={},
    )
    for name in ("processing_job_status", "processing_end_time", "creation_time", "last_modified_time", "arn"):
        assert hasattr(processing, name), name
    processing.exit_message = "bye"
    processing.processing_start_time = None
    assert processing.response_object["ExitMessage"] == "bye"
    assert "ProcessingStartTime" not in processing.response_object

    transform = FakeTransformJob(
        account_id=ACCOUNT,
        region_name=REGION,
        transform_job_name="x",
        model_name="m",
        max_concurrent_transforms=1,
        model_client_config={},
        max_payload_in_mb=6,
        batch_strategy="MultiRecord",
        environment={},
        transform_input={},
        transform_output={},
        data_capture_config={},
        transform_resources={},
        data_processing={},
        tags={},
        experiment_config={},
    )
    for name in ("transform_job_status", "transform_start_time", "transform_end_time", "failure_reason", "arn"):
        assert hasattr(transform, name), name
    assert transform.response_object["MaxPayloadInMB"] == 6  # its own CamelCase rule


def test_model_keeps_its_containers():
    model = Model(ACCOUNT, REGION, "m", "r", {"Image": "i"}, {}, containers=None)
    assert model.primary_container == {"Image": "i"} and model.containers == []


def test_error_classes_answer_with_aws_codes():
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError

    assert ValidationError("m").code == "ValidationException"
    assert ResourceNotFound("m").code == "ResourceNotFound"
    assert ResourceInUseException("m").code == "ResourceInUse"
    assert EmptyResult() is not None
