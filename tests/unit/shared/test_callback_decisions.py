"""The callback pattern's decisions as plain values: whether a resume error means the task is gone (drop the result)
or is transient (put the token back), the token's item, and how long each waiting task waits."""

import pytest
from cd4ml_shared.callbacks import TOKEN_GRACE_SECONDS, execution_gone, task_timeouts, token_item


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_task_that_timed_out_or_no_longer_exists_is_gone(code):
    assert execution_gone(code) is True


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailable", "AccessDeniedException", ""])
def test_any_other_error_is_transient_and_the_token_goes_back(code):
    assert execution_gone(code) is False


def test_a_token_expires_a_grace_period_after_its_task_timeout():
    item = token_item("cd4ml-x-train-0", "tok", run_id="run-1", kind="training", timeout_s=7800, now=1000.9)
    assert item == {
        "job_name": "cd4ml-x-train-0",
        "token": "tok",
        "run_id": "run-1",
        "kind": "training",
        "expires_at": 1000 + 7800 + TOKEN_GRACE_SECONDS,
    }


def test_with_spot_the_training_task_waits_twice_the_runtime_plus_ten_minutes():
    assert task_timeouts(processing_max_runtime=3600, training_max_runtime=3600, use_spot=True) == {
        "processing": 4200,
        "training": 7800,
    }


def test_on_demand_the_training_task_waits_its_runtime_plus_ten_minutes():
    assert task_timeouts(processing_max_runtime=900, training_max_runtime=1800, use_spot=False) == {
        "processing": 1500,
        "training": 2400,
    }
