"""The inside of a local SageMaker container: runs a job's Python program or a batch transform in this process.

Run by path, not as part of the cd4ml package (`python sagemaker_container.py <mode> ...`), and imported by path by
the endpoint server; it uses only the standard library so that user code sees the modules it would see on AWS.

Modes:
- `python <python command line>`: runs a program as the framework image's Python would (`script.py args`,
  `-m module args`, `-c code args`). Training jobs in script mode and processing jobs whose entrypoint is
  `python`/`python3` run this way.
- `transform <config.json>`: runs a batch transform over the downloaded input files (see `run_transform`).

When `SAGEMAKER_BASE_DIR` is set, Python-level file access to `/opt/ml/...` (open, os, pathlib, shutil, glob...) is
redirected below that folder, so that code written for the container paths runs unchanged. Native code that opens
paths itself (a C library given a path string) and child processes are not redirected: pass them the paths from
`SM_*` variables or arguments, which already point at the job folder.

Inference handler (shared by batch transform and the endpoint server)
----------------------------------------------------------------------
`load_inference_handler(model_dir, code_dir, *, program=None, framework=None) -> InferenceHandler` follows the
SageMaker inference toolkits: it imports the user's module (`program`, else `$SAGEMAKER_PROGRAM`, else
`inference.py` when `code_dir` has one) from `code_dir` and calls its `model_fn(model_dir)` once. Then
`handler.predict(body: bytes, content_type: str, accept: str) -> tuple[bytes, str]` serves one request with the
module's `transform_fn(model, body, content_type, accept)` if it defines one, else
`output_fn(predict_fn(input_fn(body, content_type), model), accept)`. Each function may take a trailing `context`
argument (given None). Missing functions fall back to defaults:
- `model_fn`: loads `model.pkl`/`model.pickle` (pickle), `model.joblib` (joblib) or `model.json` from `model_dir`.
- `input_fn`: `application/json` -> json.loads, `application/jsonlines` -> list of objects, `text/csv` -> list of
  rows (numbers as float), `text/plain` -> str; others raise UnsupportedFormatError.
- `predict_fn`: `model.predict(data)`, else `model(data)`.
- `output_fn`: the same content types, encoded (objects with `tolist()` are converted first).
The body reaches `input_fn` as `str` for JSON, CSV and plain text with the scikit-learn, XGBoost and cd4ml images
(as their serving stacks do) and as `bytes` with PyTorch, TensorFlow and Hugging Face images (inference toolkit).
An `output_fn` may return the body alone (bytes or str; the content type is then `accept`) or `(body, type)`.
Errors: UnsupportedFormatError (a content type the defaults cannot read or write; its `status_code` is 415 or 406),
ModelLoadError (no model_fn and no model file the default loader reads); anything the user's functions raise
propagates unchanged.
"""

from __future__ import annotations

import builtins
import csv
import importlib.util
import inspect
import io
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

OPT_ML = "/opt/ml"
TEXT_TYPES = ("application/json", "text/csv", "text/plain", "application/jsonlines", "application/x-jsonlines")
# Images whose serving stack hands text bodies to input_fn as str (the sagemaker-containers Flask stack).
TEXT_BODY_FRAMEWORKS = ("sklearn", "xgboost", "python")


# ---- /opt/ml redirection -------------------------------------------------------------------------------
def opt_ml_path(path: Any, base: str) -> Any:
    """`path` with a leading /opt/ml replaced by `base`; anything else (file descriptors, other paths) unchanged."""
    if isinstance(path, int):
        return path
    try:
        text = os.fspath(path)
    except TypeError:
        return path
    if isinstance(text, str):
        if text == OPT_ML or text.startswith(OPT_ML + "/"):
            return base + text[len(OPT_ML) :]
    elif text == OPT_ML.encode() or text.startswith(OPT_ML.encode() + b"/"):
        return os.fsencode(base) + text[len(OPT_ML) :]
    return path


_ONE_PATH = (
    "stat",
    "lstat",
    "open",
    "listdir",
    "scandir",
    "mkdir",
    "remove",
    "unlink",
    "rmdir",
    "chdir",
    "access",
    "utime",
    "chmod",
    "readlink",
    "truncate",
)
_TWO_PATHS = ("rename", "replace", "symlink", "link")


