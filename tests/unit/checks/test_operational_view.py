"""The operational view in what SAM makes of the template: the dashboard shows each part of the system on metrics the
code really emits, with the dimension sets it emits them with (a widget on another set shows nothing); every alarm
notifies the topic; every dead-letter queue and state machine is watched; every function publishes as the stack."""

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cd4ml_shared.monitoring import metric_values
from cd4ml_shared.outcome import STATUSES

from cd4ml.localcloud.deploy.template import load_template, transform_template

REGION = "eu-west-1"
STACK = "cd4ml-ops"  # what ${AWS::StackName} stands for below
ENDPOINT = f"{STACK}-fraud"
ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*sorted((ROOT / "functions").glob("*/app.py")), *sorted((ROOT / "layers/shared/python").rglob("*.py"))]
TOPIC = {"Ref": "NotificationTopic"}
# The deployments' rollback alarms: SageMaker watches them while a canary bakes; they notify nobody (a rollback is
# reported by the deployment workflow), EndpointLatencyOverBudgetAlarm notifies on a sustained latency instead.
ROLLBACK_ALARMS = {"EndpointErrorsAlarm", "EndpointLatencyAlarm"}
# CloudWatch's metrics of the services the stack uses, each with the dimension sets it is published with.
AWS_METRICS: dict[str, tuple[set[str], list[frozenset[str]]]] = {
    "AWS/States": (
        {f"Executions{s}" for s in ("Started", "Succeeded", "Failed", "TimedOut", "Aborted")},
        [frozenset({"StateMachineArn"})],
    ),
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible"}, [frozenset({"QueueName"})]),
    "AWS/ApiGateway": ({"Count", "4xx", "5xx", "Latency", "IntegrationLatency"}, [frozenset({"ApiId", "Stage"})]),
    "AWS/SageMaker": (
        {"Invocations", "ModelLatency", "OverheadLatency", "Invocation4XXErrors", "Invocation5XXErrors"},
        [frozenset({"EndpointName", "VariantName"}), frozenset({"EndpointName", "VariantName", "EndpointConfigName"})],
    ),
}


# ---- what the code emits -------------------------------------------------------------------------------------------
# Every metric is published with `service` (powertools adds it to `metrics` and to each `single_metric`); these
# dimensions are added besides, by these files (a new add_dimension anywhere fails the guard below until it is listed).
EXTRA_DIMENSIONS = {
    ("functions/validate_dataset/app.py", "dataset"): {"DatasetsQuarantined", "DatasetsAccepted", "DatasetRows"},
    ("functions/request_retraining/app.py", "Why"): {"RetrainingRequestsDropped"},
    ("functions/record_outcome/app.py", "Stage"): {"StageSeconds"},
    # monitor_window's single metrics: Endpoint, and per metric what metric_values gives (read from it below)
    ("functions/monitor_window/app.py", "Endpoint"): set(),
    ("functions/monitor_window/app.py", "key"): set(),
}
# a name given whole (a literal or an f-string, or one of two by a conditional expression); one built by `+` is not a
# name this can read, and stays unknown
METRIC_NAME = re.compile(
    r"""(?:add_metric|single_metric)\(\s*name=(f?)"([^"]+)"(?:\s+if\s[^,]+?\selse\s+(f?)"([^"]+)")?\s*[,)]"""
)
ADD_DIMENSION = re.compile(r"""add_dimension\(\s*name=(?:"(\w+)"|(\w+))""")


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def name_pattern(literal: str, is_f_string: bool) -> str:
    """A metric name of the source as a regex: an f-string's `{...}` stands for any value (a status, a kind)."""
    if not is_f_string:
        return re.escape(literal)
    return "".join(
        "[A-Za-z0-9_.]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", literal)
    )


# What a monitoring run publishes, from metric_values itself: one figure of each kind.
SAMPLE_REPORT = {
    "traffic": {"requests": 300, "label_rate": 0.5},
    "quality": {"metrics": {"pr_auc": {"value": 0.4}}},
    "estimate": {"metrics": {"recall": {"value": 0.3}}},
    "drift": {
        "features": [
            {"name": "order_amount", "tests": [{"statistic": "psi", "value": 0.02}, {"statistic": "ks", "value": 0.03}]}
        ]
    },
    "breach": {"any": False},
}


