"""The HTTP face of scoring: a FastAPI app over one `Scorer`, loaded once at start-up.

POST /predict takes JSON records, MLflow's dataframe shapes, CSV or Parquet, checks and
transforms them exactly as batch prediction does, and answers JSON. Mistakes in a request
get a 4xx with the reason in JSON (400 unreadable body, 413 too large, 422 rows or columns
that break the schema), never a stack trace. Bodies are read with the size limit enforced
while reading. Small requests are scored on the event loop (a thread hop would cost more
than the work); large ones in a worker thread, which is safe: the network and the transform
hold no state that a request changes.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dockyard.data.fastcheck import ColumnsMismatch, describe, summarise
from dockyard.errors import DataError
from dockyard.serve.requests import SHAPES, BadRequest, parse_body
from dockyard.serve.scoring import Scorer
from dockyard.serve.version import model_metrics

DEFAULT_MAX_BODY = 64 * 1024 * 1024
# More rows than this are scored in a worker thread, so the event loop keeps answering.
THREAD_ROWS = 2048
log = logging.getLogger("dockyard.serve")

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": f"The rows to score: {SHAPES}.",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "object"}},
                        {"type": "object", "properties": {"records": {"type": "array"}}},
                        {
                            "type": "object",
                            "properties": {"dataframe_records": {"type": "array"}},
                        },
                        {
                            "type": "object",
                            "properties": {
                                "dataframe_split": {
                                    "type": "object",
                                    "properties": {
                                        "columns": {"type": "array", "items": {"type": "string"}},
                                        "data": {"type": "array", "items": {"type": "array"}},
                                    },
                                }
                            },
                        },
                    ]
                }
            },
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("detail"))
        self.status, self.body = status, body


def create_app(scorer: Scorer, *, max_body_bytes: int = DEFAULT_MAX_BODY) -> FastAPI:
    version = version_info(scorer)
    scorer.schema.where = "The request"
    app = FastAPI(
        title="dockyard model server",
        description=f"Scores rows with {scorer.model_dir} ({scorer.task}, runtime "
        f"{scorer.runtime.name}). Every row is checked against the training schema and "
        "transformed with the model's own fitted transform.",
        version=str(version.get("params_hash") or "unknown"),
    )

    def answer(status: int, body: dict[str, Any]) -> Response:
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    @app.get("/health", summary="Liveness: the model is loaded")
    async def health() -> Response:
        return answer(200, {"status": "ok", "model": str(scorer.model_dir)})

    @app.get("/version", summary="The model card: params hash, data hashes, metrics, classes")
    async def version_route() -> Response:
        return answer(200, version)

    @app.post(
        "/predict",
        summary="Score rows",
        openapi_extra=_BODY_DOC,
        responses={
            400: {"description": "The body is not a readable table"},
            413: {"description": "The body is larger than --max-body-bytes"},
            422: {"description": "Rows or columns break the model's schema"},
        },
    )
    async def predict(request: Request, invalid: str = "refuse") -> Response:
        if invalid not in ("refuse", "skip"):
            return answer(422, {"detail": "invalid must be 'refuse' or 'skip'."})
        try:
            body = await read_body(request, max_body_bytes)
            columns, rows = parse_body(body, request.headers.get("content-type"))
            work = (scorer, columns, rows, invalid)
            result = (
                score_request(*work)
                if rows <= THREAD_ROWS
                else (await run_in_threadpool(score_request, *work))
            )
        except _Refused as refused:
            return answer(refused.status, refused.body)
        except BadRequest as error:
            return answer(400, {"detail": str(error)})
        except ColumnsMismatch as error:
            detail = {"detail": str(error), "missing": error.missing}
            return answer(422, {**detail, "unexpected": error.unexpected})
        except DataError as error:
            return answer(422, {"detail": str(error)})
        return Response(result, media_type="application/json")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("error while serving %s", request.url.path)
        return answer(500, {"detail": f"internal error ({type(error).__name__}); see the log."})

    return app


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _Refused(413, _too_large(int(declared), limit))
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise _Refused(413, _too_large(size, limit))
        parts.append(part)
    return b"".join(parts)


def _too_large(size: int, limit: int) -> dict[str, Any]:
    return {
        "detail": f"The body has {size:,}+ bytes, over the server's limit of {limit:,} "
        "(dockyard serve --max-body-bytes). Split the rows over several requests, or score "
        "large files with `dockyard predict`."
    }


def score_request(scorer: Scorer, columns: dict[str, Any], rows: int, invalid: str) -> bytes:
    """Check, transform and score one request; the JSON answer as bytes."""
    checked = scorer.schema.check(columns, rows)
    carried = {scorer.target: columns[scorer.target]} if scorer.target in columns else None
    result = scorer.score(checked, carried)
    body: dict[str, Any] = {}
    if len(result.bad):
        if invalid == "refuse":
            summary = summarise(result.failures)
            raise _Refused(
                422,
                {
                    "detail": describe(
                        summary,
                        "The request",
                        scorer.schema_source,
                        len(result.bad),
                        hint="score the others with POST /predict?invalid=skip",
                    ),
                    "rows_refused": int(len(result.bad)),
                    "failures": summary,
                },
            )
        reasons: dict[int, list[str]] = {}
        for failure in result.failures:
            for row, value in zip(failure.rows.tolist(), failure.values, strict=True):
                reasons.setdefault(row, []).append(
                    f"{failure.column}: {failure.reason} ({value!r})"
                )
        body["rejected"] = [{"row": r, "reasons": "; ".join(reasons[r])} for r in sorted(reasons)]
    names = list(result.columns)
    values = [_plain_list(v) for v in result.columns.values()]
    body["predictions"] = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
    return orjson.dumps(body)


def _plain_list(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray):
        return values.tolist()  # masked arrays give None where missing
    return list(values)


def version_info(scorer: Scorer) -> dict[str, Any]:
    """What /version answers: the model's identity, its card's facts and its test metrics."""
    card = scorer.card
    provenance = card.get("provenance") or {}
    info = {
        **scorer.version,
        "net": card.get("net"),
        "features": len(card.get("features") or []),
        "keys": scorer.keys,
        "data": provenance.get("data"),
        "libraries": provenance.get("libraries"),
        "training": card.get("training"),
        "schema_from": scorer.schema_source,
        "metrics": model_metrics(
            scorer.model_dir, card.get("seed"), scorer.version.get("git_commit")
        ),
    }
    return info
