"""A folder that lets a GPU machine without the Debian fonts, ``jieba``, ``wordfreq`` or
TensorFlow train the Chinese recogniser on lines rendered while it trains.

    python -m chinese_ocr.gpu_bundle --out gpu        # here: fonts, word lists, held-out sets, wheels
    bash gpu/run.sh                                   # there, from the repository root

The folder holds (about 40 MB for GB2312-1, 55 MB for GB2312):

* ``faces.tar.xz``: every training face of :mod:`chinese_ocr.fonts` cut to the characters the
  recogniser writes (``--charset``: by default the shipped recogniser's, read from
  ``models/chinese.json``, so a fine-tune keeps every class it has; and ASCII; fontTools' subsetter,
  hinting dropped), one file a face (``<name>.font``), found through ``ZH_FACE_DIR``. The Noto
  CJK collections alone are over 400 MB; the GB2312-1 subsets xz-packed are about 23 MB.
* ``word-lists.pkl.gz``: the text sampler's jieba and wordfreq word lists
  (:func:`chinese_ocr.corpus.save_word_lists`), found through ``ZH_WORD_LISTS``;
* ``synth/``: the held-out and evaluation shards and the plate split, as rendered here, so the
  epoch-end figures are on the same lines as on this machine;
* ``plates/``: the real plate photos (``--plates``, 3 MB), which training draws afresh every time
  (:mod:`chinese_ocr.augment`); without them it trains on the plates' shards as they are;
* ``whl/``: Keras and the two packages it needs that the GPU image lacks, for Python 3.12;
* ``run.sh``: installs the wheels, unpacks the faces, checks JAX sees the GPU (else the PyTorch
  backend), and runs ``chinese_ocr.train`` with ``KERAS_BACKEND=jax``, ``--live-share`` lines
  rendered by ``--feed-workers`` processes and ``--time-limit``, fine-tuning ``$INIT``
  (default ``models/chinese.keras``; ``none`` trains from scratch) of ``$ARCH`` (``crnn``;
  ``densenet`` from scratch; ``CHARSET=plates`` trains the plate reader from
  ``models/chinese_plates.keras``). Outputs (``best.keras`` without optimizer state, logs,
  curve) go to ``$OUT``, or ``gpu-out/``. Settings by environment: ``LIMIT_MIN`` (8), ``LR``
  (3e-4), ``BATCH`` (256), ``STEPS`` (800 an epoch: about 40 s on an H200 with replay),
  ``WORKERS`` (14), ``REPLAY`` (64 recent batches fill the GPU's waits for the renderers,
  ``--replay``; 0 turns it off), ``REUSE`` (3), ``TOTAL`` (560 s for the whole training command).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

WHEELS = ("keras==3.15.1", "namex", "optree")
PY = "3.12"  # the GPU image's Python
SUBSET_EXTRA = "田 " + "".join(chr(c) for c in range(32, 127))

RUN_SH = r"""#!/bin/bash
# Fine-tune the Chinese recogniser on a GPU machine (see chinese_ocr/gpu_bundle.py). Run from the
# repository root: bash BUNDLE/run.sh
set -uo pipefail
T0=$(date +%s)
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
[ -n "${SKIP_PIP:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/zh-site "$B"/whl/*.whl || exit 3
export PYTHONPATH=/tmp/zh-site:$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.5
export ZH_FACE_DIR=/tmp/zh-faces ZH_WORD_LISTS=$B/word-lists.pkl.gz
mkdir -p $ZH_FACE_DIR && xz -dc "$B/faces.tar.xz" | tar xf - -C $ZH_FACE_DIR || exit 4
echo "$(ls $ZH_FACE_DIR | wc -l) faces, $(nproc) cores"; nvidia-smi -L
BACKEND=jax
KERAS_BACKEND=jax timeout 120 python3 -c "
import jax, keras
print('jax', jax.__version__, 'keras', keras.__version__, jax.devices())
assert jax.default_backend() == 'gpu' or '${CPU_OK:-}'
" || { echo "JAX has no GPU here: the PyTorch backend"; BACKEND=torch; }
export KERAS_BACKEND=$BACKEND
RUN=/tmp/zh-run
CHARSET=${CHARSET:-$(cat "$B/charset")}
MIX=(--live-share 0.62 --easy-share 0.3 --pack 0.7)
DEFAULT_INIT=models/chinese.keras
if [ "$CHARSET" = plates ]; then  # the plate reader: rendered plates and the real photos, half and half
  MIX=(--live-share 0.5 --easy-share 0 --pack 0); DEFAULT_INIT=models/chinese_plates.keras
fi
INIT_ARG=(--init-from "${INIT:-$DEFAULT_INIT}")
[ "${INIT:-}" = none ] && INIT_ARG=()  # from scratch (with ARCH=densenet, say)
( while sleep 15; do cp -f $RUN/log.csv "$OUT"/ 2>/dev/null; done ) >/dev/null 2>&1 &
COPIER=$!
timeout $(( ${TOTAL:-560} - ($(date +%s) - T0) )) python3 -m chinese_ocr.train \
  --arch ${ARCH:-crnn} --charset "$CHARSET" \
  --synth-dir "$B/synth" --no-render --plates "$B/plates" --n-val 600 \
  "${MIX[@]}" --feed-workers ${WORKERS:-14} --batch-size ${BATCH:-256} \
  --replay ${REPLAY:-64} --max-reuse ${REUSE:-3} \
  --epochs 60 --steps-per-epoch ${STEPS:-800} --lr ${LR:-3e-4} --time-limit ${LIMIT_MIN:-8} \
  "${INIT_ARG[@]}" --no-tensorboard --run-dir $RUN 2>&1 \
  | grep -v '^\s*$' | tee "$OUT/train.log"
RC=${PIPESTATUS[0]}
kill $COPIER 2>/dev/null
echo "train exit $RC after $(( $(date +%s) - T0 )) s"
# Without the optimizer state: a third of the size (the lent machine returns files up to 16 MiB).
timeout 30 python3 -c "import keras; keras.models.load_model('$RUN/best.keras', compile=False).save('$OUT/best.keras')"
cp -f $RUN/best.json $RUN/log.csv $RUN/train_summary.json $RUN/curve.png $RUN/command.txt "$OUT"/ 2>/dev/null
ls -la "$OUT"
"""


def subset_face(job: tuple) -> tuple[str, int]:
    """One training face cut to ``chars`` and saved as ``out/<name>.font``."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    from chinese_ocr.fonts import font_file

    face, chars, out = job
    font = TTFont(font_file(face), fontNumber=face.index)
    opts = subset.Options()
    opts.layout_features, opts.name_IDs, opts.notdef_outline, opts.hinting = ["*"], ["*"], True, False
    sub = subset.Subsetter(opts)
    sub.populate(text=chars)
    sub.subset(font)
    path = Path(out) / f"{face.name}.font"
    font.save(str(path))
    return face.name, path.stat().st_size


def _copy_files(src: Path, dst: Path) -> None:
    """Every file under ``src`` into ``dst``, contents only (a read-only shared folder stays
    writable in the copy, so a second build can overwrite it)."""
    for f in src.rglob("*"):
        if f.is_file():
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dst / f.relative_to(src))


