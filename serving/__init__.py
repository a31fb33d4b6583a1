"""HTTP serving of every OCR task: ``create_app(models_dir)`` returns the Flask app."""

from serving.app import create_app

__all__ = ["create_app"]
