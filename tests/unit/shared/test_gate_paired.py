"""The gate judged with intervals: the champion check on the same rows (a paired interval of the difference, the
tolerance as the margin) and the stage's bounds with the test split's sampling interval."""

from cd4ml_shared.gate import (
    Champion,
    Comparison,
    GatePolicy,
    comparison_metadata,
    comparison_of,
    decide,
    intervals_of,
    model_data_of,
)
from cd4ml_shared.jobs import JobSettings, request_for

POLICY = GatePolicy(minimums={"pr_auc": 0.3}, maximums={"brier_score": 0.1}, tolerance=0.01)
CHAMPION = Champion("arn:champion", {"pr_auc": 0.5})  # its recorded figure, from its own test split


def paired(difference: float, lower: float, upper: float, champion: float = 0.4, metric: str = "pr_auc") -> Comparison:
    return Comparison(
        metric, "arn:champion", champion + difference, champion, difference, lower, upper, 0.95, 1000, 5000
    )


def test_a_challenger_that_is_not_confidently_worse_passes_even_below_the_champions_recorded_figure():
    # recorded 0.5 from the champion's own split; on these rows the champion scores 0.40 and the challenger 0.38
    decision = decide({"pr_auc": 0.38, "brier_score": 0.02}, POLICY, CHAMPION, comparison=paired(-0.02, -0.05, 0.01))
    assert decision.passed, decision.reasons
    (check,) = [c for c in decision.checks if c.kind == "champion"]
    assert check.passed and check.value == 0.38 and check.bound <= check.value
    assert decision.to_dict()["comparison"]["difference"] == -0.02


def test_a_challenger_confidently_worse_by_more_than_the_tolerance_is_gated_out_with_the_interval():
    decision = decide({"pr_auc": 0.3, "brier_score": 0.02}, POLICY, CHAMPION, comparison=paired(-0.1, -0.14, -0.06))
    assert not decision.passed
    (reason,) = decision.reasons
    assert "same 5,000 rows" in reason and "[-0.1400, -0.0600]" in reason and "arn:champion" in reason
    (check,) = [c for c in decision.checks if c.kind == "champion"]
    assert not check.passed and check.value < check.bound


def test_the_tolerance_is_the_margin_an_interval_just_beyond_it_fails_and_just_within_it_passes():
    within = decide({"pr_auc": 0.35}, GatePolicy(tolerance=0.01), CHAMPION, comparison=paired(-0.05, -0.08, -0.009))
    beyond = decide({"pr_auc": 0.35}, GatePolicy(tolerance=0.01), CHAMPION, comparison=paired(-0.05, -0.08, -0.011))
    assert within.passed and not beyond.passed


def test_for_a_lower_is_better_champion_metric_the_interval_is_read_the_other_way():
    policy = GatePolicy(champion_metric="brier_score", tolerance=0.005)
    worse = paired(0.02, 0.01, 0.03, champion=0.05, metric="brier_score")
    noise = paired(0.004, -0.002, 0.01, champion=0.05, metric="brier_score")
    assert not decide({"brier_score": 0.07}, policy, CHAMPION, comparison=worse).passed
    assert decide({"brier_score": 0.054}, policy, CHAMPION, comparison=noise).passed


def test_without_a_comparison_the_champions_recorded_figure_is_used_and_the_decision_says_so():
    decision = decide({"pr_auc": 0.38, "brier_score": 0.02}, POLICY, CHAMPION)
    assert not decision.passed and "worse than the champion's 0.5000" in decision.reasons[0]
    assert decision.comparison is None and "recorded pr_auc" in decision.notes[0]


