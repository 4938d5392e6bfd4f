"""`dockyard predict`, `serve` and `export`: argument parsing and delegation only; each
handler takes the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import os
import sys

from dockyard.errors import DockyardError

DEFAULT_MODEL = "models/seed-0"


def _scorer(args: argparse.Namespace, eager: bool = True) -> object:
    """The model `--model` names (a folder, or NAME@vX.Y.Z / NAME@STAGE through the
    registry: the exact registered folder, fetched by DVC when the workspace lacks it)."""
    from dockyard.serve.scoring import Scorer

    folder, registered = args.model, None
    if _is_registry_spec(args.model):
        from dockyard.registry.resolve import materialize, resolve_spec

        resolved = resolve_spec(args.model)
        folder, registered = str(materialize(resolved, ".")), resolved
    scorer = Scorer(
        folder, runtime=args.runtime, onnx_file=args.onnx, threads=args.threads, eager=eager
    )
    if registered is not None:  # the version is the registry's, whatever the workspace holds
        scorer.version.update(
            registered=f"{registered.name}@{registered.version}",
            asked_for=args.model,
            git_commit=registered.info.commit,
        )
    return scorer


def _is_registry_spec(spec: str) -> bool:
    from pathlib import Path

    return ("@" in spec or "#" in spec) and not Path(spec).exists()


def _enter_root(args: argparse.Namespace, *paths: str) -> None:
    """Work in the project root (--root), with the files the user named kept as given:
    relative to where the command was run."""
    if os.path.realpath(args.root) == os.path.realpath(os.curdir):
        return  # already there: paths stay as given (and messages show them so)
    for name in paths:
        if getattr(args, name, None):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    if args.model and not _is_registry_spec(args.model) and os.path.exists(args.model):
        args.model = os.path.abspath(args.model)  # a folder named from here, not the root
    os.chdir(args.root)


def _predict(args: argparse.Namespace) -> int:
    from dockyard.serve.batch import predict_file, summary_line

    _enter_root(args, "input", "output", "onnx")
    scorer = _scorer(args, eager=False)  # a refused file is refused before torch loads
    result = predict_file(
        scorer, args.input, args.output, invalid=args.invalid, batch_rows=args.batch_rows
    )
    print(summary_line(result), file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dockyard.serve.app import create_app

    if args.max_body_bytes < 1:
        raise DockyardError(
            f"--max-body-bytes must be at least 1, got {args.max_body_bytes}.", kind="out-of-range"
        )
    from dockyard.serve.listen import listen_socket

    _enter_root(args, "onnx")
    sock = listen_socket(args.host, args.port)  # before the model loads: a busy port fails fast
    with sock:
        scorer = _scorer(args)
        app = create_app(scorer, max_body_bytes=args.max_body_bytes)
        port = sock.getsockname()[1]
        print(
            f"serving {args.model} ({scorer.task}, runtime {scorer.runtime.name}) on "
            f"http://{args.host}:{port} (POST /predict, GET /health, /version, /docs)",
            file=sys.stderr,
            flush=True,
        )
        config = uvicorn.Config(
            app, log_level="warning", access_log=args.access_log, server_header=False
        )
        uvicorn.Server(config).run(sockets=[sock])  # the socket bound above: no second bind
    return 0


def _export(args: argparse.Namespace) -> int:
    from dockyard.models.onnx import export_onnx

    _enter_root(args, "output")
    if _is_registry_spec(args.model):
        from dockyard.registry.resolve import resolve_model

        args.model = str(resolve_model(args.model))
    path = export_onnx(args.model, args.output)
    print(
        f"Wrote {path} (from {args.model}; the transform stays in "
        f"{args.model}/transform.json). Use it with --runtime onnx."
    )
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 0 to 65535, got {text!r}")
    return value


def _model_options(parser: argparse.ArgumentParser, runtime: bool = True) -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="the model: a folder written by the train stage, or a registered version "
        f"(NAME@vX.Y.Z, NAME@STAGE such as model@prod; default: {DEFAULT_MODEL})",
    )
    if runtime:
        parser.add_argument(
            "--runtime",
            choices=("torch", "onnx"),
            default="torch",
            help="run the network with PyTorch (default) or with ONNX Runtime from the file "
            "`dockyard export` writes (MODEL.onnx beside the folder)",
        )
        parser.add_argument("--onnx", help="the ONNX file for --runtime onnx (default: MODEL.onnx)")


def add_commands(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    predict = commands.add_parser(
        "predict",
        parents=[root],
        help="score a CSV or Parquet file with a trained model (streamed, any size)",
        description="Score every row of INPUT with a trained model and write the predictions "
        "to OUTPUT. Rows are checked against the schema the model was trained under (minus "
        "the target) and transformed with the model's own fitted transform. The input is "
        "streamed in chunks, so memory stays flat whatever its size; OUTPUT appears only "
        "when every row is done. Output columns: the key columns (or `row`, the 0-based row "
        "number), `prediction` in your own labels, `proba_<class>` per class (regression: the "
        "prediction in the target's units), and the target if INPUT has it. The model "
        "version (params hash, weights sha256, git commit) goes into the Parquet metadata, "
        "or OUTPUT.meta.json beside a CSV.",
        epilog="examples:\n"
        "  dockyard predict data/incoming/batch.csv --output data/predictions/batch.parquet\n"
        "  dockyard predict new.parquet -o scored.csv --invalid skip   # rejected rows go to\n"
        "                                                             # scored.rejected.csv\n"
        "  dockyard predict new.parquet -o scored.parquet --runtime onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("input", metavar="INPUT", help="the rows to score (.csv or .parquet)")
    predict.add_argument(
        "--output", "-o", required=True, help="where to write predictions (.parquet or .csv)"
    )
    _model_options(predict)
    predict.add_argument(
        "--invalid",
        choices=("refuse", "skip"),
        default="refuse",
        help="rows that break the schema: refuse the whole file and write nothing (default), "
        "or skip them: score the rest and write the rejected rows with their reasons to "
        "OUTPUT with .rejected before the suffix",
    )
    predict.add_argument(
        "--batch-rows",
        type=_positive,
        default=65536,
        help="rows per chunk (default 65536): memory grows with it, not with the file",
    )
    predict.add_argument(
        "--threads", type=_positive, help="CPU threads for the network (default: all cores)"
    )
    predict.set_defaults(handler=_predict)

    serve = commands.add_parser(
        "serve",
        parents=[root],
        help="serve a trained model over HTTP (FastAPI): POST /predict, /health, /version",
        description="Serve a trained model over HTTP. POST /predict takes JSON records "
        '([{"col": value}, ...] or {"records": [...]}), MLflow\'s dataframe_split and '
        "dataframe_records shapes, CSV (text/csv) or Parquet "
        "(application/vnd.apache.parquet) bodies, checks each row against the training "
        "schema and transforms it exactly as `dockyard predict` does. Invalid rows get 422 "
        "with the column and reason (or ?invalid=skip scores the rest), an unreadable body "
        "400, an oversized one 413. GET /health, GET /version (the model card and its test "
        "metrics), GET /docs (OpenAPI). The model is loaded once at start-up.",
        epilog="examples:\n"
        "  dockyard serve                                  # models/seed-0 on 127.0.0.1:8000\n"
        "  dockyard serve --runtime onnx --port 9000\n"
        "  curl -s localhost:8000/predict -H 'Content-Type: application/json' \\\n"
        '       -d \'[{"age": 42, "income": 51.5, ...}]\'\n'
        "  curl -s localhost:8000/predict -H 'Content-Type: text/csv' --data-binary @rows.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _model_options(serve)
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for all)",
    )
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=64 * 1024 * 1024,
        help="largest request body accepted, checked while reading (default 64 MiB); "
        "larger bodies get 413",
    )
    serve.add_argument(
        "--threads",
        type=_positive,
        default=1,
        help="CPU threads per network call (default 1: requests are small, and one thread "
        "avoids contention between concurrent requests)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(handler=_serve)

    export = commands.add_parser(
        "export",
        parents=[root],
        help="export a trained network to ONNX (MODEL.onnx beside the model folder)",
        description="Export a trained network to ONNX. The file goes beside the model folder "
        "(models/seed-0 -> models/seed-0.onnx), not into it: the folder is the train stage's "
        "DVC output and a new file there would change its hash. The graph takes the "
        "transformed float32 features; the transform stays in the folder's transform.json, "
        "which `dockyard predict/serve --runtime onnx` apply first.",
        epilog="example:\n  dockyard export --format onnx\n"
        "  dockyard predict new.csv -o scored.parquet --runtime onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _model_options(export, runtime=False)
    export.add_argument("--format", required=True, choices=("onnx",), help="the export format")
    export.add_argument("--output", "-o", help="the file to write (default: MODEL.onnx)")
    export.set_defaults(handler=_export)
