"""Measures one monitoring window of the endpoint in service (statemachines/monitoring.asl.json, on the schedule or
on demand): quality with intervals, the label-free estimate, drift; writes report.json, report.html and the history,
and publishes the figures as EMF metrics. A breach is announced by the next state (announce_breach)."""

from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.monitoring import run_monitoring, skipped
from cd4ml_shared.monitoring import MonitoringSettings, NoBaseline, evaluation_time, metric_values, windows

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")
SETTINGS = MonitoringSettings.from_environment()


def publish(report: dict) -> None:
    """Every figure of the report as a metric: per metric and per feature a dimension, beside the endpoint's."""
    for name, value, dimensions in metric_values(report):
        with single_metric(name=name, unit=MetricUnit.NoUnit, value=value) as metric:
            metric.add_dimension(name="Endpoint", value=SETTINGS.endpoint_name)
            for key, dimension in dimensions.items():
                metric.add_dimension(name=key, value=dimension)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    now = evaluation_time(event, datetime.now(UTC))
    logger.set_correlation_id(windows(now, SETTINGS)[0].name())  # the window the run measures (or skips)
    try:
        run = run_monitoring(sagemaker, s3, SETTINGS, now)
    except NoBaseline as why:
        # nothing serves, or a version registered before monitoring existed: said, counted, and not an alarm
        logger.warning("window not measured", extra={"why": str(why)})
        metrics.add_metric(name="MonitoringSkipped", unit=MetricUnit.Count, value=1)
        return skipped(SETTINGS, now, str(why))
    publish(run.report)
    logger.info(
        "window measured",
        extra={
            "window": run.report["window"]["name"],
            "requests": run.report["traffic"]["requests"],
            "breach": run.breach.to_dict(),
            "seconds": run.seconds,
            "report": run.html_uri,
        },
    )
    return {
        "status": "measured",
        "window": run.report["window"]["name"],
        "model_version": run.report["model_version"],
        "report_uri": run.report_uri,
        "report_html_uri": run.html_uri,
        "breach": run.breach.to_dict(),
    }