@pytest.fixture(scope="module")
def emitted() -> dict[str, frozenset[str]]:
    """name pattern -> the exact dimension set the metric is published with."""
    catalogue: dict[str, frozenset[str]] = {}
    for path in SOURCES:
        for is_f, literal, other_is_f, other in METRIC_NAME.findall(path.read_text()):
            catalogue[name_pattern(literal, bool(is_f))] = frozenset({"service"})
            if other:
                catalogue[name_pattern(other, bool(other_is_f))] = frozenset({"service"})
    for (_, dimension), names in EXTRA_DIMENSIONS.items():
        for name in names:
            assert re.escape(name) in catalogue, f"no code emits {name}"
            catalogue[re.escape(name)] = frozenset({"service", dimension})
    for name, _, dimensions in metric_values(SAMPLE_REPORT):
        catalogue[re.escape(name)] = frozenset({"service", "Endpoint", *dimensions})
    return catalogue


def dimensions_of(catalogue: Mapping[str, frozenset[str]], name: str) -> frozenset[str] | None:
    matched = {dims for pattern, dims in catalogue.items() if re.fullmatch(pattern, name)}
    assert len(matched) <= 1, f"{name} is emitted with several dimension sets: {matched}"
    return next(iter(matched), None)


def test_every_dimension_the_code_adds_is_accounted_for():
    found = {
        (relative(path), literal or variable)
        for path in SOURCES
        for literal, variable in ADD_DIMENSION.findall(path.read_text())
    }
    assert found == set(EXTRA_DIMENSIONS)


def test_the_catalogue_reads_the_code_s_metric_names(emitted):
    # f-strings become patterns (a job's status, a run's), literals stay themselves, monitoring's come from its code
    assert dimensions_of(emitted, "TrainingJobsFailed") == {"service"}
    assert dimensions_of(emitted, "Runs_quarantined") == {"service"}
    assert dimensions_of(emitted, "FeedbackRecordsPoison") == {"service"}
    assert dimensions_of(emitted, "DriftPsi") == {"service", "Endpoint", "Feature"}
    assert dimensions_of(emitted, "Quality") == {"service", "Endpoint", "Metric"}
    assert dimensions_of(emitted, "StageSeconds") == {"service", "Stage"}
    assert dimensions_of(emitted, "DatasetsQuarantined") == dimensions_of(emitted, "DatasetsAccepted")
    assert dimensions_of(emitted, "DatasetsAccepted") == {"service", "dataset"}
    assert dimensions_of(emitted, "FeedbackRecordsLost") is None


# ---- the template as SAM makes it, and the dashboard's body ---------------------------------------------------------
@pytest.fixture(scope="module")
def template(root: Path):
    return transform_template(load_template(root / "template.yaml"), {}, root, REGION)


def substitute(node: Any, parameters: Mapping[str, Any]) -> str:
    """An Fn::Sub resolved with placeholders: the stack and region above, parameters at their defaults,
    `<Ref X>` for a resource and `<X.Attr>` for an attribute."""
    text, variables = (node, {}) if isinstance(node, str) else (node[0], node[1])

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in variables:
            return str(variables[name])
        pseudo = {"AWS::StackName": STACK, "AWS::Region": REGION, "AWS::AccountId": "123456789012"}
        if name in pseudo:
            return pseudo[name]
        if name in parameters:
            return str(parameters[name]["Default"])
        return f"<{name}>" if "." in name else f"<Ref {name}>"

    return re.sub(r"\$\{([^}]+)\}", value, text)


