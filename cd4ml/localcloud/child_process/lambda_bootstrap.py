"""Lambda execution environment: one process per warm function instance, run by path (not as part of cd4ml).

The parent (lambda_/worker.py) speaks newline-delimited JSON on this process's stdin and original stdout;
the handler's own prints and logs, with the START/END/REPORT lines, go to stderr, a pipe the parent writes to the
function's log file and to its CloudWatch Logs stream.
Only the standard library is imported here so that the handler sees the same modules it would on AWS.
"""

import importlib
import importlib.util
import json
import math
import os
import resource
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The context object AWS's Python runtime passes to a handler."""

    def __init__(self, request: dict) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request["invoked_function_arn"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = request.get("client_context")
        self.tenant_id = None
        self._deadline_ms = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)


def _error(exc: BaseException, error_type: str | None = None, message: str | None = None) -> dict:
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


def _load_handler(spec: str) -> tuple[Any, dict | None]:
    """Import `module.function` the way the AWS runtime does, and map failures to its error types."""
    module_name, _, function_name = spec.rpartition(".")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return None, _error(exc, "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}")
    except ImportError as exc:
        return None, _error(exc, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
    except Exception as exc:  # raised by the module's own init code
        return None, _error(exc)
    handler = getattr(module, function_name, None)
    if handler is None:
        missing = AttributeError(function_name)
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return None, _error(missing, "Runtime.HandlerNotFound", message)
    return handler, None


def report_line(
    request_id: str, duration_ms: float, memory_mb: int, max_memory_used_mb: int, init_ms: float | None = None
) -> str:
    """The REPORT line Lambda writes after each invocation (Init Duration on an environment's first one); billing
    counts whole milliseconds, rounded up, at least one."""
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {max(math.ceil(duration_ms), 1)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_memory_used_mb} MB"
    )
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    return line


def _max_memory_used_mb() -> int:
    """This environment's peak resident memory (ru_maxrss is in KiB on Linux, bytes on macOS), rounded up."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return math.ceil(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10))


def _arm_lifeline() -> None:
    """Die with the local cloud, however it ends: lifeline.py, a sibling imported by path under a private name."""
    spec = importlib.util.spec_from_file_location(
        "_cd4ml_lifeline", os.path.join(os.path.dirname(__file__), "lifeline.py")
    )
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot load lifeline.py beside " + __file__)
    lifeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lifeline)
    lifeline.arm()


def main() -> None:
    _arm_lifeline()
    proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the handler's prints join the runtime's lines on the log pipe the parent reads
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8")
    sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8")
    sys.stdin = os.fdopen(0, "r")

    task_root = os.environ["LAMBDA_TASK_ROOT"]
    os.chdir(task_root)
    layer_paths = [p for p in os.environ.get("_CD4ML_LAYER_PATHS", "").split(os.pathsep) if p]
    sys.path[:0] = [task_root, *layer_paths]

    started = time.perf_counter()
    handler, init_error = _load_handler(os.environ["_HANDLER"])
    init_ms = (time.perf_counter() - started) * 1000
    if init_error:
        print(f"INIT_REPORT Init Duration: {init_ms:.2f} ms Phase: init Status: error")
        print(json.dumps(init_error))
    proto_out.write(json.dumps({"type": "ready", "init_ms": init_ms, "init_error": init_error}) + "\n")
    proto_out.flush()

    for served, line in enumerate(proto_in):
        request = json.loads(line)
        request_id = request["request_id"]
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        print(f"START RequestId: {request_id} Version: {os.environ.get('AWS_LAMBDA_FUNCTION_VERSION', '$LATEST')}")
        began = time.perf_counter()
        if init_error:
            response = {"type": "result", "ok": False, "error": dict(init_error, requestId=request_id)}
        else:
            try:
                result = handler(json.loads(request["payload"]), LambdaContext(request))
                try:
                    payload = json.dumps(result)
                    response = {"type": "result", "ok": True, "payload": payload}
                except (TypeError, ValueError) as exc:
                    response = {
                        "type": "result",
                        "ok": False,
                        "error": _error(exc, "Runtime.MarshalError", f"Unable to marshal response: {exc}"),
                    }
            except Exception as exc:
                error = _error(exc)
                error["requestId"] = request_id
                print(f"[ERROR] {error['errorType']}: {error['errorMessage']}")
                traceback.print_exception(exc)
                response = {"type": "result", "ok": False, "error": error}
        duration = (time.perf_counter() - began) * 1000
        print(f"END RequestId: {request_id}")
        memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        print(report_line(request_id, duration, memory, _max_memory_used_mb(), None if served else init_ms))
        sys.stdout.flush()
        sys.stderr.flush()
        proto_out.write(json.dumps(response) + "\n")
        proto_out.flush()


if __name__ == "__main__":
    main()
