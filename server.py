"""Serve every OCR task over HTTP with waitress.

``python server.py --port 8080`` then open http://127.0.0.1:8080/ or POST images to
``/predict/<task>`` (see DESIGN.md for the contract).
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

# Before TensorFlow is imported (by the model loaders): its C++ start-up chatter hides our log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger("server")


def main(argv: list[str] | None = None) -> int:
    from ocr_common.runtime import BACKENDS, DEFAULT_BATCHING  # no TensorFlow import: that waits for the loaders

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    ap.add_argument("--port", type=int, default=8080, help="TCP port")
    ap.add_argument("--models-dir", default="models", help="folder holding manifest.json and the weights")
    ap.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    ap.add_argument("--backend", choices=BACKENDS, default=None,
                    help="inference engine; None = the runtime's default (ocr_common.runtime.DEFAULT_BACKEND); "
                         "onnx falls back to tf without onnxruntime")
    ap.add_argument("--batching", choices=("on", "off"), default="on" if DEFAULT_BATCHING else "off",
                    help="micro-batch concurrent requests into one model call")
    ap.add_argument("--batch-wait-ms", type=float, default=0.0,
                    help="with --batching on: how long a batch waits for company; 0 = greedy (never waits, "
                         "batches whatever queued while the model ran)")
    args = ap.parse_args(argv)
    if args.batch_wait_ms < 0:
        ap.error("--batch-wait-ms must be >= 0")

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from serving import create_app

    app = create_app(args.models_dir, backend=args.backend, batching=args.batching == "on",
                     batch_wait_ms=args.batch_wait_ms)
    registry = app.extensions["ocr_registry"]
    for task, state in registry.health().items():
        if state["ready"]:
            log.info("task %-9s ready", task)
        else:
            log.warning("task %-9s unavailable: %s", task, state["reason"])
    server = build_server(app, args.host, args.port, args.threads)
    # A host name that resolves to several addresses gives a multi-socket server with no single port.
    log.info("listening on http://%s:%s/", args.host, getattr(server, "effective_port", args.port))
    server.run()
    return 0


def build_server(app: Flask, host: str = "127.0.0.1", port: int = 8080, threads: int = 8):
    """The waitress server ``main`` runs (port 0 picks a free one); tests serve through it too.

    Bodies over the app's limit get its JSON 413; the errors waitress answers itself, before the
    app sees the request (a body far over the limit, huge headers, a malformed request), are the
    same JSON: see serving.wsgi_server.
    """
    from serving.wsgi_server import create_server

    return create_server(app, host=host, port=port, threads=threads)


if __name__ == "__main__":
    raise SystemExit(main())
