"""Pick a ``tf.distribute`` strategy by name for the training scripts.

    strategy = get_strategy(args.strategy)
    with strategy.scope():
        model = build_model(cfg)
        model.compile(...)
    model.fit(ds.batch(global_batch_size(args.batch_size, strategy)), ...)

Variables created inside ``strategy.scope()`` are mirrored on every replica; Keras splits each
global batch across replicas, so the batch given to the dataset is the per-replica batch times
``num_replicas_in_sync`` (keeping the per-device workload, and so the learning-rate recipe, fixed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import tensorflow as tf


def _default() -> tf.distribute.Strategy:
    return tf.distribute.get_strategy()


def _mirrored() -> tf.distribute.Strategy:
    """All visible GPUs; without a GPU, every logical CPU (see :func:`split_logical_cpus`)."""
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    # NCCL (MirroredStrategy's usual all-reduce) is GPU-only; CPUs reduce through one device.
    return tf.distribute.MirroredStrategy(devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())


def parse_tf_config(raw: str | None = None) -> dict:
    """Parse and sanity-check ``TF_CONFIG`` (default: the environment variable).

    Expected shape: ``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker",
    "index": 0}}`` (a ``"chief"`` list is allowed too). Raises ``ValueError`` saying what is wrong,
    because MultiWorkerMirroredStrategy itself silently falls back to one local worker.
    """
    if raw is None:
        raw = os.environ.get("TF_CONFIG")
    example = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    if not raw:
        raise ValueError(f"strategy 'multiworker' needs the TF_CONFIG environment variable, e.g. TF_CONFIG='{example}'")
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}); expected e.g. {example}") from None
    cluster = cfg.get("cluster") if isinstance(cfg, dict) else None
    task = cfg.get("task") if isinstance(cfg, dict) else None
    if not isinstance(cluster, dict) or not (cluster.get("worker") or cluster.get("chief")):
        raise ValueError(f"TF_CONFIG needs a 'cluster' with a non-empty 'worker' (or 'chief') list; e.g. {example}")
    for role, addrs in cluster.items():
        if not isinstance(addrs, list) or not all(isinstance(a, str) and ":" in a for a in addrs):
            raise ValueError(f"TF_CONFIG cluster[{role!r}] must be a list of 'host:port' strings, got {addrs!r}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG needs a 'task' with 'type' and 'index'; e.g. {example}")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise ValueError(f"TF_CONFIG task type {kind!r} is not a role of the cluster {sorted(cluster)}")
    if not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ValueError(f"TF_CONFIG task index {index!r} out of range for {len(cluster[kind])} {kind}(s)")
    return cfg


class KerasMultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` accepts what Keras 3's ``fit`` gives it.

    Keras 3 (up to 3.15 at least, keras-team/keras#20585) calls ``strategy.reduce`` in two ways
    that only work with one worker: on the whole ``(x, y)`` batch (to learn shapes before the
    first step: "Attempt to convert a value (PerReplica ...) ... to a Tensor") and with ``axis=0``
    on scalar metrics ("Invalid reduction dimension 0 for input with 0 dimensions"). Here each
    leaf of a nested value is reduced on its own, and a scalar is reduced across replicas only,
    which is what Keras means by it. Nothing else changes.
    """

    def reduce(self, reduce_op, value, axis=None):
        def one(v):
            local = self.experimental_local_results(v)[0]  # a PerReplica has no shape of its own
            rank = getattr(getattr(local, "shape", None), "rank", None)
            return super(KerasMultiWorkerStrategy, self).reduce(reduce_op, v, None if rank == 0 else axis)

        return tf.nest.map_structure(one, value)


def _multiworker() -> tf.distribute.Strategy:
    parse_tf_config()
    # The strategy reads TF_CONFIG itself (TFConfigClusterResolver); the check above only makes a
    # missing or malformed value fail loudly instead of training alone on this host.
    return KerasMultiWorkerStrategy()


def worker_role(strategy: tf.distribute.Strategy) -> tuple[bool, int]:
    """``(is_chief, task index)`` of this process. Only a multi-worker strategy has non-chief
    workers: the chief is the ``chief`` task, or worker 0 when the cluster has no ``chief``
    (TensorFlow's convention). Single-process strategies answer ``(True, 0)``."""
    resolver = getattr(strategy, "cluster_resolver", None)
    kind = getattr(resolver, "task_type", None)
    if resolver is None or not kind:
        return True, 0
    index = int(resolver.task_id or 0)
    if kind == "chief":
        return True, index
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return kind == "worker" and index == 0 and not has_chief, index


_FACTORIES: dict[str, Callable[[], tf.distribute.Strategy]] = {
    "default": _default,
    "mirrored": _mirrored,
    "multiworker": _multiworker,
}

STRATEGIES: tuple[str, ...] = tuple(_FACTORIES)


def get_strategy(name: str) -> tf.distribute.Strategy:
    """Strategy for ``name`` in :data:`STRATEGIES`; unknown names raise ``KeyError``."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; choose one of {list(STRATEGIES)}") from None
    return factory()


def split_logical_cpus(n: int) -> None:
    """Split the host CPU into ``n`` logical devices so ``mirrored`` can run ``n`` replicas
    without a GPU (for tests and for checking a distributed recipe on a laptop).

    TensorFlow fixes its device list the first time it initialises the runtime (the first op,
    ``list_logical_devices``, building a model, ...), and after that the split cannot change.
    Call this at the top of a fresh process, before anything touches TensorFlow devices; calling
    it again with the same ``n`` is a no-op, with a different ``n`` after start-up a
    ``RuntimeError``. The logical devices share the same cores, so this adds no speed.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as e:
        raise RuntimeError(
            f"cannot split the CPU into {n} logical devices: TensorFlow has already initialised its devices "
            "(call split_logical_cpus before building models or running any op)"
        ) from e


def global_batch_size(per_replica: int, strategy: tf.distribute.Strategy) -> int:
    """Batch size to feed ``model.fit``: ``per_replica`` samples for each replica in sync."""
    if per_replica < 1:
        raise ValueError(f"per-replica batch size must be >= 1, got {per_replica}")
    return per_replica * strategy.num_replicas_in_sync
