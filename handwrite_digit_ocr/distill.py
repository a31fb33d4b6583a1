"""Knowledge distillation: one student network trained on a teacher's (an ensemble's) soft targets.

    python -m handwrite_digit_ocr.distill --teacher models/digit.keras --student bn_cnn \\
        --dataset mnist+mnist-photo-train --data-dir ../shared/data --epochs 30

Every training batch is augmented (``--augment``, as in ``train``), the teacher reads the
augmented images, and the student learns the mixture ``alpha * teacher + (1 - alpha) * label``
with cross-entropy, i.e. ``alpha`` times the cross-entropy to the teacher plus ``1 - alpha`` times
the usual loss (Hinton et al., 2015, at temperature 1). The teacher sees exactly the distorted
image the student sees, so on a digit the augmentation made ambiguous (a rotated 6, a broken 4)
the student learns the teacher's doubt instead of a hard label. ``--temperature T > 1`` softens
the teacher's probabilities (``p ** (1/T)``, renormalised) before mixing, spreading more of its
mass over the classes it finds similar.

Validation is on the true labels of the validation split only, so the best checkpoint and the
reported score never look at the test set. The run folder, resume and curves are the shared
driver's (:mod:`ocr_common.training`); the student is saved as an ordinary model of its
architecture, served and evaluated like any other.
"""

from __future__ import annotations

import argparse

from handwrite_digit_ocr.config import CharConfig


def build_parser() -> argparse.ArgumentParser:
    from handwrite_digit_ocr.model import ARCHS
    from handwrite_digit_ocr.train import add_data_args
    from ocr_common.training import add_training_args

    ap = argparse.ArgumentParser(prog="python -m handwrite_digit_ocr.distill", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("options (defaults in brackets)")
    d.add_argument("--teacher", required=True, help="teacher .keras (e.g. models/digit.keras, an ensemble)")
    d.add_argument("--student", default="bn_cnn", choices=sorted(ARCHS), help="student architecture [bn_cnn]")
    d.add_argument("--width", type=int, default=32, help="student base filters (vgg / rcnn / bn_cnn) [32]")
    d.add_argument("--alpha", type=float, default=0.7, help="weight of the teacher in the target, 0..1 [0.7]")
    d.add_argument("--temperature", type=float, default=1.0, help="soften the teacher's probabilities [1]")
    add_data_args(d)
    add_training_args(d, epochs=30, batch_size=128, optimizer="adam", lr=1e-3, lr_schedule="cosine")
    return ap


def soften(probs, temperature: float):
    """``probs ** (1 / T)`` renormalised over the last axis (Keras ops; T = 1 returns ``probs``)."""
    from keras import ops

    if temperature == 1.0:
        return probs
    p = ops.power(ops.clip(probs, 1e-8, 1.0), 1.0 / temperature)
    return p / ops.sum(p, axis=-1, keepdims=True)


def distill_targets(teacher_probs, labels, num_classes: int, alpha: float, temperature: float = 1.0):
    """The student's target: ``alpha * soften(teacher) + (1 - alpha) * one_hot(labels)``."""
    from keras import ops

    hard = ops.one_hot(ops.cast(labels, "int32"), num_classes)
    return alpha * soften(teacher_probs, temperature) + (1.0 - alpha) * hard


def make_distill_dataset(x, y, teacher, batch_size: int, aug, alpha: float, temperature: float, seed: int = 0):
    """``tf.data`` batches of (augmented image, target mixed from the teacher's reading of it)."""
    import tensorflow as tf

    from handwrite_digit_ocr.data import make_dataset

    n_classes = int(teacher.output_shape[-1])
    ds = make_dataset(x, y, batch_size, training=True, aug=aug, seed=seed)
    return ds.map(lambda a, b: (a, distill_targets(teacher(a, training=False), b, n_classes, alpha, temperature)),
                  num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def make_val_dataset(x, y, num_classes: int, batch_size: int):
    """Validation batches with one-hot true labels (the loss is categorical cross-entropy)."""
    import tensorflow as tf

    from handwrite_digit_ocr.data import make_dataset

    return make_dataset(x, y, batch_size, training=False).map(
        lambda a, b: (a, tf.one_hot(tf.cast(b, tf.int32), num_classes)))


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    import keras

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("distill runs the teacher inside the tf.data pipeline: it needs KERAS_BACKEND=tensorflow")
    if not 0.0 <= args.alpha <= 1.0 or args.temperature <= 0:
        raise SystemExit("--alpha must be in [0, 1] and --temperature > 0")

    from handwrite_digit_ocr.data import AugmentConfig, check_labels, load_dataset
    from handwrite_digit_ocr.model import build_model
    from handwrite_digit_ocr.predict import config_path_for
    from handwrite_digit_ocr.train import task_of
    from ocr_common.config import load_config
    from ocr_common.export import load_keras_model
    from ocr_common.training import TrainingRun, make_optimizer

    task = task_of(args.dataset)
    run = TrainingRun.start(args, "handwrite_digit_ocr.distill", f"runs/{task}-distill-{args.student}", argv)
    teacher_cfg = load_config(CharConfig, config_path_for(args.teacher))
    teacher = load_keras_model(args.teacher)
    teacher.trainable = False
    data = load_dataset(args.dataset, args.data_dir)
    check_labels(data, teacher_cfg.labels, args.dataset)
    x_tr, y_tr = data.x_train, data.y_train
    if args.limit:
        x_tr, y_tr = x_tr[: args.limit], y_tr[: args.limit]
    print(data.summary(), flush=True)

    cfg = CharConfig(arch=args.student, labels=data.labels, width=args.width, task=teacher_cfg.task)
    with run.scope():
        model = build_model(cfg)
        model.compile(optimizer=make_optimizer(args.optimizer, args.lr), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    run.save_config(cfg)
    train_ds = make_distill_dataset(x_tr, y_tr, teacher, run.batch, AugmentConfig.preset(args.augment), args.alpha,
                                    args.temperature, seed=args.seed)
    val_ds = make_val_dataset(data.x_val, data.y_val, cfg.num_classes, run.batch)
    return run.fit(model, train_ds, val_ds, args, n_train=len(x_tr),
                   title=f"{args.student} distilled from {args.teacher}",
                   summary={"model": args.student, "dataset": args.dataset, "teacher": str(args.teacher),
                            "alpha": args.alpha, "temperature": args.temperature})


if __name__ == "__main__":
    main()
