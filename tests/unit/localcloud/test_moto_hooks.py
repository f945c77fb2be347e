"""Canaries for the private moto internals the local cloud hooks into: an upgrade that moves them fails here."""

import inspect
from importlib.metadata import version


def _parameters(function):
    return list(inspect.signature(function).parameters)


def test_moto_is_the_pinned_version():
    assert version("moto") == "5.2.5", "the local cloud hooks private moto classes; re-check every hook below"


def test_lambda_invoke_hook_point():
    from moto.awslambda_simple.models import LambdaSimpleBackend

    assert _parameters(LambdaSimpleBackend.invoke)[:6] == [
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
    ]


def test_eventbridge_hook_points():
    from moto.events.models import EventPattern, EventsBackend, Rule

    assert _parameters(Rule.send_to_targets)[:3] == ["self", "original_event", "transform_input"]
    assert _parameters(EventsBackend.put_events)[:2] == ["self", "events"]
    assert hasattr(EventPattern, "matches_event") and hasattr(EventPattern, "get_pattern")


def test_s3_hook_points():
    import moto.s3.notifications as notifications
    from moto.s3.models import FakeBucket

    assert _parameters(notifications._send_event_bridge_message) == ["account_id", "bucket", "event_name", "key"]
    assert _parameters(FakeBucket.get_permission) == ["self", "action", "resource"]


def test_step_functions_hook_points():
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    assert _parameters(Execution.start) == ["self"]
    assert _parameters(BaseExecutionWorkerCommunication.terminated) == ["self"]
    assert stepfunctions_parser_backends is not None
    from moto.stepfunctions.parser.asl.utils import boto_client

    # the interpreter reaches Lambda through boto3 at localhost:$MOTO_PORT
    assert "moto_server_port" in inspect.getsource(boto_client)


def test_step_functions_callback_fix_points():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.responses import StepFunctionResponse

    assert _parameters(StateTask._from_error) == ["self", "env", "ex"]
    assert issubclass(HeartbeatTimeoutError, TimeoutError)
    assert _parameters(StepFunctionResponse.send_task_failure) == ["self"]
    assert _parameters(StepFunctionResponse.stop_execution) == ["self"]


def test_delivery_paths_moto_would_send_to_docker():
    from moto.awslambda.models import LambdaBackend
    from moto.sns.models import Subscription
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    assert _parameters(Subscription.publish)[:5] == ["self", "message", "message_id", "subject", "message_attributes"]
    assert hasattr(LambdaBackend, "send_kinesis_message")
    assert _parameters(lambda_eval_utils.boto_client_for) == ["region", "service", "state_credentials"]
    assert _parameters(StepFunctionsParserBackend.start_execution)[:3] == ["self", "state_machine_arn", "name"]


def test_model_registry_hook_points():
    from moto.sagemaker.models import ModelPackage, SageMakerModelBackend

    assert _parameters(SageMakerModelBackend.update_model_package) == [
        "self",
        "model_package_arn",
        "model_approval_status",
        "approval_description",
        "customer_metadata_properties",
        "customer_metadata_properties_to_remove",
        "additional_inference_specifications_to_add",
    ]
    assert "model_package_group_name" in _parameters(SageMakerModelBackend.create_model_package)
    assert hasattr(ModelPackage, "gen_response_object")


def test_s3_checksum_hook_points():
    from moto.s3.models import FakeKey, S3Backend
    from moto.s3.responses import S3Response

    original_copy = getattr(S3Backend.copy_object, "__wrapped__", S3Backend.copy_object)
    assert _parameters(original_copy)[:4] == ["self", "src_key", "dest_bucket_name", "dest_key_name"]
    original_head = getattr(S3Response.head_object, "__wrapped__", S3Response.head_object)
    assert _parameters(original_head) == ["self", "bucket_name", "query", "key_name", "headers"]
    assert _parameters(getattr(S3Response.get_object, "__wrapped__", S3Response.get_object)) == ["self"]
    assert "checksum_value" in inspect.signature(FakeKey.__init__).parameters


def test_cloudformation_read_hook_points():
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    for name in (
        "describe_stacks",
        "list_stacks",
        "list_stack_resources",
        "describe_stack_resource",
        "describe_stack_resources",
    ):
        assert _parameters(getattr(CloudFormationResponse, name)) == ["self"], name
    assert ValidationError is not None and ActionResult is not None


def test_lambda_error_family():
    from moto.awslambda.exceptions import LambdaClientError

    error = LambdaClientError("RequestEntityTooLargeException", "too large")
    assert error.code == 400 and error.error_type == "RequestEntityTooLargeException"


def test_ecr_batch_get_image_hook_point():
    from moto.ecr.models import ECRBackend, Image

    original = getattr(ECRBackend.batch_get_image, "__wrapped__", ECRBackend.batch_get_image)
    assert _parameters(original) == ["self", "repository_name", "registry_id", "image_ids"]
    assert _parameters(Image.__init__)[:8] == [
        "self",
        "account_id",
        "tag",
        "manifest",
        "repository",
        "image_manifest_mediatype",
        "digest",
        "registry_id",
    ]
