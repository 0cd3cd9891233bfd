#!/usr/bin/env bash
# Full-size training on a GPU machine (one node, all its GPUs; DDP over nccl, bf16 autocast).
#
#   scripts/train_gpu.sh                 # everything: classifier, RLA vs ResNet comparison, BYOL
#   STEPS=compare EPOCHS=10 scripts/train_gpu.sh
#
# Data: WikiArt from $WIKIART (default ../shared/data/wikiart, indexed with the ArtGAN split files into
# data/wikiart); when it is absent the script says so and falls back to the demo collection, so the
# script still exercises the whole GPU path. Outputs: models/<name>/ (model.safetensors, card.json,
# train_state.pt, log.jsonl, curves.png, args.yaml) and results/compare-*.md.
# An interrupted classifier or byol step continues where it stopped when the script is re-run (--resume);
# the compare step always starts both of its runs afresh.
# Multi-node: run this on every node with NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT set.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
TORCHRUN=${TORCHRUN:-.venv/bin/torchrun}
SHARED=${ARTEXTRACT_SHARED_DATA:-../shared/data}
WIKIART=${WIKIART:-$SHARED/wikiart}
NGPU=${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}
NNODES=${NNODES:-1}
STEPS=${STEPS:-"classifier compare byol"}
DEPTH=${DEPTH:-50}            # ResNet depth: 18, 34, 50 or 101
IMG=${IMG:-160}               # the shared WikiArt copies are 160 px; 224 for full-size images
INIT=${INIT:-imagenet}        # imagenet: torchvision's ResNet weights (downloaded), or IMAGENET_WEIGHTS=FILE
SELECTION=${SELECTION:-1000}  # train paintings carved out to choose the epoch; val is only reported
EPOCHS=${EPOCHS:-30}
BATCH=${BATCH:-64}            # per GPU
LR=${LR:-1e-3}                # for the effective batch BATCH x NGPU x NNODES = 64 x 1 by default
BYOL_EPOCHS=${BYOL_EPOCHS:-100}
WORKERS=${WORKERS:-8}

if [ "$NGPU" -lt 1 ]; then
  echo "no GPU visible (nvidia-smi -L lists none); this script is for a GPU machine" >&2
  exit 1
fi
if [ "$NNODES" -gt 1 ]; then
  LAUNCH=("$TORCHRUN" --nnodes="$NNODES" --node_rank="${NODE_RANK:?set NODE_RANK}" --nproc_per_node="$NGPU"
          --master_addr="${MASTER_ADDR:?set MASTER_ADDR}" --master_port="${MASTER_PORT:-29500}")
else
  LAUNCH=("$TORCHRUN" --standalone --nproc_per_node="$NGPU")
fi

# ---- data -----------------------------------------------------------------------------------------
if [ -d "$WIKIART" ]; then
  COLLECTION=data/wikiart
  if [ ! -f "$COLLECTION/catalog.csv" ]; then
    echo "==> indexing WikiArt at $WIKIART with the ArtGAN splits into $COLLECTION"
    "$PY" -m artextract data wikiart --root "$WIKIART" --splits "$SHARED/artgan_splits" --out "$COLLECTION"
  fi
  echo "==> data: real WikiArt paintings ($WIKIART), official ArtGAN train/val splits"
else
  COLLECTION=data/demo
  echo "==> data: $WIKIART is absent: using the SYNTHETIC demo collection instead (not real paintings)"
  "$PY" -m artextract data demo
fi
REFERENCE=${REFERENCE:-$([ -f data/nga/catalog.csv ] && echo data/nga || echo data/demo_reference)}
NAME=$(basename "$COLLECTION")
COMMON=(--img-size "$IMG" --epochs "$EPOCHS" --batch-size "$BATCH" --lr "$LR" --workers "$WORKERS"
        --device cuda --precision auto --save-every 500 --no-progress)

# ---- steps ----------------------------------------------------------------------------------------
for step in $STEPS; do
  case "$step" in
    classifier)
      echo "==> RLA-ResNet-$DEPTH classifier (style, artist, genre) on $COLLECTION, $NGPU GPU(s) x $NNODES node(s)"
      INIT_ARGS=(--init "$INIT")
      [ -n "${IMAGENET_WEIGHTS:-}" ] && INIT_ARGS+=(--imagenet-weights "$IMAGENET_WEIGHTS")
      "${LAUNCH[@]}" -m artextract.train classifier --preset full --arch "rla_resnet$DEPTH" \
        --collection "$COLLECTION" --out "models/classifier-$NAME-rla$DEPTH" --resume \
        --selection-size "$SELECTION" "${INIT_ARGS[@]}" "${COMMON[@]}"
      ;;
    compare)
      echo "==> RLA-ResNet-$DEPTH vs ResNet-$DEPTH, same budget -> results/compare-$NAME-$DEPTH-gpu.md"
      "${LAUNCH[@]}" -m artextract.train compare --collection "$COLLECTION" --depth "$DEPTH" \
        --name "compare-$NAME-$DEPTH-gpu" --preset full "${COMMON[@]}"
      ;;
    byol)
      echo "==> BYOL ResNet-50 encoder on $REFERENCE"
      "${LAUNCH[@]}" -m artextract.train byol --preset full --collection "$REFERENCE" \
        --out "models/byol-$(basename "$REFERENCE")-r50" --resume --img-size "$IMG" --epochs "$BYOL_EPOCHS" \
        --batch-size 128 --workers "$WORKERS" --device cuda --sync-bn --save-every 500 --no-progress
      ;;
    *) echo "unknown step $step; valid: classifier compare byol" >&2; exit 2 ;;
  esac
done