def test_bounds_are_judged_with_the_sampling_interval_not_the_point_value():
    metrics = {"pr_auc": 0.27, "brier_score": 0.12}
    noisy = {"pr_auc": (0.22, 0.33), "brier_score": (0.09, 0.15)}
    assert not decide(metrics, POLICY, None).passed  # point values: both bounds missed
    assert decide(metrics, POLICY, None, intervals=noisy).passed  # neither is confidently on the wrong side
    clear = decide(metrics, POLICY, None, intervals={"pr_auc": (0.2, 0.29), "brier_score": (0.11, 0.13)})
    assert clear.reasons == [
        "pr_auc 0.2700 (interval 0.2000 to 0.2900) is below the minimum 0.3",
        "brier_score 0.1200 (interval 0.1100 to 0.1300) is above the maximum 0.1",
    ]
    assert all(c.interval is not None for c in clear.checks)


def test_the_evaluation_sections_read_back_and_broken_ones_are_ignored():
    evaluation = {
        "sampling_intervals": {"metrics": {"pr_auc": {"lower": 0.2, "upper": 0.3}, "auc": {"lower": "x"}}},
        "champion_comparison": {
            "champion_model_package_arn": "arn:champion",
            "rows": 100,
            "resamples": 1000,
            "confidence": 0.95,
            "metrics": {
                "pr_auc": {"challenger": 0.3, "champion": 0.32, "difference": -0.02, "lower": -0.05, "upper": 0.01},
                "auc": {"challenger": 0.9, "champion": 0.9, "difference": 0.0, "lower": 0.01, "upper": -0.01},
            },
        },
    }
    assert intervals_of(evaluation) == {"pr_auc": (0.2, 0.3)}
    comparison = comparison_of(evaluation, "pr_auc")
    assert comparison is not None and comparison.rows == 100 and comparison.champion_model_package_arn == "arn:champion"
    assert comparison_of(evaluation, "auc") is None  # lower above upper
    assert comparison_of({"champion_comparison": {"error": "cannot score"}}, "pr_auc") is None
    assert intervals_of({}) == {}


def test_the_comparison_becomes_model_package_metadata_and_the_champions_archive_is_found():
    gate = decide({"pr_auc": 0.38}, GatePolicy(), CHAMPION, comparison=paired(-0.02, -0.05, 0.01)).to_dict()
    metadata = comparison_metadata(gate)
    assert metadata["gate:pr_auc:difference"] == repr(-0.02) and metadata["gate:champion"] == "arn:champion"
    assert set(metadata) >= {"gate:pr_auc:challenger", "gate:pr_auc:champion", "gate:pr_auc:lower", "gate:pr_auc:upper"}
    assert comparison_metadata({"comparison": None}) == {}
    package = {"InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://a/model.tar.gz"}]}}
    assert model_data_of(package) == "s3://a/model.tar.gz" and model_data_of({}) is None


def test_the_evaluation_job_gets_the_champions_archive_as_a_second_input_when_there_is_one():
    settings = JobSettings(
        artifacts_bucket="art",
        role_arn="arn:aws:iam::123456789012:role/sm",
        code_version="abc123",
        training_image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
        processing_image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
    )
    task = {"kind": "evaluate", "run_id": "run-1", "model_uri": "s3://art/runs/run-1/model/model.tar.gz"}
    champion = {"model_package_arn": "arn:champion", "model_uri": "s3://art/runs/run-0/model/model.tar.gz"}
    _, request = request_for(settings, {**task, "champion": champion}, "e")
    inputs = {i["InputName"]: i["S3Input"] for i in request["ProcessingInputs"]}
    assert inputs["champion"]["S3Uri"] == champion["model_uri"]
    assert inputs["champion"]["LocalPath"] == "/opt/ml/processing/input/champion"
    assert request["AppSpecification"]["ContainerArguments"] == ["--champion-arn", "arn:champion"]
    for alone in (task, {**task, "champion": {"model_package_arn": None, "model_uri": None}}):
        _, request = request_for(settings, alone, "e")
        assert "champion" not in {i["InputName"] for i in request["ProcessingInputs"]}
        assert "ContainerArguments" not in request["AppSpecification"]