@pytest.fixture(scope="module")
def dashboard(template) -> dict[str, Any]:
    (resource,) = [r for r in template.resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert resource["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}
    body = json.loads(substitute(resource["Properties"]["DashboardBody"]["Fn::Sub"], template.parameters))
    return body


def metric_widgets(dashboard: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [w for w in dashboard["widgets"] if w["type"] == "metric"]


SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)',\s*'(?P<stat>[\w.]+)'(?:,\s*\d+)?\)")


def widget_metrics(widget: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, str | None]]]:
    """(namespace, metric name, dimensions) of each metric a widget shows: an array's dimensions with their values, a
    SEARCH's schema (values where its terms pin them, else None); plain math over ids shows no metric of its own."""
    for entry in widget["properties"]["metrics"]:
        head = entry[0]
        if isinstance(head, dict):
            search = SEARCH.fullmatch(head["expression"])
            if search is None:
                assert "SEARCH" not in head["expression"], head["expression"]
                continue
            namespace, *keys = (part.strip() for part in search["schema"].split(","))
            terms = dict(re.findall(r'(\w+)="([^"]*)"', search["terms"]))
            name = terms.pop("MetricName")
            # a term on a dimension outside the schema matches nothing the schema selects: it stays a key of its own
            outside = {f"{key} (outside the schema)": value for key, value in terms.items() if key not in keys}
            yield namespace, name, {key: terms.get(key) for key in keys} | outside
        else:
            values = [v for v in entry if not isinstance(v, dict)]
            namespace, name, pairs = values[0], values[1], values[2:]
            yield namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))


def check_metric(
    emitted: Mapping[str, frozenset[str]], namespace: str, name: str, dimensions: Mapping[str, Any], where: str
) -> None:
    if namespace == "cd4ml":
        expected = dimensions_of(emitted, name)
        assert expected is not None, f"{where}: no code emits {name}"
        assert set(dimensions) == expected, f"{where}: {name} is emitted with {sorted(expected)}"
        assert dimensions["service"] in (STACK, {"Ref": "AWS::StackName"}), f"{where}: {name} of another stack"
        if "Endpoint" in dimensions:
            assert dimensions["Endpoint"] in (ENDPOINT, {"Fn::Sub": "${AWS::StackName}-fraud"}), where
    else:
        assert namespace in AWS_METRICS, f"{where}: namespace {namespace}"
        names, dimension_sets = AWS_METRICS[namespace]
        assert name in names, f"{where}: {namespace} publishes no {name}"
        assert frozenset(dimensions) in dimension_sets, f"{where}: {namespace} {name} by {sorted(dimensions)}"


def test_every_metric_on_the_dashboard_is_emitted_with_those_dimensions(dashboard, emitted):
    shown = 0
    for widget in metric_widgets(dashboard):
        for namespace, name, dimensions in widget_metrics(widget):
            check_metric(emitted, namespace, name, dimensions, widget["properties"]["title"])
            shown += 1
    assert shown > 60


def shows(widget: Mapping[str, Any], namespace: str, name: str, **dimensions: str | None) -> bool:
    return any(
        (ns, n) == (namespace, name) and all(d.get(k, "absent") == v for k, v in dimensions.items())
        for ns, n, d in widget_metrics(widget)
    )


def widget_showing(dashboard, *wanted: tuple[str, str, dict[str, str | None]]) -> Mapping[str, Any]:
    """The one widget that shows every one of `wanted` (namespace, name, dimensions it must have)."""
    found = [w for w in metric_widgets(dashboard) if all(shows(w, ns, n, **d) for ns, n, d in wanted)]
    assert found, f"no widget shows all of {wanted}"
    return found[0]


def test_pipeline_runs_are_shown_by_outcome_for_each_state_machine(dashboard, template):
    machines = [k for k, r in template.resources.items() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert len(machines) == 4
    for machine in machines:
        outcomes = ("Succeeded", "Failed", "TimedOut", "Aborted")
        widget_showing(
            dashboard, *[("AWS/States", f"Executions{o}", {"StateMachineArn": f"<Ref {machine}>"}) for o in outcomes]
        )
    # and the training runs as record_outcome tells them apart (gated out, duplicate, quarantined are not failures)
    widget_showing(dashboard, *[("cd4ml", f"Runs_{status}", {"service": STACK}) for status in STATUSES])


def test_stage_durations_quarantines_job_failures_are_shown(dashboard):
    widget_showing(dashboard, ("cd4ml", "StageSeconds", {"Stage": None, "service": STACK}))
    widget_showing(dashboard, ("cd4ml", "DatasetsQuarantined", {"dataset": None, "service": STACK}))
    kinds = ("Training", "Processing", "Transform")
    widget_showing(dashboard, *[("cd4ml", f"{kind}JobsFailed", {"service": STACK}) for kind in kinds])


def test_every_dead_letter_queue_s_depth_is_shown(dashboard, template):
    queues = [k for k, r in template.resources.items() if r["Type"] == "AWS::SQS::Queue"]
    assert len(queues) >= 5
    widget_showing(
        dashboard,
        *[("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": f"<{queue}.QueueName>"}) for queue in queues],
    )


