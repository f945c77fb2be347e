"""The SageMaker container contract pieces of the local cloud, with plain values."""

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from cd4ml.localcloud.child_process import sagemaker_container as container
from cd4ml.localcloud.sagemaker.images import device_environment, gpu_count_for, is_gpu_instance
from cd4ml.localcloud.sagemaker.jobs.contract import (
    CONTAINER,
    cli_arguments,
    decode_hyperparameters,
    env_value,
    is_python,
    key_below_prefix,
    map_opt_ml,
    split_hyperparameters,
    training_environment,
)
from cd4ml.localcloud.sagemaker.jobs.records import MetricTracker

RAW = {
    "epochs": "10",
    "learning-rate": "0.05",
    "objective": "binary:logistic",
    "layers": "[64, 32]",
    "early_stop": "true",
    "optimizer": '{"name": "adam", "beta": 0.9}',
    "k": "5",
    "sagemaker_program": '"train.py"',
    "sagemaker_submit_directory": '"s3://bucket/code/sourcedir.tar.gz"',
    "sagemaker_distributed_dataparallel_enabled": "false",
}


def test_hyperparameters_are_json_decoded_where_they_are_json():
    decoded = decode_hyperparameters(RAW)
    assert decoded["epochs"] == 10 and decoded["learning-rate"] == 0.05
    assert decoded["objective"] == "binary:logistic"  # not JSON: kept as text
    assert decoded["layers"] == [64, 32] and decoded["early_stop"] is True
    assert decoded["sagemaker_program"] == "train.py"


def test_toolkit_hyperparameters_are_kept_from_the_script():
    user, toolkit = split_hyperparameters(decode_hyperparameters(RAW))
    assert set(toolkit) == {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_distributed_dataparallel_enabled",
    }
    assert "epochs" in user and not any(name.startswith("sagemaker_") for name in user)


def test_hyperparameters_become_sorted_cli_arguments_as_the_toolkit_builds_them():
    user, _ = split_hyperparameters(decode_hyperparameters(RAW))
    assert cli_arguments(user) == [
        "--early_stop", "True",  # JSON true, then str(): what the toolkit passes
        "--epochs", "10",
        "-k", "5",  # one-letter names get one dash
        "--layers", "[64, 32]",
        "--learning-rate", "0.05",
        "--objective", "binary:logistic",
        "--optimizer", "beta=0.9,name=adam",  # a mapping becomes key=value pairs
    ]  # fmt: skip


