#!/usr/bin/env bash
# What runs on a lent GPU machine (a session's 15 minutes of device time; README "Training on a GPU").
#
# The shared WikiArt folder (203 MB of 160 px JPEGs) does not fit one transfer to that machine (64 MiB), so
# scripts/pack_wikiart.py re-encodes it as WebP q75 at the same size, in two halves, .gpu/a and .gpu/b,
# plus .gpu/c (catalog, ImageNet weights), sent by two calls back to back (what a call unpacks stays while
# the machine is warm; a carried folder the next call does not name is removed). The project's committed
# sample and models (47 MB) leave no room beside a half: move data/sample and models/ aside for the calls.
#   scripts/gpu_lease.sh smoke   # call 1, carrying .gpu/a .gpu/c: unpack half, one tiny epoch on GPU
#   scripts/gpu_lease.sh train   # call 2, carrying .gpu/b .gpu/c: unpack the rest, the runs side by side
# The three runs share the GPU and each has the same wall-clock budget (BUDGET minutes, --time-budget):
#   rla_resnet50 from scratch (the recipe of scripts/train_gpu.sh; ResNet ImageNet weights cannot be fetched
#   there), and RLA-MobileNetV2 vs plain MobileNetV2 from the shared ImageNet weights (the ablation).
# The recipe sweep that chose the released CPU recipe (crop strength, RLA vs plain) is
#   BUDGET=6.5 RUNS="r160s35:rla_mobilenetv2:160:0.35:12 r160s75:rla_mobilenetv2:160:0.75:12 ..." scripts/gpu_lease.sh train
# with the wikiart preset's batch 64 and lr 1e-3 (LR=, BATCH= override them).
# EXTRA (e.g. "--max-train 256 --max-val 128 --selection-size 64") is appended to each run, for a dry run.
# Each reports on the whole val split once, with checkpoints chosen on 1,000 train paintings carved out.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
MODE=${1:-train}
BUDGET=${BUDGET:-6}
EPOCHS=${EPOCHS:-30}
RES=${OUT:-runs/gpu-lease}
COL=data/wikiart_webp
W=$(ls .gpu/*/mobilenet_v2_imagenet_features.safetensors 2>/dev/null | head -1)
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
mkdir -p "$COL/images" "$RES"
nvidia-smi -L 2>/dev/null; "$PY" -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
for t in .gpu/a/part.tar.gz .gpu/b/part.tar.gz; do
  if [ -f "$t" ] && [ ! -f "$t.done" ]; then tar -xzf "$t" -C "$COL" && touch "$t.done"; fi
done
zcat "$(ls .gpu/*/catalog.csv.gz | head -1)" > "$COL/catalog.full.csv"
# only the rows whose image has arrived (all of them once both halves are there)
"$PY" - "$COL" <<'PYEOF'
import sys, pandas as pd, os
col = sys.argv[1]
df = pd.read_csv(f"{col}/catalog.full.csv", dtype=str, keep_default_na=False)
ok = df[[os.path.isfile(os.path.join(col, p)) for p in df["image"]]]
ok.to_csv(f"{col}/catalog.csv", index=False)
print(f"catalog: {len(ok)} of {len(df)} paintings present ({(ok.split == 'train').sum()} train, {(ok.split == 'val').sum()} val)")
PYEOF
COMMON=(--collection "$COL" --img-size 160 --device "${DEVICE:-cuda}" --precision auto --no-progress --cache-images
        --workers "${WORKERS:-5}" --batch-size "${BATCH:-128}" --overwrite)
MNV2=(--preset wikiart --imagenet-weights "$W" --lr "${LR:-1.5e-3}" --warmup-epochs "${WARMUP:-1}" --selection-size "${SEL:-1000}")
R50=(--preset full --arch rla_resnet50 --init random --lr 2e-3 --warmup-epochs 2 --selection-size 1000)
if [ "$MODE" = smoke ]; then
  X=(--max-train 512 --max-val 256 --epochs 1 --time-budget 1)
  "$PY" -m artextract.train classifier "${MNV2[@]}" --arch rla_mobilenetv2 --out runs/gpu-smoke-rla "${COMMON[@]}" "${X[@]}" --selection-size 128 || exit 1
  [ -n "${SMOKE_R50:-}" ] && { "$PY" -m artextract.train classifier "${R50[@]}" --out runs/gpu-smoke-r50 "${COMMON[@]}" "${X[@]}" --selection-size 128 || exit 1; }
  echo SMOKE OK; exit 0
fi
run() {  # name, args...
  local name=$1; shift
  # COMMON first: a run's own flags (--img-size of an inline NAME:ARCH:PX:...) come later and win
  "$PY" -m artextract.train classifier "${COMMON[@]}" "$@" --out "runs/gpu-$name" --time-budget "$BUDGET" \
    ${EXTRA:-} > "$RES/$name.log" 2>&1; echo "$name exit $?" >> "$RES/$name.log"
}
# a run is NAME[:ARCH:PX:MIN_SCALE:EPOCHS]; the named recipes below, or any arch/px/crop/epochs given inline
RUNS=${RUNS:-"rla_mobilenetv2 mobilenetv2 rla_resnet50"}
for n in $RUNS; do
  IFS=: read -r name arch px scale ep <<< "$n"
  case $name in
    rla_resnet50) run "$name" "${R50[@]}" --epochs 100 & ;;
    rla_mobilenetv2|mobilenetv2) run "$name" "${MNV2[@]}" --arch "$name" --epochs "$EPOCHS" & ;;
    *) run "$name" "${MNV2[@]}" --arch "$arch" --img-size "$px" --min-scale "$scale" --epochs "$ep" \
         --report-flip & ;;
  esac
done
( while sleep 30; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; tail -qn1 "$RES"/*.log; done ) &
mon=$!
wait $(jobs -p | grep -vx "$mon"); kill $mon
for n in $RUNS; do
  n=${n%%:*}
  tail -n 4 "$RES/$n.log"
  files=(card.json log.jsonl args.yaml curves.png)
  [ "$n" != rla_resnet50 ] && files+=(model.safetensors)
  tar -cf "$RES/$n.tar" -C "runs/gpu-$n" "${files[@]}" 2>/dev/null
done
ls -la "$RES"
