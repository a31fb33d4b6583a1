"""The server's HTTP stack with no model: the baseline that shows what serving costs by itself.

    python -m benchmarks.stack_server --port 8091 [--models-dir models] [--threads 8]

Everything ``server.py`` runs for a request runs here too (waitress, Flask routing, the upload
checks, image decoding with its pixel limits, the JSON answer of the same shape and size), except
the predictor: each task's predictor is replaced by one that answers a constant prediction with
a full top-5 list, without preprocessing or a model. ``bench_inference`` drives this and the
real server with the same clients in one run, so the difference between the two is the
predictor's share of a request, whatever the machine.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from handwrite_digit_ocr.predict import CharPrediction


class ConstantPredictor:
    """Answers every image with the same prediction; its cost is the JSON only."""

    def __init__(self, labels: str):
        top = [{"label": c, "p": round(0.9 / (i + 1), 6)} for i, c in enumerate(labels[:5])]
        self.answer = CharPrediction(label=top[0]["label"], confidence=top[0]["p"], top=top)

    def predict(self, images, **options) -> list[CharPrediction]:
        return [self.answer for _ in images]


def _constant_loader(labels: str):
    def load(model_path: Path, config_path: Path | None, **options) -> ConstantPredictor:
        return ConstantPredictor(labels)

    return load


STACK_LOADERS = {"digit": _constant_loader("0123456789"), "letter": _constant_loader("abcdefghijklmnopqrstuvwxyz")}


def create_stack_app(models_dir: str | Path = "models"):
    """``serving.create_app`` on the real manifest (weights verified as usual) with constant predictors."""
    from serving import create_app
    from serving.registry import ModelRegistry

    return create_app(models_dir, registry=ModelRegistry(models_dir, loaders=STACK_LOADERS))


def main(argv: list[str] | None = None) -> int:
    from server import build_server

    ap = argparse.ArgumentParser(prog="python -m benchmarks.stack_server", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8091)
    ap.add_argument("--models-dir", default="models")
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    build_server(create_stack_app(args.models_dir), args.host, args.port, args.threads).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