def redirect_opt_ml(base: str) -> None:
    """Make Python-level file access to /opt/ml/... land in `base` (the job folder standing in for /opt/ml)."""
    if getattr(builtins.open, "_cd4ml_redirect", False):
        return

    def one(function: Callable[..., Any]) -> Callable[..., Any]:
        def redirected(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
            return function(opt_ml_path(path, base), *args, **kwargs)

        redirected.__name__ = getattr(function, "__name__", "redirected")
        redirected.__doc__ = function.__doc__
        return redirected

    def two(function: Callable[..., Any]) -> Callable[..., Any]:
        def redirected(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            return function(opt_ml_path(src, base), opt_ml_path(dst, base), *args, **kwargs)

        redirected.__name__ = getattr(function, "__name__", "redirected")
        redirected.__doc__ = function.__doc__
        return redirected

    original_open = builtins.open

    def open_redirected(file: Any, *args: Any, **kwargs: Any) -> Any:
        return original_open(opt_ml_path(file, base), *args, **kwargs)

    open_redirected._cd4ml_redirect = True  # type: ignore[attr-defined]
    builtins.open = open_redirected
    io.open = open_redirected
    for name in _ONE_PATH:
        if hasattr(os, name):
            setattr(os, name, one(getattr(os, name)))
    for name in _TWO_PATHS:
        if hasattr(os, name):
            setattr(os, name, two(getattr(os, name)))


# ---- running a program as the image's Python would -----------------------------------------------------
_FLAGS_WITH_VALUE = ("-W", "-X", "-Q")


def run_python(arguments: list[str]) -> None:
    """Run `python <arguments>` in this process: `[flags] script.py args`, `-m module args` or `-c code args`."""
    import runpy

    position = 0
    while position < len(arguments) and arguments[position].startswith("-") and arguments[position] not in ("-m", "-c"):
        flag = arguments[position]
        position += 2 if flag in _FLAGS_WITH_VALUE else 1
    rest = arguments[position:]
    if not rest:
        raise SystemExit("sagemaker_container: no program to run (an interactive interpreter cannot run in a job)")
    if rest[0] == "-m" and len(rest) > 1:
        sys.argv = [rest[1], *rest[2:]]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    elif rest[0] == "-c" and len(rest) > 1:
        sys.argv = ["-c", *rest[2:]]
        sys.path.insert(0, "")
        exec(compile(rest[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": builtins})
    else:
        script = os.path.abspath(rest[0])
        sys.argv = [rest[0], *rest[1:]]
        sys.path.insert(0, os.path.dirname(script))
        runpy.run_path(script, run_name="__main__")


# ---- inference handler ---------------------------------------------------------------------------------
class UnsupportedFormatError(ValueError):
    """A request or response content type that neither the user's functions nor the defaults handle."""

    def __init__(self, content_type: str, direction: str = "input") -> None:
        self.content_type = content_type
        # what a serving container answers: 415 for a body it cannot read, 406 for an Accept it cannot write
        self.status_code = 415 if direction == "input" else 406
        function = "input_fn" if direction == "input" else "output_fn"
        super().__init__(
            f"Content type {content_type!r} is not supported by the default {function}; define {function} in the "
            "inference script to handle it"
        )


class ModelLoadError(RuntimeError):
    """model_fn is missing and no model file the default loader reads is in the model folder."""


def _base_type(content_type: str) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def default_input_fn(body: bytes | str, content_type: str) -> Any:
    kind = _base_type(content_type)
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    if kind == "application/json":
        return json.loads(text)
    if kind in ("application/jsonlines", "application/x-jsonlines"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if kind == "text/csv":
        return [[_number(cell) for cell in row] for row in csv.reader(io.StringIO(text)) if row]
    if kind == "text/plain":
        return text
    raise UnsupportedFormatError(content_type, "input")


def default_predict_fn(data: Any, model: Any) -> Any:
    if hasattr(model, "predict"):
        return model.predict(data)
    if callable(model):
        return model(data)
    raise TypeError(f"the model ({type(model).__name__}) has no predict() and is not callable: define predict_fn")


def _plain(value: Any) -> Any:
    """numpy arrays and scalars (or anything with tolist/item) as plain Python values for encoding."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    kind = _base_type(accept) or "application/json"
    if hasattr(prediction, "tolist"):
        prediction = prediction.tolist()
    if kind == "application/json":
        return json.dumps(prediction, default=_plain).encode("utf-8"), accept or kind
    if kind in ("application/jsonlines", "application/x-jsonlines"):
        items = prediction if isinstance(prediction, list) else [prediction]
        return "".join(json.dumps(item, default=_plain) + "\n" for item in items).encode("utf-8"), accept
    if kind == "text/csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        rows = prediction if isinstance(prediction, list) else [prediction]
        for row in rows:
            writer.writerow(row if isinstance(row, (list, tuple)) else [row])
        return buffer.getvalue().encode("utf-8"), accept
    if kind == "text/plain":
        return str(prediction).encode("utf-8"), accept
    raise UnsupportedFormatError(accept, "output")


def default_model_fn(model_dir: str) -> Any:
    import pickle

    folder = Path(model_dir)
    for name in ("model.pkl", "model.pickle"):
        if (folder / name).is_file():
            with (folder / name).open("rb") as handle:
                return pickle.load(handle)
    if (folder / "model.joblib").is_file():
        import joblib

        return joblib.load(folder / "model.joblib")
    if (folder / "model.json").is_file():
        return json.loads((folder / "model.json").read_text(encoding="utf-8"))
    raise ModelLoadError(
        f"the inference script defines no model_fn and {model_dir} has no model.pkl, model.joblib or model.json "
        "for the default loader"
    )


def _call(function: Callable[..., Any], *args: Any) -> Any:
    """Call a user function that may or may not take the trailing `context` argument."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return function(*args)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    if variadic or len(positional) > len(args):
        return function(*args, None)
    return function(*args)


def _import_program(code_dir: Path, program: str) -> ModuleType:
    path = code_dir / program
    if not path.is_file():
        raise FileNotFoundError(f"inference script {program!r} not found in {code_dir}")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    name = Path(program).stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class InferenceHandler:
    """The user's inference functions around a loaded model; `predict` serves one request."""

    def __init__(self, model_dir: str, module: ModuleType | None, framework: str = "python") -> None:
        self.model_dir = model_dir
        self.module = module
        self.framework = framework
        model_fn = getattr(module, "model_fn", None)
        self.model = _call(model_fn, model_dir) if model_fn else default_model_fn(model_dir)

    def _user(self, name: str) -> Callable[..., Any] | None:
        function = getattr(self.module, name, None)
        return function if callable(function) else None

    def _body_for_input_fn(self, body: bytes, content_type: str) -> bytes | str:
        if self.framework in TEXT_BODY_FRAMEWORKS and _base_type(content_type) in TEXT_TYPES:
            return body.decode("utf-8")
        return body

    def predict(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        accept = accept or os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json")
        content_type = content_type or "application/json"
        transform_fn = self._user("transform_fn")
        if transform_fn:
            result = _call(transform_fn, self.model, self._body_for_input_fn(body, content_type), content_type, accept)
        else:
            input_fn = self._user("input_fn") or default_input_fn
            predict_fn = self._user("predict_fn") or default_predict_fn
            output_fn = self._user("output_fn")
            data = _call(input_fn, self._body_for_input_fn(body, content_type), content_type)
            prediction = _call(predict_fn, data, self.model)
            result = _call(output_fn, prediction, accept) if output_fn else default_output_fn(prediction, accept)
        return _response(result, accept)


def _response(result: Any, accept: str) -> tuple[bytes, str]:
    content_type = accept
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
        result, content_type = result
    if isinstance(result, str):
        return result.encode("utf-8"), content_type
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result), content_type
    return json.dumps(result, default=_plain).encode("utf-8"), content_type


def load_inference_handler(
    model_dir: str | os.PathLike[str],
    code_dir: str | os.PathLike[str] | None,
    *,
    program: str | None = None,
    framework: str | None = None,
) -> InferenceHandler:
    """Import the inference script from `code_dir` and load the model from `model_dir` (see the module docstring)."""
    program = program or os.environ.get("SAGEMAKER_PROGRAM") or None
    module: ModuleType | None = None
    if code_dir is not None:
        folder = Path(code_dir).resolve()
        if program is None and (folder / "inference.py").is_file():
            program = "inference.py"
        if program is not None:
            module = _import_program(folder, program)
    elif program is not None:
        raise FileNotFoundError(f"inference script {program!r} named but no code folder was given")
    return InferenceHandler(str(model_dir), module, framework or os.environ.get("_CD4ML_FRAMEWORK", "python"))


# ---- batch transform -----------------------------------------------------------------------------------
def split_records(data: bytes, split_type: str) -> list[bytes]:
    """The records of one input object: whole (SplitType None) or its non-empty lines (SplitType Line)."""
    if split_type == "Line":
        return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]
    return [data]


def batch_requests(records: list[bytes], strategy: str, max_payload: int) -> Iterator[bytes]:
    """Request bodies: one per record (SingleRecord) or as many lines as fit in MaxPayloadInMB (MultiRecord)."""
    if strategy != "MultiRecord":
        yield from records
        return
    batch: list[bytes] = []
    size = 0
    for record in records:
        if batch and size + len(record) + 1 > max_payload:
            yield b"\n".join(batch)
            batch, size = [], 0
        batch.append(record)
        size += len(record) + 1
    if batch:
        yield b"\n".join(batch)


def assemble(outputs: list[bytes], assemble_with: str) -> bytes:
    """The `.out` object: responses one per line (AssembleWith Line) or simply concatenated."""
    if assemble_with == "Line":
        return b"".join(output.rstrip(b"\n") + b"\n" for output in outputs)
    return b"".join(outputs)


# Bytes that make split_records drop or trim a line (a blank or whitespace-only line, a `\r\n` ending).
_LINE_SPECIAL = (b"\r", b" ", b"\t", b"\x0b", b"\x0c")


def request_bodies(data: bytes, split_type: str, strategy: str, max_payload: int) -> Iterator[bytes]:
    """The request bodies of one input object, exactly as `batch_requests(split_records(data, split_type), ...)`
    makes them. An input of plain `\n`-separated lines (no blank line, no whitespace: the feature job's CSV) is cut
    into MultiRecord requests at line ends found with `bytes.rfind`, without a bytes object for every line joined
    back again (a million lines cost about half a second that way); anything else takes the general path."""
    plain = (
        split_type == "Line"
        and strategy == "MultiRecord"
        and not data.startswith(b"\n")
        and b"\n\n" not in data
        and not any(special in data for special in _LINE_SPECIAL)
    )
    if not plain:
        yield from batch_requests(split_records(data, split_type), strategy, max_payload)
        return
    end = len(data) - 1 if data.endswith(b"\n") else len(data)  # where the last line ends, without its newline
    start = 0
    while start < end:
        # whole lines whose sizes, each plus one for its newline, add up to at most max_payload
        limit = start + max_payload - 1
        cut = end if limit >= end else data.rfind(b"\n", start, limit + 1)
        if cut <= start:  # one line longer than max_payload goes alone (the caller refuses it by its size)
            cut = data.find(b"\n", start, end)
            cut = end if cut == -1 else cut
        yield data[start:cut]
        start = cut + 1


class TransformError(Exception):
    """A record of an input object could not be transformed."""


def run_transform(config_path: Path) -> None:
    """Transform each input file of the job into its `.out` file, as a batch transform instance does."""
    import gzip

    config = json.loads(config_path.read_text(encoding="utf-8"))
    handler = load_inference_handler(
        config["model_dir"], config.get("code_dir"), program=config.get("program"), framework=config.get("framework")
    )
    print(f"model loaded from {config['model_dir']}", flush=True)
    for item in config["files"]:
        raw = Path(item["input"]).read_bytes()
        if config.get("compression") == "Gzip":
            raw = gzip.decompress(raw)
        outputs: list[bytes] = []
        strategy = config.get("batch_strategy") or "MultiRecord"
        bodies = request_bodies(raw, config.get("split_type") or "None", strategy, config["max_payload_bytes"])
        for number, body in enumerate(bodies, 1):
            if len(body) > config["max_payload_bytes"]:
                raise TransformError(
                    f"{item['name']}: request {number} has {len(body)} bytes, more than MaxPayloadInMB "
                    f"({config['max_payload_bytes'] // (1024 * 1024)} MB); split the input (SplitType Line)"
                )
            try:
                output, _ = handler.predict(body, config.get("content_type") or "", config.get("accept") or "")
            except Exception as exc:
                raise TransformError(f"{item['name']}: request {number} failed: {type(exc).__name__}: {exc}") from exc
            outputs.append(output)
        target = Path(item["output"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(assemble(outputs, config.get("assemble_with") or "None"))
        print(f"{item['name']}: {len(raw):,} bytes in {len(outputs)} requests -> {target.name}", flush=True)


def _print_user_traceback(exc: BaseException) -> None:
    """The traceback Python would print for the user's program alone, without this runner's frames."""
    here = os.path.abspath(__file__)
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(frame.filename) != here and not frame.filename.startswith("<frozen runpy>")
    ]
    text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
    sys.stderr.write("Traceback (most recent call last):\n" + text)
    sys.stderr.flush()


def _write_failure(message: str) -> None:
    base = os.environ.get("SAGEMAKER_BASE_DIR")
    if base:
        failure = Path(base) / "output" / "failure"
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(message[:1024], encoding="utf-8")


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


def main(argv: list[str]) -> None:
    _arm_lifeline()
    if len(argv) < 2 or argv[1] not in ("python", "transform"):
        raise SystemExit("usage: sagemaker_container.py python <python arguments> | transform <config.json>")
    base = os.environ.get("SAGEMAKER_BASE_DIR")
    if base:
        redirect_opt_ml(base)
    if argv[1] == "python":
        try:
            run_python(argv[2:])
        except SystemExit:
            raise
        except BaseException as exc:
            _print_user_traceback(exc)
            raise SystemExit(1) from None
        return
    try:
        run_transform(Path(argv[2]))
    except Exception as exc:
        traceback.print_exc()
        _write_failure(f"ClientError: {exc}" if isinstance(exc, TransformError) else f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main(sys.argv)