def test_sm_values_are_text_or_compact_sorted_json():
    assert env_value("abc") == "abc"
    assert env_value(3) == "3"
    assert env_value({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert env_value(None) == ""


def test_training_environment_has_the_toolkit_variables(tmp_path):
    env = training_environment(
        job_name="churn-1",
        base_dir=tmp_path,
        raw_hyperparameters=RAW,
        input_data_config={"train": {"TrainingInputMode": "File"}, "validation": {"TrainingInputMode": "File"}},
        resource_config={"current_host": "algo-1", "hosts": ["algo-1"], "current_instance_type": "ml.g5.xlarge"},
        num_gpus=1,
        num_cpus=8,
        region="us-east-1",
    )
    assert env["SM_MODEL_DIR"] == str(tmp_path / "model")
    assert env["SM_CHANNELS"] == '["train","validation"]'
    assert env["SM_CHANNEL_TRAIN"] == str(tmp_path / "input" / "data" / "train")
    assert env["SM_CHANNEL_VALIDATION"] == str(tmp_path / "input" / "data" / "validation")
    assert json.loads(env["SM_HPS"])["epochs"] == 10 and "sagemaker_program" not in json.loads(env["SM_HPS"])
    assert env["SM_HP_EPOCHS"] == "10" and env["SM_HP_OBJECTIVE"] == "binary:logistic"
    assert env["SM_HP_LAYERS"] == "[64,32]"
    assert env["SM_NUM_GPUS"] == "1" and env["SM_NUM_CPUS"] == "8"
    assert env["SM_HOSTS"] == '["algo-1"]' and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.g5.xlarge"
    assert env["SM_OUTPUT_DATA_DIR"] == str(tmp_path / "output" / "data")
    assert env["SM_INPUT_DIR"] == str(tmp_path / "input")
    assert env["SM_INPUT_CONFIG_DIR"] == str(tmp_path / "input" / "config")
    assert env["SM_OUTPUT_DIR"] == str(tmp_path / "output")
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == "s3://bucket/code/sourcedir.tar.gz"
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_distributed_dataparallel_enabled": False}
    assert json.loads(env["SM_USER_ARGS"])[:2] == ["--early_stop", "True"]
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == "churn-1"
    assert training_env["hyperparameters"]["epochs"] == 10
    assert training_env["channel_input_dirs"]["train"] == env["SM_CHANNEL_TRAIN"]
    assert env["SAGEMAKER_BASE_DIR"] == str(tmp_path) and env["TRAINING_JOB_NAME"] == "churn-1"


def test_metric_definitions_keep_the_last_value_of_each_metric():
    tracker = MetricTracker(
        [
            {"Name": "validation:auc", "Regex": r"validation-auc:([0-9.]+)"},
            {"Name": "train:loss", "Regex": r"loss=(\S+)"},
        ]
    )
    first, second = datetime(2026, 1, 1, 0, 0, 1), datetime(2026, 1, 1, 0, 0, 2)
    tracker.feed("[0] validation-auc:0.81 loss=0.5", first)
    tracker.feed("[1] validation-auc:0.87", second)
    tracker.feed("loss=nan-ish", second)  # not a number: ignored
    tracker.feed("unrelated line", second)
    assert tracker.final() == [
        {"MetricName": "train:loss", "Value": 0.5, "Timestamp": first},
        {"MetricName": "validation:auc", "Value": 0.87, "Timestamp": second},
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/opt/ml/processing/input/code/evaluate.py", "/job/processing/input/code/evaluate.py"),
        ("/opt/ml", "/job"),
        ("--output=/opt/ml/processing/out", "--output=/job/processing/out"),
        ("a:/opt/ml/x,/opt/ml/y", "a:/job/x,/job/y"),
        ("/opt/mlx/data", "/opt/mlx/data"),  # another folder
        ("/data/opt/ml/x", "/data/opt/ml/x"),  # not at the root
        ("s3://bucket/opt/ml/x", "s3://bucket/opt/ml/x"),
    ],
)
def test_opt_ml_paths_in_arguments_move_to_the_job_folder(given, expected):
    assert map_opt_ml(given, Path("/job")) == expected


@pytest.mark.parametrize(
    ("prefix", "key", "relative"),
    [
        ("data/train", "data/train/part-1.csv", "part-1.csv"),
        ("data/train/", "data/train/2026/part-1.csv", "2026/part-1.csv"),
        ("data/train.csv", "data/train.csv", "train.csv"),  # a one-object prefix keeps the file name
        ("data/tr", "data/train/a.csv", "train/a.csv"),  # a partial name: below the prefix's folder
        ("", "a/b.csv", "a/b.csv"),
    ],
)
def test_s3_prefix_objects_keep_their_key_below_the_prefix(prefix, key, relative):
    assert key_below_prefix(prefix, key) == relative


def test_gpu_instances_get_the_machines_gpus_and_cpu_instances_none():
    assert is_gpu_instance("ml.g5.xlarge") and is_gpu_instance("ml.p4d.24xlarge") and is_gpu_instance("ml.g4dn.xlarge")
    assert not is_gpu_instance("ml.m5.large") and not is_gpu_instance("ml.trn1.2xlarge")
    assert not is_gpu_instance("ml.inf2.xlarge") and not is_gpu_instance("local")
    assert gpu_count_for("ml.g5.12xlarge", 2) == 2 and gpu_count_for("ml.c5.xlarge", 2) == 0
    assert device_environment(2) == {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert device_environment(0) == {"CUDA_VISIBLE_DEVICES": ""}


def test_python_entrypoints_are_recognised():
    assert is_python("python3") and is_python("python") and is_python("/usr/bin/python3.11")
    assert not is_python("bash") and not is_python("python3-config")


# ---- the container side --------------------------------------------------------------------------------
def test_container_paths_are_redirected_to_the_job_folder(tmp_path):
    code = (
        "import os, pathlib, json\n"
        "os.makedirs('/opt/ml/model/sub', exist_ok=True)\n"
        "open('/opt/ml/model/sub/a.txt', 'w').write('A')\n"
        "pathlib.Path('/opt/ml/model/b.json').write_text(json.dumps(sorted(os.listdir('/opt/ml/model'))))\n"
        "print(os.path.exists('/opt/ml/model/sub/a.txt'), os.getcwd())\n"
    )
    env = {"PATH": os.environ["PATH"], "SAGEMAKER_BASE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(CONTAINER), "python", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split()[0] == "True"
    assert (tmp_path / "model" / "sub" / "a.txt").read_text() == "A"
    assert json.loads((tmp_path / "model" / "b.json").read_text()) == ["sub"]


def test_the_runner_reports_the_users_traceback_and_exit_code(tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("import sys\nprint(sys.argv[1:])\nraise ValueError('bad row 7')\n")
    done = subprocess.run(
        [sys.executable, str(CONTAINER), "python", "-u", str(script), "--rows", "7"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.strip() == "['--rows', '7']"
    assert 'boom.py", line 3' in done.stderr and done.stderr.rstrip().endswith("ValueError: bad row 7")
    assert "runpy" not in done.stderr and "sagemaker_container" not in done.stderr


def test_opt_ml_path_rewrites_only_container_paths():
    assert container.opt_ml_path("/opt/ml/model/x", "/j") == "/j/model/x"
    assert container.opt_ml_path(b"/opt/ml/x", "/j") == b"/j/x"
    assert container.opt_ml_path(Path("/opt/ml"), "/j") == "/j"
    assert container.opt_ml_path("/opt/mlx", "/j") == "/opt/mlx"
    assert container.opt_ml_path(3, "/j") == 3


def test_line_split_records_are_batched_up_to_the_payload_limit():
    records = container.split_records(b"a,1\r\nb,2\n\nc,3\n", "Line")
    assert records == [b"a,1", b"b,2", b"c,3"]
    assert container.split_records(b"whole\nobject", "None") == [b"whole\nobject"]
    assert list(container.batch_requests(records, "SingleRecord", 100)) == records
    assert list(container.batch_requests(records, "MultiRecord", 100)) == [b"a,1\nb,2\nc,3"]
    assert list(container.batch_requests(records, "MultiRecord", 8)) == [b"a,1\nb,2", b"c,3"]


def test_outputs_are_assembled_one_per_line_or_concatenated():
    assert container.assemble([b"1", b"2\n"], "Line") == b"1\n2\n"
    assert container.assemble([b"1", b"2"], "None") == b"12"


def test_default_input_and_output_functions():
    assert container.default_input_fn(b'{"a": 1}', "application/json") == {"a": 1}
    assert container.default_input_fn("1,2.5,x\n3,4,y\n", "text/csv; charset=utf-8") == [
        [1.0, 2.5, "x"],
        [3.0, 4.0, "y"],
    ]
    assert container.default_input_fn(b'{"a":1}\n{"a":2}\n', "application/jsonlines") == [{"a": 1}, {"a": 2}]
    assert container.default_output_fn([[1, 2], [3, 4]], "text/csv") == (b"1,2\n3,4\n", "text/csv")
    assert container.default_output_fn([0.5, 0.25], "text/csv") == (b"0.5\n0.25\n", "text/csv")
    assert container.default_output_fn({"p": 1}, "application/json") == (b'{"p": 1}', "application/json")
    with pytest.raises(container.UnsupportedFormatError) as caught:
        container.default_input_fn(b"\x00", "image/png")
    assert caught.value.status_code == 415


def _script(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inference.py").write_text(text)
    return folder


def test_inference_handler_follows_the_toolkit_convention(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text('{"factor": 3}')
    code = _script(
        tmp_path / "code",
        "import json, os\n"
        "def model_fn(model_dir, context=None):\n"
        "    return json.load(open(os.path.join(model_dir, 'model.json')))\n"
        "def predict_fn(data, model):\n"
        "    return [row[0] * model['factor'] for row in data]\n",
    )
    handler = container.load_inference_handler(tmp_path / "model", code, framework="sklearn")
    body, content_type = handler.predict(b"1,2\n4,5\n", "text/csv", "application/json")
    assert (json.loads(body), content_type) == ([3.0, 12.0], "application/json")


def test_transform_fn_and_the_body_type_of_each_framework(tmp_path):
    code = _script(
        tmp_path / "code",
        "def model_fn(model_dir):\n    return None\n"
        "def transform_fn(model, body, content_type, accept):\n"
        "    return type(body).__name__, 'text/plain'\n",
    )
    (tmp_path / "model").mkdir()
    assert container.load_inference_handler(tmp_path / "model", code, framework="sklearn").predict(
        b"{}", "application/json", "text/plain"
    ) == (b"str", "text/plain")
    assert container.load_inference_handler(tmp_path / "model", code, framework="pytorch").predict(
        b"{}", "application/json", "text/plain"
    ) == (b"bytes", "text/plain")


def test_default_model_loader_reads_a_pickled_model_and_predicts(tmp_path):
    import pickle

    (tmp_path / "model").mkdir()
    with (tmp_path / "model" / "model.pkl").open("wb") as handle:
        pickle.dump({"k": 2}, handle)
    handler = container.load_inference_handler(tmp_path / "model", None)
    assert handler.model == {"k": 2}
    with pytest.raises(container.ModelLoadError):
        container.load_inference_handler(tmp_path / "empty", None)