def test_decision_latency_percentiles_and_error_codes_are_shown(dashboard):
    api = {"ApiId": "<Ref DecisionApi>", "Stage": "$default"}
    latency = widget_showing(
        dashboard, ("AWS/ApiGateway", "Latency", api), ("AWS/ApiGateway", "IntegrationLatency", api)
    )
    stats = {(e[1], e[-1].get("stat")) for e in latency["properties"]["metrics"] if isinstance(e[-1], dict)}
    assert {(m, p) for m in ("Latency", "IntegrationLatency") for p in ("p50", "p90", "p99")} <= stats
    widget_showing(dashboard, ("AWS/ApiGateway", "4xx", api), ("AWS/ApiGateway", "5xx", api))
    causes = ("InvalidOrders", "OrderConflicts", "DecisionsUnavailable", "ModelErrors")
    widget_showing(dashboard, *[("cd4ml", cause, {"service": STACK}) for cause in causes])


@pytest.mark.parametrize("metric", ["Invocations", "ModelLatency", "Invocation5XXErrors"])
def test_the_endpoint_is_shown_per_variant_whatever_the_variants_are_named(dashboard, metric):
    # a SEARCH: the variant (and a blue/green update's fleets) are whatever the deployment made them
    widget_showing(dashboard, ("AWS/SageMaker", metric, {"EndpointName": ENDPOINT, "VariantName": None}))


def divides(widget: Mapping[str, Any], numerator: str, denominator: str) -> bool:
    """Whether the widget's math divides its metric `numerator` by its metric `denominator` (by their ids)."""
    metrics = widget["properties"]["metrics"]
    ids = {
        e[-1]["id"]: e[1] for e in metrics if not isinstance(e[0], dict) and isinstance(e[-1], dict) and "id" in e[-1]
    }
    expressions = [e[0]["expression"] for e in metrics if isinstance(e[0], dict)]
    return any(
        re.search(rf"\b{over}\b.*/\s*{under}\b", expression)
        for expression in expressions
        for over, over_name in ids.items()
        for under, under_name in ids.items()
        if (over_name, under_name) == (numerator, denominator)
    )


def test_feedback_records_and_their_poison_rate_are_shown(dashboard):
    counts = widget_showing(
        dashboard,
        ("cd4ml", "FeedbackRecordsReceived", {"service": STACK}),
        ("cd4ml", "FeedbackRecordsWritten", {"service": STACK}),
        ("cd4ml", "FeedbackRecordsPoison", {"service": STACK}),
    )
    assert counts
    assert any(divides(w, "FeedbackRecordsPoison", "FeedbackRecordsReceived") for w in metric_widgets(dashboard))


def test_drift_and_quality_are_shown_by_feature_and_metric_of_the_endpoint(dashboard):
    for name in ("DriftPsi", "DriftKs"):
        widget_showing(dashboard, ("cd4ml", name, {"Endpoint": ENDPOINT, "Feature": None, "service": STACK}))
    for name in ("Quality", "EstimatedQuality"):
        widget_showing(dashboard, ("cd4ml", name, {"Endpoint": ENDPOINT, "Metric": None, "service": STACK}))