def build(out: Path, synth: Path, charset: str | None = None, wheels: bool = True,
          workers: int = 2, plates: Path | None = None) -> Path:
    """Write the bundle to ``out`` (see the module docstring); ``charset`` None: :func:`shipped_charset`."""
    import keras

    from chinese_ocr.charset import charset_chars
    from chinese_ocr.corpus import save_word_lists
    from chinese_ocr.fonts import faces
    from ocr_common.shards import shard_files

    charset = charset or shipped_charset()
    out.mkdir(parents=True, exist_ok=True)
    missing = [s for s in ("heldout", "eval", "plates-train", "plates-val") if not shard_files(synth / s)]
    if missing:
        raise SystemExit(f"no shards in {', '.join(str(synth / s) for s in missing)}: run chinese_ocr.train "
                         f"(it renders them) or chinese_ocr.evaluate first")
    chars = "".join(sorted(set(charset_chars(charset)) | set(SUBSET_EXTRA)))
    tmp = out / "faces"
    tmp.mkdir(exist_ok=True)
    train_faces = faces("train")
    print(f"cutting {len(train_faces)} faces to {len(chars)} characters", flush=True)
    bar = keras.utils.Progbar(len(train_faces), unit_name="face")
    with ProcessPoolExecutor(workers) as ex:
        for i, _ in enumerate(ex.map(subset_face, [(f, chars, tmp) for f in train_faces]), 1):
            bar.update(i)
    # Sorted, so a family's weights sit together, and xz -9 (a 64 MB window): 8 % smaller than
    # -6 for the full GB 2312, whose bundle must fit the lent machine's 64 MiB with the repository.
    names = " ".join(sorted(p.name for p in tmp.iterdir()))
    subprocess.run(f"tar cf - -C '{tmp}' {names} | xz -9 -T1 > '{out / 'faces.tar.xz'}'", shell=True, check=True)
    shutil.rmtree(tmp)
    save_word_lists(out / "word-lists.pkl.gz", (charset,))
    for name in ("heldout", "eval", "plates-train", "plates-val"):
        _copy_files(synth / name, out / "synth" / name)
    if plates is not None and (plates / "labels.tsv").is_file():
        _copy_files(plates, out / "plates")
    (out / "run.sh").write_text(RUN_SH)
    (out / "charset").write_text(charset)
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", PY, "--implementation", "cp",
                        *[a for p in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                                      "manylinux2014_x86_64") for a in ("--platform", p)],
                        "-d", str(out / "whl"), *WHEELS], check=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {len(train_faces)} faces, {size / 1e6:.1f} MB; on the GPU machine: bash {out}/run.sh")
    return out


def shipped_charset(config: Path = Path("models/chinese.json"), fallback: str = "GB2312") -> str:
    """The charset name of the shipped recogniser (its config beside the weights), else ``fallback``:
    a bundle cut to a smaller charset would have ``run.sh`` fine-tune away the classes it lacks."""
    import json

    try:
        return json.loads(config.read_text())["charset"]
    except (OSError, ValueError, KeyError):
        return fallback


def main(argv: list[str] | None = None) -> None:
    from chinese_ocr.charset import LEVELS

    ap = argparse.ArgumentParser(prog="python -m chinese_ocr.gpu_bundle", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="gpu", help="bundle folder [gpu]")
    ap.add_argument("--synth-dir", default="data/zh_synth", help="where the held-out shards are [data/zh_synth]")
    ap.add_argument("--charset", default=shipped_charset(), choices=sorted(LEVELS),
                    help="what the faces are cut to and run.sh trains [the shipped recogniser's: %(default)s]")
    ap.add_argument("--plates", default="../shared/data/plates",
                    help="the real plate photos to carry ('' for none) [../shared/data/plates]")
    ap.add_argument("--no-wheels", action="store_true", help="skip downloading Keras for the GPU image")
    args = ap.parse_args(argv)
    build(Path(args.out), Path(args.synth_dir), args.charset, wheels=not args.no_wheels,
          plates=Path(args.plates) if args.plates else None)


if __name__ == "__main__":
    main()
