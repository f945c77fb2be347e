"""The template's security options, all four at once, on the local cloud: a stack under a customer key
(ci/app-key-policy.json's policy), with a permissions boundary on its roles and its SageMaker work in a VPC without
network, trains a model from an upload and puts it in service, as a stack without them does. What the options
change is on what the local cloud answers: the stores' encryption, the roles' boundary, the jobs', models' and
endpoint config's keys, VPC and isolation, and the isolated model serving the code inside its model data. Nothing
of it is enforced locally (moto encrypts nothing for real, IAM is not evaluated, a local process has the network)."""

import io
import json
import tarfile

import pytest
from trained_model import QUICK_DEPLOYMENTS, deployed_model, endpoint

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def options(root):
    """A local cloud with what an account brings to the options (a key, a boundary, a VPC), and the options."""
    with LocalCloud() as cloud:
        policy = (root / "ci" / "app-key-policy.json").read_text().replace("ACCOUNT_ID", ACCOUNT)
        key = cloud.client("kms").create_key(Description="cd4ml data", Policy=policy)["KeyMetadata"]["Arn"]
        boundary = cloud.client("iam").create_policy(
            PolicyName="platform-boundary",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )["Policy"]["Arn"]
        ec2 = cloud.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
        group = ec2.create_security_group(GroupName="cd4ml-jobs", Description="cd4ml jobs", VpcId=vpc)["GroupId"]
        yield (
            cloud,
            {
                "KmsKeyArn": key,
                "PermissionsBoundaryArn": boundary,
                "JobSubnetIds": ",".join(subnets),
                "JobSecurityGroupIds": group,
                "EnableNetworkIsolation": "true",
            },
        )


@pytest.fixture(scope="module")
def cloud(root, options):
    cloud, chosen = options
    cloud.deploy(root / "template.yaml", {**QUICK_DEPLOYMENTS, **chosen}, stack_name="cd4ml-dev")
    return cloud


@pytest.fixture(scope="module")
def in_service(cloud):
    return deployed_model(cloud, timeout=240.0)


def test_the_stores_are_under_the_key_and_the_roles_bounded(cloud, options) -> None:
    _, chosen = options
    key = chosen["KmsKeyArn"]
    s3 = cloud.client("s3")
    for bucket in ("RawDataBucket", "ArtifactsBucket"):
        [rule] = s3.get_bucket_encryption(Bucket=cloud.physical_id(bucket))["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    kinesis = cloud.client("kinesis")
    for stream in ("GroundTruthStream", "DecisionLogStream"):
        summary = kinesis.describe_stream_summary(StreamName=cloud.physical_id(stream))["StreamDescriptionSummary"]
        assert summary["KeyId"] == key
    table = cloud.client("dynamodb").describe_table(TableName=cloud.physical_id("TaskTokenTable"))["Table"]
    assert table["SSEDescription"]["KMSMasterKeyArn"] == key
    sqs = cloud.client("sqs")
    queue = cloud.physical_id("EventDeadLetterQueue")
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["KmsMasterKeyId"])["Attributes"] == {
        "KmsMasterKeyId": key
    }
    decide = cloud.client("lambda").get_function_configuration(FunctionName=cloud.physical_id("DecideFunction"))
    assert decide["KMSKeyArn"] == key

    iam = cloud.client("iam")
    roles = [r.physical_id for r in cloud.stack.resources.values() if r.resource_type == "AWS::IAM::Role"]
    assert len(roles) == 29
    for role in roles:
        assert (
            iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"]
            == (chosen["PermissionsBoundaryArn"])
        ), role
    assert (
        "use-customer-key"
        in iam.list_role_policies(RoleName=cloud.physical_id("SageMakerExecutionRole"))["PolicyNames"]
    )


def test_the_jobs_run_in_the_vpc_without_network_under_the_key(cloud, options, in_service) -> None:
    _, chosen = options
    key, subnets = chosen["KmsKeyArn"], sorted(chosen["JobSubnetIds"].split(","))
    sagemaker = cloud.client("sagemaker")
    [training] = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    job = sagemaker.describe_training_job(TrainingJobName=training["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Completed"
    assert job["EnableNetworkIsolation"] is True
    assert sorted(job["VpcConfig"]["Subnets"]) == subnets
    assert job["VpcConfig"]["SecurityGroupIds"] == [chosen["JobSecurityGroupIds"]]
    assert job["OutputDataConfig"]["KmsKeyId"] == key
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == key  # ml.m5.xlarge has EBS storage
    # isolated: the code comes as a channel, not downloaded by the container
    assert job["HyperParameters"]["sagemaker_submit_directory"] == "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert "code" in {channel["ChannelName"] for channel in job["InputDataConfig"]}
    processing = sagemaker.list_processing_jobs()["ProcessingJobSummaries"]
    assert len(processing) == 2  # features and evaluation
    for summary in processing:
        described = sagemaker.describe_processing_job(ProcessingJobName=summary["ProcessingJobName"])
        assert described["ProcessingJobStatus"] == "Completed"
        assert described["NetworkConfig"]["EnableNetworkIsolation"] is True
        assert sorted(described["NetworkConfig"]["VpcConfig"]["Subnets"]) == subnets
        assert described["ProcessingOutputConfig"]["KmsKeyId"] == key


def test_the_isolated_model_serves_its_own_code_and_its_storage_is_under_the_key(cloud, options, in_service) -> None:
    _, chosen = options
    key = chosen["KmsKeyArn"]
    sagemaker, s3 = cloud.client("sagemaker"), cloud.client("s3")
    described = endpoint(cloud)
    assert described["EndpointStatus"] == "InService"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert config["KmsKeyId"] == key and config["DataCaptureConfig"]["KmsKeyId"] == key
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert sorted(model["VpcConfig"]["Subnets"]) == sorted(chosen["JobSubnetIds"].split(","))
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    # the model data carries the serving code, encrypted under the key like everything the stack writes
    model_url = in_service["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, object_key = model_url.removeprefix("s3://").split("/", 1)
    stored = s3.get_object(Bucket=bucket, Key=object_key)
    assert (stored["ServerSideEncryption"], stored["SSEKMSKeyId"]) == ("aws:kms", key)
    with tarfile.open(fileobj=io.BytesIO(stored["Body"].read()), mode="r:gz") as archive:
        names = set(archive.getnames())
    assert {"code/inference.py", "code/cd4ml_model/__init__.py"} <= {n.removeprefix("./") for n in names}
    # and it answers: served from /opt/ml/model/code (the package's S3 sourcedir is not fetched)
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=described["EndpointName"], ContentType="application/json", Body=json.dumps({"instances": [{}]})
    )
    assert json.loads(answer["Body"].read())["model_version"] == in_service["ModelPackageVersion"]
