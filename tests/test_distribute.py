"""Strategy selection and a two-replica MirroredStrategy round trip on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ocr_common.distribute as dist

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: the logical-CPU split must happen before TensorFlow initialises
# its devices, and by now the test session has usually initialised them.
MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from ocr_common.distribute import split_logical_cpus, get_strategy, global_batch_size
    split_logical_cpus(2)
    split_logical_cpus(2)  # idempotent
    import keras
    from handwrite_digit_ocr.config import CharConfig
    from handwrite_digit_ocr.model import build_model

    keras.utils.set_random_seed(0)
    strategy = get_strategy("mirrored")
    with strategy.scope():
        model = build_model(CharConfig(arch="simple_cnn"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    batch = global_batch_size(4, strategy)
    rng = np.random.default_rng(0)
    x = rng.random((2 * batch, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, size=(2 * batch,))
    hist = model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    probe = rng.random((6, 28, 28, 1), dtype=np.float32)
    mirrored = model.predict(probe, verbose=0)
    path = sys.argv[1]
    model.save(path)

    restored = keras.saving.load_model(path)
    plain = restored.predict(probe, verbose=0)
    try:
        split_logical_cpus(3)  # too late: devices are initialised
        late_split = "no error"
    except RuntimeError as e:
        late_split = str(e)
    print(json.dumps({
        "late_split": late_split,
        "replicas": strategy.num_replicas_in_sync,
        "batch": batch,
        "steps": int(model.optimizer.iterations.numpy()),
        "loss_finite": bool(np.isfinite(hist.history["loss"][-1])),
        "diff": float(np.max(np.abs(mirrored - plain))),
    }))
    """
)


def test_mirrored_two_logical_cpus_round_trip(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path / "mirrored.keras")],
        check=False,  # the return code is asserted below, with stderr in the message
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["batch"] == 8
    assert result["steps"] == 2
    assert result["loss_finite"]
    assert result["diff"] < 1e-5
    assert "already initialised" in result["late_split"]


def test_default_strategy_is_single_replica():
    strategy = dist.get_strategy("default")
    assert strategy.num_replicas_in_sync == 1
    assert dist.global_batch_size(32, strategy) == 32
    with pytest.raises(ValueError):
        dist.global_batch_size(0, strategy)


def test_unknown_strategy_lists_choices():
    with pytest.raises(KeyError) as info:
        dist.get_strategy("tpu")
    for name in dist.STRATEGIES:
        assert name in str(info.value)


def test_multiworker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        dist.get_strategy("multiworker")


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{not json", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "cluster"),
        ('{"cluster": {"worker": ["localhost:1"]}}', "task"),
        ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "ps", "index": 0}}', "not a role"),
        ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 1}}', "out of range"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
    ],
)
def test_invalid_tf_config_is_rejected(raw, message):
    with pytest.raises(ValueError, match=message):
        dist.parse_tf_config(raw)


def test_valid_tf_config_parses():
    raw = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    assert dist.parse_tf_config(raw)["task"]["index"] == 1
