"""The `cd4ml` command: the local cloud (`cd4ml local up|invoke`) and, later, the project's pipelines."""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .localcloud import LocalCloud, LocalCloudError, sns
from .localcloud.aws import DEFAULT_REGION
from .samconfig import DEFAULT_FILE, SamConfigError, read_deploy_config


def _parameters(values: list[str]) -> dict[str, str]:
    parameters = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--parameter expects Name=Value, got {item!r}")
        parameters[name] = value
    return parameters


@dataclass(frozen=True)
class _Deployment:
    """What to deploy: samconfig.toml's deploy options for the environment, with the command line over them."""

    stack_name: str
    region: str
    parameters: dict[str, str]
    source: str  # for people: where the options came from


def _deployment(args: argparse.Namespace) -> _Deployment:
    path = Path(args.config_file) if args.config_file else Path(args.template).resolve().parent / DEFAULT_FILE
    if args.config_file and not path.is_file():
        raise SystemExit(f"{path}: no such SAM configuration file")
    try:
        config = read_deploy_config(path, args.config_env)
    except SamConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    parameters = {**config.parameter_overrides, **_parameters(args.parameter)}  # -p wins, as in sam deploy
    source = f"{path} [{config.environment}]" if config.path is not None else "no samconfig.toml"
    return _Deployment(
        stack_name=args.stack_name or config.stack_name or "cd4ml",
        region=args.region or config.region or DEFAULT_REGION,
        parameters=parameters,
        source=source,
    )


def _print_stack(cloud: LocalCloud, out: Any) -> None:
    stack = cloud.stack
    print(
        f"Stack {stack.name} ({len(stack.resources)} resources, region {cloud.region}, account {cloud.account_id})",
        file=out,
    )
    for resource in stack.resources.values():
        print(f"  {resource.resource_type:<36} {resource.logical_id:<40} {resource.physical_id}", file=out)
    if stack.skipped:
        print(f"  skipped (condition false): {', '.join(stack.skipped)}", file=out)
    for name, value in stack.outputs.items():
        print(f"  output {name} = {value}", file=out)
    pending = cloud.scheduler.pending()
    for rule, when in pending:
        print(f"  schedule {rule} next at {when.isoformat()}", file=out)


