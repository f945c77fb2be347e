"""The `cd4ml` command: the local cloud (`cd4ml local up|invoke`) and, later, the project's pipelines."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .localcloud import LocalCloud, LocalCloudError


def _parameters(values: list[str]) -> dict[str, str]:
    parameters = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--parameter expects Name=Value, got {item!r}")
        parameters[name] = value
    return parameters


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
    with LocalCloud(port=args.port, host=args.host, region=args.region, work_dir=work_dir) as cloud:
        print(f"Deploying {args.template} onto the local cloud at {cloud.endpoint_url} ...", flush=True)
        cloud.deploy(
            args.template,
            _parameters(args.parameter),
            stack_name=args.stack_name,
            progress=lambda line: print(f"  created {line}", flush=True),
        )
        _print_stack(cloud, sys.stdout)
        cloud.router.listeners.append(
            lambda d: print(
                f"[events] {d.source} / {d.detail_type} -> {d.rule} -> {d.target_arn}: {d.outcome}",
                flush=True,
            )
        )
        print(f"Function logs: {cloud.runtime.log_dir}")
        print(
            "Use it with:  export AWS_ENDPOINT_URL="
            + cloud.endpoint_url
            + f" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={cloud.region}"
        )
        print(f"Local cloud ready on {cloud.endpoint_url} (Ctrl-C to stop)", flush=True)
        stop.wait()
        print("Stopping the local cloud ...", flush=True)
    return 0


def _invoke(args: argparse.Namespace) -> int:
    try:
        event_text = Path(args.event).read_text(encoding="utf-8") if args.event else "{}"
    except OSError as exc:
        raise SystemExit(f"{args.event}: cannot read the event file: {exc.strerror or exc}") from exc
    try:
        json.loads(event_text)
    except ValueError as exc:
        raise SystemExit(f"{args.event}: not valid JSON: {exc}") from exc
    with LocalCloud(region=args.region) as cloud:
        cloud.deploy(args.template, _parameters(args.parameter), stack_name=args.stack_name)
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
        sub.add_argument("--stack-name", default="cd4ml")
        sub.add_argument("--region", default="us-east-1")

    up = local_commands.add_parser("up", help="deploy the template and serve an AWS endpoint until interrupted")
    common(up)
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--work-dir", help="where function logs and job files go (default: a temporary folder)")
    up.set_defaults(run=_up)

    invoke = local_commands.add_parser("invoke", help="deploy the template and invoke one function once")
    common(invoke)
    invoke.add_argument("function", metavar="LogicalId", help="the function's logical id in the template")
    invoke.add_argument("--event", "-e", help="JSON event file (default: {})")
    invoke.set_defaults(run=_invoke)

    demo = commands.add_parser("demo", help="the main job: run the stack on the local cloud end to end")
    demo.add_argument("--template", "-t", default="template.yaml")
    demo.set_defaults(run=lambda a: __import__("cd4ml.demo", fromlist=["run"]).run(Path(a.template)))

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
