"""SageMaker serving container, locally: an HTTP server with /ping and /invocations around the model's inference code.

Run by path (`python sagemaker_serving.py`) by sagemaker/endpoints/fleet.py, one process per endpoint variant. It
follows the SageMaker hosting contract: the model archive is extracted in `SM_MODEL_DIR` (/opt/ml/model on AWS), the
inference script `SAGEMAKER_PROGRAM` (default `inference.py`) lives in `SAGEMAKER_SUBMIT_DIRECTORY` (default
`<model dir>/code`), `/ping` answers 200 once the model is loaded and `/invocations` runs the script's
`model_fn`/`input_fn`/`predict_fn`/`output_fn` (or `transform_fn`). Locally it listens on a free 127.0.0.1 port
instead of 8080, and prints `{"port": N}` on its original stdout once it listens; everything else goes to the
log file (the endpoint's CloudWatch log stream on AWS), which is also stderr.

Only the standard library is imported here, so that the model code sees the modules it would in its container.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

MODEL_LATENCY_HEADER = "X-Cd4ml-Model-Latency-Us"  # how the model's own time reaches the ModelLatency metric
SHARED_LOADER = Path(__file__).with_name("sagemaker_container.py")
LIFELINE = Path(__file__).with_name("lifeline.py")


class InferenceHandler(Protocol):
    def predict(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]: ...


def load_handler(model_dir: str, code_dir: str | None) -> InferenceHandler:
    """The model, loaded by sagemaker_container.py (imported by path: the cd4ml package is not on this path), the
    same loader batch transform uses, so that an endpoint and a transform job run a model alike."""
    spec = importlib.util.spec_from_file_location("_cd4ml_sagemaker_container", SHARED_LOADER)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the inference loader {SHARED_LOADER}")
    container = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(container)
    base = os.environ.get("SAGEMAKER_BASE_DIR")
    if base:
        container.redirect_opt_ml(base)  # model code that opens /opt/ml/model/... finds the extracted archive
    handler: InferenceHandler = container.load_inference_handler(model_dir, code_dir)
    return handler


class _State:
    def __init__(self) -> None:
        self.handler: InferenceHandler | None = None
        self.error: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the local cloud reuses its connections
    # headers and body leave in two writes; with Nagle on, the client's delayed ACK costs 40 ms per request
    disable_nagle_algorithm = True
    server: _Server

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/ping":
            if state.handler is not None:
                self._send(200, b"", "text/plain")
            elif state.error is not None:
                self._send(500, json.dumps({"error": state.error}).encode("utf-8"), "application/json")
            else:
                self._send(503, b"loading the model", "text/plain")
        elif self.path == "/execution-parameters":  # asked by batch transform
            params = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
            self._send(200, json.dumps(params).encode("utf-8"), "application/json")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path != "/invocations":
            self._send(404, b"not found", "text/plain")
            return
        handler = self.server.state.handler
        if handler is None:
            self._send(503, b"the model is not loaded", "text/plain")
            return
        content_type = self.headers.get("Content-Type") or "application/json"
        accept = self.headers.get("Accept") or "application/json"
        started = time.perf_counter()
        try:
            payload, returned_type = handler.predict(body, content_type, accept)
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            status = status if isinstance(status, int) and 400 <= status < 600 else 500
            traceback.print_exc()
            message = f"{type(exc).__name__}: {exc}".encode()
            latency = {MODEL_LATENCY_HEADER: str(int((time.perf_counter() - started) * 1e6))}
            self._send(status, message, "text/plain", latency)
            return
        self._send(200, payload, returned_type, {MODEL_LATENCY_HEADER: str(int((time.perf_counter() - started) * 1e6))})

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: one line per request would dominate the log and the latency."""


def _arm_lifeline() -> None:
    """Die with the local cloud, however it ends (lifeline.py, imported by path under a private name)."""
    spec = importlib.util.spec_from_file_location("_cd4ml_lifeline", LIFELINE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {LIFELINE}")
    lifeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lifeline)
    lifeline.arm()


def main() -> None:
    _arm_lifeline()
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the parent made stderr the log file; the model's prints go there too
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8")
    model_dir = os.environ["SM_MODEL_DIR"]
    code_dir = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY") or None
    os.chdir(code_dir if code_dir and os.path.isdir(code_dir) else model_dir)

    server = _Server(("127.0.0.1", 0), _Handler)  # a free port: several endpoints share this machine
    server.state = _State()
    threading.Thread(target=server.serve_forever, name="serving", daemon=True).start()
    proto_out.write(json.dumps({"port": server.server_address[1]}) + "\n")
    proto_out.close()

    print(f"loading the model from {model_dir} (code: {code_dir})", file=sys.stderr)
    started = time.perf_counter()
    try:
        server.state.handler = load_handler(model_dir, code_dir)
    except BaseException as exc:
        traceback.print_exc()
        server.state.error = f"{type(exc).__name__}: {exc}"
    else:
        loader = type(server.state.handler).__module__
        print(f"model loaded in {(time.perf_counter() - started) * 1000:.1f} ms ({loader})", file=sys.stderr)
    threading.Event().wait()  # serve until the local cloud stops the process


if __name__ == "__main__":
    main()