def _up(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    work_dir = Path(args.work_dir).resolve() if args.work_dir else None
    deployment = _deployment(args)
    state_dir = Path(args.state_dir).resolve() if args.state_dir else None
    with LocalCloud(
        port=args.port, host=args.host, region=deployment.region, work_dir=work_dir, state_dir=state_dir
    ) as cloud:
        print(
            f"Deploying {args.template} as stack {deployment.stack_name} onto the local cloud at "
            f"{cloud.endpoint_url} (options: {deployment.source}) ...",
            flush=True,
        )
        if deployment.parameters:
            print("  parameters " + " ".join(f"{k}={v}" for k, v in deployment.parameters.items()), flush=True)
        cloud.deploy(
            args.template,
            deployment.parameters,
            stack_name=deployment.stack_name,
            progress=lambda line: print(f"  created {line}", flush=True),
        )
        _print_stack(cloud, sys.stdout)
        cloud.router.listeners.append(
            lambda d: print(
                f"[events] {d.source} / {d.detail_type} -> {d.rule} -> {d.target_arn}: {d.outcome}",
                flush=True,
            )
        )
        sns.listeners.append(_print_notification)  # what an e-mail subscriber of the topic would read
        print(f"Function logs: {cloud.runtime.log_dir} and CloudWatch Logs /aws/lambda/<function name>")
        if state_dir is not None:
            restored = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in cloud.restored.items()) or "nothing"
            print(f"State: kept in {state_dir} (saved when the local cloud stops); restored: {restored}")
        print(
            "Use it with:  export AWS_ENDPOINT_URL="
            + cloud.endpoint_url
            + f" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={cloud.region}"
        )
        print(f"Local cloud ready on {cloud.endpoint_url} (Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        finally:
            sns.listeners.remove(_print_notification)
        print("Stopping the local cloud ... (Ctrl-C again to stop at once, without saving or cleaning up)", flush=True)
        signal.signal(signal.SIGINT, _stop_at_once)
        slow_stop = threading.Timer(SLOW_STOP_S, _report_slow_stop)
        slow_stop.daemon = True
        slow_stop.start()
    slow_stop.cancel()
    return 0


SLOW_STOP_S = 20.0  # stopping takes a second or two; longer, something waits, and its stack says what


def _report_slow_stop() -> None:
    print(f"Still stopping after {SLOW_STOP_S:.0f}s; where each thread waits:", file=sys.stderr, flush=True)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


def _stop_at_once(*_: object) -> None:
    """The second Ctrl-C: exit now. The local cloud's processes end with it (their lifeline), its work directory
    and unsaved state stay behind."""
    print("Stopped at once: state not saved, work directory left in place.", file=sys.stderr, flush=True)
    os._exit(130)


def _print_notification(topic_arn: str, subject: str | None, message: str) -> None:
    topic = topic_arn.rsplit(":", 1)[-1]
    lines = [f"[notification] {topic}: {subject or '(no subject)'}"]
    lines += [f"    {line}" for line in message.splitlines()]
    print("\n".join(lines), flush=True)


def _invoke(args: argparse.Namespace) -> int:
    try:
        event_text = Path(args.event).read_text(encoding="utf-8") if args.event else "{}"
    except OSError as exc:
        raise SystemExit(f"{args.event}: cannot read the event file: {exc.strerror or exc}") from exc
    try:
        json.loads(event_text)
    except ValueError as exc:
        raise SystemExit(f"{args.event}: not valid JSON: {exc}") from exc
    deployment = _deployment(args)
    with LocalCloud(region=deployment.region) as cloud:
        cloud.deploy(args.template, deployment.parameters, stack_name=deployment.stack_name)
        resource = cloud.stack.resources.get(args.function)
        if resource is None or resource.resource_type != "AWS::Lambda::Function":
            functions = [r.logical_id for r in cloud.stack.by_type("AWS::Lambda::Function")]
            print(
                f"{args.function!r} is not a function of the template; functions: {', '.join(functions)}",
                file=sys.stderr,
            )
            return 2
        outcome = cloud.invoke(args.function, event_text)
        log_file = cloud.runtime.log_dir / f"{resource.physical_id}.log"
        if log_file.exists():
            sys.stderr.write(log_file.read_text(encoding="utf-8"))
        print(outcome.payload.decode("utf-8"))
        if outcome.function_error:
            print(f"FunctionError: {outcome.function_error}", file=sys.stderr)
            return 1
    return 0


def _start_date(text: str) -> datetime:
    """YYYY-MM-DD, or `today-N`: N days before today (UTC), so that `--start today-30 --days 30` ends today."""
    today = datetime.now(UTC).date()
    relative = re.fullmatch(r"today(?:-(\d{1,5}))?", text)
    try:
        day = today - timedelta(days=int(relative[1] or 0)) if relative else date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD or today-N, got {text!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _bounded(kind: Callable[[str], float], low: float, high: float | None = None) -> Callable[[str], float]:
    """An argparse type: `kind` (int or float) within [low, high]."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {getattr(kind, '__name__', 'a number')}, got {text!r}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is outside [{low}, {'inf' if high is None else high}]")
        return value

    return parse


def _fault(text: str) -> str:
    from .data import Fault  # here, not at the top: numpy and pyarrow would slow every command down

    if text not in {fault.value for fault in Fault}:
        valid = ", ".join(fault.value for fault in Fault)
        raise argparse.ArgumentTypeError(f"unknown fault {text!r} (choose from {valid})")
    return text


def _dataset_path(text: str) -> Path:
    from .data import UnsupportedDatasetFormat, dataset_format

    try:
        dataset_format(text)
    except UnsupportedDatasetFormat as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


class _DataParser(argparse.ArgumentParser):
    """A `cd4ml data` command's parser; its help lists the fault switches, imported only when the help is shown."""

    def format_help(self) -> str:
        from .data import Fault

        if self.prog.split()[-1] == "generate":
            self.formatter_class = argparse.RawDescriptionHelpFormatter
            self.epilog = "faults:\n" + "\n".join(f"  {fault.value:<19} {fault.effect}" for fault in Fault)
        return super().format_help()


def _data_generate(args: argparse.Namespace) -> int:
    import pyarrow.compute as pc
    from cd4ml_shared.contract import ORDERS

    from .data import generate_orders, write_dataset

    out: Path = args.out
    started = time.perf_counter()
    table = generate_orders(
        args.rows, seed=args.seed, start=args.start, days=args.days, faults=args.fault, fraud_rate=args.fraud_rate
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        size = write_dataset(table, out)
    except OSError as exc:
        raise SystemExit(f"{out}: cannot write the dataset: {exc.strerror or exc}") from exc
    seconds = time.perf_counter() - started
    label = ORDERS.label.name
    positives = int(pc.sum(table.column(label)).as_py() or 0) if label in table.column_names else 0
    print(f"rows:       {table.num_rows}")
    print(f"columns:    {table.num_columns} ({', '.join(table.column_names)})")
    print(f"fraud rate: {positives / max(table.num_rows, 1):.4f} ({positives} orders)")
    print(f"faults:     {', '.join(dict.fromkeys(args.fault)) or 'none'}")
    print(f"path:       {out}")
    print(f"bytes:      {size}")
    print(f"seconds:    {seconds:.2f}")
    return 0


def _model_publish(args: argparse.Namespace) -> int:
    import boto3

    from .model_code import publish

    s3 = boto3.client("s3", endpoint_url=args.endpoint_url) if args.endpoint_url else boto3.client("s3")
    published = publish(s3, args.bucket, args.version, progress=print)
    print(f"code version {published.version}: sha256 {published.sha256} ({published.files} files) at {published.uri}")
    return 0


def _registry(args: argparse.Namespace) -> int:
    """`cd4ml model list | approve | reject`: the group from --group or the stack's output, as in `sam deploy`'s
    stage (samconfig.toml's --config-env); a refusal exits 2 with its reason."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from . import model_registry as registry

    try:
        region, stack = args.region, None
        if not args.group or not region:
            path = Path(args.config_file or DEFAULT_FILE)
            if args.config_file and not path.is_file():
                raise SamConfigError(f"{path}: no such SAM configuration file")
            config = read_deploy_config(path, args.config_env)
            stack = args.stack_name or config.stack_name or "cd4ml"
            region = region or config.region
        session = boto3.session.Session(region_name=region or boto3.session.Session().region_name or DEFAULT_REGION)

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=args.endpoint_url)

        group, endpoint = args.group, getattr(args, "endpoint_name", None)
        if stack is not None and not group:
            outputs = registry.stack_outputs(client("cloudformation"), stack)
            group, endpoint = registry.group_of_stack(outputs, stack), endpoint or registry.endpoint_of_stack(outputs)
        if args.model_command == "list":
            found = registry.listing(client("sagemaker"), group, endpoint)
            print(registry.listing_json(found) if args.json else registry.listing_table(found))
            return 0
        decision: registry.Decision = "Approved" if args.model_command == "approve" else "Rejected"
        outcome = registry.decide(client("sagemaker"), client("sts"), group, args.target, decision, args.reason)
        print(registry.outcome_text(outcome, group))
        return 0
    except (registry.RegistryRefusal, SamConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _features_backfill(args: argparse.Namespace) -> int:
    """`cd4ml features backfill SOURCE`: the online store's customer states from a dataset of past orders."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from cd4ml_shared.data_quality import DatasetUnreadable, Format, UnsupportedFormat, read_table
    from cd4ml_shared.s3_uri import parse_s3_uri

    from . import model_registry as registry
    from .online_store import customer_states, write_states

    try:
        path = Path(args.config_file or DEFAULT_FILE)
        if args.config_file and not path.is_file():
            raise SamConfigError(f"{path}: no such SAM configuration file")
        config = read_deploy_config(path, args.config_env)
        region = args.region or config.region
        session = boto3.session.Session(region_name=region or boto3.session.Session().region_name or DEFAULT_REGION)

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=args.endpoint_url)

        table = args.table
        if not table:
            stack = args.stack_name or config.stack_name or "cd4ml"
            table = registry.stack_outputs(client("cloudformation"), stack).get("CustomerFeaturesTableName")
            if not table:
                raise registry.RegistryRefusal(f"stack {stack} has no output CustomerFeaturesTableName; give --table")
        if args.source.startswith("s3://"):
            bucket, key = parse_s3_uri(args.source)
            data: Any = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
            suffix = key.lower()
            fmt: Format = "parquet" if suffix.endswith(".parquet") else "csv"
            orders = read_table(data, fmt, source=args.source, compression="gzip" if suffix.endswith(".gz") else None)
        else:
            orders = read_table(Path(args.source))
        folded = customer_states(orders)
        print(f"{folded.orders:,} orders of {len(folded.states):,} customers folded from {args.source}")
        if folded.skipped_rows:
            print(f"{folded.skipped_rows:,} rows skipped: " + "; ".join(folded.problems))
        result = write_states(
            client("dynamodb"),
            table,
            folded.states,
            overwrite=args.overwrite,
            progress=lambda done, total: print(f"  {done:,} / {total:,} customers") if done % 10_000 < 100 else None,
        )
        kept = "" if args.overwrite else f", {result.kept:,} kept (they have a state already; --overwrite replaces)"
        print(f"{table}: {result.written:,} customers written{kept} in {result.seconds:.1f}s")
        for error in result.errors[:10]:
            print(f"error: {error}", file=sys.stderr)
        return 1 if result.errors else 0
    except (registry.RegistryRefusal, SamConfigError, DatasetUnreadable, UnsupportedFormat, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cd4ml", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the local cloud does")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the SAM template on the local cloud (moto, no Docker)")
    local_commands = local.add_subparsers(dest="local_command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--template", "-t", default="template.yaml", help="SAM template (default: template.yaml)")
        sub.add_argument(
            "--parameter",
            "-p",
            action="append",
            default=[],
            metavar="Name=Value",
            help="template parameter override (repeatable)",
        )
        sub.add_argument(
            "--config-env",
            default="dev",
            help="the samconfig.toml environment whose deploy options (stack name, region, parameter overrides) "
            "are used, as `sam deploy --config-env` does (default: dev)",
        )
        sub.add_argument(
            "--config-file", help="the SAM configuration file (default: samconfig.toml beside the template)"
        )
        sub.add_argument("--stack-name", help="the stack's name (default: samconfig's stack_name, else cd4ml)")
        sub.add_argument("--region", help="the region (default: samconfig's region, else us-east-1)")

    up = local_commands.add_parser("up", help="deploy the template and serve an AWS endpoint until interrupted")
    common(up)
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--work-dir", help="where function logs and job files go (default: a temporary folder)")
    up.add_argument(
        "--state-dir",
        help="keep the stack's objects, table items and model registry here across a clean stop and the next "
        "start (default: nothing is kept; see docs/local-cloud.md)",
    )
    up.set_defaults(run=_up)

    invoke = local_commands.add_parser("invoke", help="deploy the template and invoke one function once")
    common(invoke)
    invoke.add_argument("function", metavar="LogicalId", help="the function's logical id in the template")
    invoke.add_argument("--event", "-e", help="JSON event file (default: {})")
    invoke.set_defaults(run=_invoke)

    demo = commands.add_parser("demo", help="the main job: the whole loop on the local cloud, end to end")
    demo.add_argument("--template", "-t", default="template.yaml")
    demo.add_argument("--rows", type=_bounded(int, 1_000), default=50_000, help="orders in the generated dataset")
    demo.add_argument("--out", type=Path, default=Path(".cd4ml/demo"), help="where the run's report is copied")
    demo.set_defaults(
        run=lambda a: __import__("cd4ml.demo", fromlist=["run"]).run(Path(a.template), rows=a.rows, output_dir=a.out)
    )

    data = commands.add_parser("data", help="datasets for the fraud workload")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_DataParser)
    generate = data_commands.add_parser(
        "generate",
        help="write a deterministic synthetic orders dataset (CSV or Parquet, by suffix), optionally with faults",
    )
    generate.add_argument("--rows", type=_bounded(int, 1), required=True, help="number of orders")
    generate.add_argument("--seed", type=_bounded(int, 0), required=True, help="random seed: same seed, same bytes")
    generate.add_argument("--days", type=_bounded(int, 1), required=True, help="number of days the orders span")
    generate.add_argument(
        "--start",
        type=_start_date,
        required=True,
        metavar="YYYY-MM-DD|today-N",
        help="first day (UTC); today-N: N days ago",
    )
    generate.add_argument(
        "--fault",
        action="extend",
        nargs="+",
        default=[],
        type=_fault,
        metavar="NAME",
        help="corrupt the dataset this way (repeatable; see below)",
    )
    generate.add_argument(
        "--fraud-rate", type=_bounded(float, 0.0, 0.5), default=0.01, help="expected share of fraud (default: 0.01)"
    )
    generate.add_argument("--out", type=_dataset_path, required=True, help="output file: .csv or .parquet")
    generate.set_defaults(run=_data_generate)

    model = commands.add_parser("model", help="the model code that SageMaker jobs run, and the registered versions")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    publish = model_commands.add_parser(
        "publish", help="upload model/ and the shared package to s3://BUCKET/code/VERSION/ (before the first run)"
    )
    publish.add_argument("--bucket", required=True, help="the stack's artifacts bucket (output ArtifactsBucketName)")
    publish.add_argument("--version", required=True, help="the stack's ModelCodeVersion parameter (CI: git commit)")
    publish.add_argument("--endpoint-url", help="an S3 endpoint other than AWS's (the local cloud's)")
    publish.set_defaults(run=_model_publish)

    def stack_options(sub: argparse.ArgumentParser, where: Any) -> None:
        """Which deployed stack a command works on, as `sam deploy` found it (samconfig.toml's --config-env)."""
        where.add_argument("--stack-name", help="the stack (default: samconfig.toml's stack_name for --config-env)")
        sub.add_argument("--config-env", default="dev", help="the samconfig.toml environment (default: dev)")
        sub.add_argument("--config-file", help="the SAM configuration file (default: ./samconfig.toml)")
        sub.add_argument("--region", help="the region (default: samconfig's, else the AWS configuration's)")
        sub.add_argument("--endpoint-url", help="an AWS endpoint other than AWS's (the local cloud's)")

    def registry_options(sub: argparse.ArgumentParser) -> None:
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--group", help="the model package group (default: the stack's ModelPackageGroupName)")
        stack_options(sub, where)
        sub.set_defaults(run=_registry)

    listing = model_commands.add_parser("list", help="the group's versions: status, metrics, run, what serves")
    registry_options(listing)
    listing.add_argument("--endpoint-name", help="confirm what serves on this endpoint (default: the stack's)")
    listing.add_argument("--json", action="store_true", help="JSON for machines instead of the table")
    for verb, effect in (("approve", "approve a version (starts its deployment)"), ("reject", "reject a version")):
        decide = model_commands.add_parser(verb, help=effect)
        registry_options(decide)
        decide.add_argument("target", metavar="VERSION|ARN", help="a version number of the group, or its ARN")
        decide.add_argument("--reason", help="why, recorded with who in ApprovalDescription (required to reject)")

    features = commands.add_parser("features", help="the online features decisions read (CustomerFeaturesTable)")
    feature_commands = features.add_subparsers(dest="features_command", required=True)
    backfill = feature_commands.add_parser(
        "backfill", help="build each customer's online state from a dataset of past orders (before go-live)"
    )
    backfill.add_argument("source", metavar="SOURCE", help="orders as .csv, .csv.gz or .parquet: s3://... or a file")
    table = backfill.add_mutually_exclusive_group()
    table.add_argument("--table", help="the table (default: the stack's output CustomerFeaturesTableName)")
    stack_options(backfill, table)
    backfill.add_argument("--overwrite", action="store_true", help="replace states that exist (default: keep them)")
    backfill.set_defaults(run=_features_backfill)

    from . import smoke as smoke_test  # boto3 and the standard library; the data generator loads when a run is made

    smoke = commands.add_parser(
        "smoke",
        help="check a deployed stack as CI does after sam deploy: its outputs, the published code, a small "
        "generated dataset through the pipeline, one decision",
    )
    stack_options(smoke, smoke)
    smoke.add_argument("--code-version", help="the ModelCodeVersion the stack must run (CI: the commit)")
    smoke.add_argument(
        "--read-only", action="store_true", help="only the stack and one decision; upload and publish nothing (prod)"
    )
    smoke.add_argument(
        "--require-decision", action="store_true", help="fail when no model is in service (prod: one must serve)"
    )
    smoke.add_argument(
        "--timeout",
        type=_bounded(float, 1.0),
        default=smoke_test.DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long the training run may take (default: {smoke_test.DEFAULT_TIMEOUT_S:.0f})",
    )
    smoke.add_argument("--seed", type=_bounded(int, 0), help="the generated data's seed (default: from the clock)")
    smoke.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    smoke.set_defaults(run=smoke_test.command)

    # runs and logs load their modules only when run: `cd4ml --help` stays quick
    runs = commands.add_parser("runs", help="the stack's pipeline runs: training, batch, deployment, monitoring")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True)
    runs_list = runs_commands.add_parser("list", help="the newest runs: status, start, duration, outcome")
    runs_list.add_argument("--pipeline", choices=["training", "batch", "deployment", "monitoring"])
    runs_list.add_argument(
        "--status", choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    )
    runs_list.add_argument("--max", type=_bounded(int, 1, 1000), default=20, help="at most this many runs (20)")
    runs_show = runs_commands.add_parser(
        "show", help="one run: its input, each state's duration and attempts, why it failed, its report"
    )
    runs_show.add_argument("run_id", metavar="RUN", help="the run's id: its execution name (see `cd4ml runs list`)")
    runs_show.add_argument("--presign", action="store_true", help="report links as presigned https URLs (1 hour)")
    for sub in (runs_list, runs_show):
        stack_options(sub, sub)
        sub.add_argument("--json", action="store_true", help="JSON for machines instead of text")
        sub.set_defaults(run=lambda a: __import__("cd4ml.runs", fromlist=["command"]).command(a))

    logs = commands.add_parser(
        "logs", help="one run's log lines from every function of the stack (and its SageMaker jobs), by time"
    )
    logs.add_argument(
        "run_id",
        metavar="RUN",
        help="a run's execution name, a monitoring window, a retraining request, an inference id",
    )
    logs.add_argument(
        "--since", metavar="DURATION", help="from this long ago, e.g. 30m, 6h, 1d (default: the run's start, else 1d)"
    )
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until the run ends")
    stack_options(logs, logs)
    logs.set_defaults(run=lambda a: __import__("cd4ml.run_logs", fromlist=["command"]).command(a))

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    try:
        return int(args.run(args))
    except LocalCloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