def test_the_dashboard_is_in_titled_rows_of_the_stack_s_region_without_overlaps(dashboard):
    assert sum(w["type"] == "text" for w in dashboard["widgets"]) >= 7  # a title for each row
    for widget in metric_widgets(dashboard):
        assert widget["properties"]["region"] == REGION and widget["properties"]["title"]
    cells: set[tuple[int, int]] = set()
    for widget in dashboard["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        area = {(widget["x"] + i, widget["y"] + j) for i in range(widget["width"]) for j in range(widget["height"])}
        assert not area & cells, f"{widget} overlaps another widget"
        cells |= area


# ---- the alarms ----------------------------------------------------------------------------------------------------
def alarms(template) -> dict[str, Mapping[str, Any]]:
    return {k: r["Properties"] for k, r in template.resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def alarm_metrics(alarm: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    if "Metrics" not in alarm:
        yield alarm["Namespace"], alarm["MetricName"], {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
    for query in alarm.get("Metrics", []):
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            yield metric["Namespace"], metric["MetricName"], {d["Name"]: d["Value"] for d in metric["Dimensions"]}


def test_every_alarm_notifies_the_topic_and_only_it(template):
    found = alarms(template)
    assert set(found) - ROLLBACK_ALARMS >= {
        "PipelineFailuresAlarm",
        "DeadLetterQueuesAlarm",
        "DecisionErrorRateAlarm",
        "EndpointLatencyOverBudgetAlarm",
        "FeedbackPoisonRateAlarm",
        "MonitoringBreachAlarm",
        "QualityAlarm",
    }
    for logical_id, alarm in found.items():
        if logical_id not in ROLLBACK_ALARMS:
            assert alarm["AlarmActions"] == [TOPIC], logical_id
        for actions in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            assert alarm.get(actions, [TOPIC]) == [TOPIC], f"{logical_id} {actions}"
        # CloudFormation names them after the stack; a missing datapoint (no traffic, no run) is no alarm
        assert "AlarmName" not in alarm and alarm["TreatMissingData"] == "notBreaching", logical_id
        assert len(alarm["AlarmDescription"]) > 60, f"{logical_id}: say what fired and what to do"


def test_every_alarm_watches_metrics_that_exist(template, emitted):
    for logical_id, alarm in alarms(template).items():
        for namespace, name, dimensions in alarm_metrics(alarm):
            check_metric(emitted, namespace, name, dimensions, logical_id)


def test_metric_math_alarms_return_one_expression_over_all_their_metrics(template):
    for logical_id, alarm in alarms(template).items():
        if "Metrics" not in alarm:
            continue
        queries = alarm["Metrics"]
        returned = [q for q in queries if q.get("ReturnData")]
        assert len(returned) == 1 and "Expression" in returned[0], logical_id
        fetched = {q["Id"] for q in queries if "MetricStat" in q}
        assert 0 < len(fetched) <= 10, f"{logical_id}: a metric-math alarm reads at most 10 metrics"
        expressions = " ".join(
            q["Expression"] if isinstance(q["Expression"], str) else q["Expression"]["Fn::Sub"]
            for q in queries
            if "Expression" in q
        )
        referenced = set(re.findall(r"\b[a-z]\w*\b", expressions))
        assert fetched <= referenced, f"{logical_id}: a metric the math ignores"
        assert referenced <= {q["Id"] for q in queries}, f"{logical_id}: math over an id no query has"


def test_every_dead_letter_queue_is_in_the_dead_letter_alarm(template):
    queues = {k for k, r in template.resources.items() if r["Type"] == "AWS::SQS::Queue"}
    watched = {
        d["QueueName"]["Fn::GetAtt"][0]
        for ns, name, d in alarm_metrics(alarms(template)["DeadLetterQueuesAlarm"])
        if (ns, name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    assert watched == queues


def test_every_state_machine_s_failures_and_timeouts_are_in_the_failure_alarm(template):
    machines = {k for k, r in template.resources.items() if r["Type"] == "AWS::StepFunctions::StateMachine"}
    watched = [
        (name, d["StateMachineArn"]["Ref"]) for _, name, d in alarm_metrics(alarms(template)["PipelineFailuresAlarm"])
    ]
    assert sorted(watched) == sorted((name, m) for m in machines for name in ("ExecutionsFailed", "ExecutionsTimedOut"))


def test_the_rate_alarms_count_only_with_enough_traffic(template):
    # one 5XX at 3 a.m. is not a 100 % error rate: the expression needs its minimum count first
    found = alarms(template)
    for logical_id, minimum in (
        ("DecisionErrorRateAlarm", "DecisionErrorAlarmMinRequests"),
        ("FeedbackPoisonRateAlarm", "FeedbackPoisonAlarmMinRecords"),
    ):
        (expression,) = [q["Expression"]["Fn::Sub"] for q in found[logical_id]["Metrics"] if q.get("ReturnData")]
        assert expression.startswith("IF(") and f">= ${{{minimum}}}" in expression, expression


# ---- every function publishes as the stack ---------------------------------------------------------------------------
def test_every_function_logs_and_publishes_as_its_stack(template):
    functions = {k: r for k, r in template.resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(functions) > 15
    for logical_id, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}, logical_id
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "cd4ml", logical_id
