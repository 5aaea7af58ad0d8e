#!/bin/bash
# Train photo models side by side on one lent GPU, each for the same wall time.
#
# Usage (repo root, on the GPU machine):  benchmarks/train_photo_gpu.sh DATA OUTDIR SECONDS NAME=SPEC...
#   SPEC "hidden=96 layers=8 out_hidden=64"  a new pixelcnn run with these hyperparameters
#   SPEC @runs/photo_v4.pt                   continue (a copy of) that checkpoint's run: a longer
#                                            --steps restarts its cosine decay from near the top
#   e.g. benchmarks/train_photo_gpu.sh .gpu/photos/train $OUT 420 h80="hidden=80 layers=8 out_hidden=64"
#
# Each run first trains 60 steps to time itself (all runs at once, as they will run; steps
# 20-60 count, after warm-up); the real run's --steps is then set so that its cosine schedule
# ends inside SECONDS. The 60 steps overstate the pace: on an H100 two runs calibrated at
# 0.013-0.015 s/step but sustained 0.021-0.025 with evaluations and each other's load, so only
# half the time left is planned for; a run cut short by --minutes continues with --resume.
# New runs use v4's recipe: the three test-photo copies excluded, predictive head, Adam with
# cosine decay, plus --augment dihedral (fine-tuning v5 with it lowered the held-out figure by
# 2.3 %). Env: BATCH CROP LR WORKERS PRECISION EVAL_IMAGES AUGMENT.
set -euo pipefail
data=$1; out=$2; seconds=$3; shift 3
mkdir -p "$out"
batch=${BATCH:-16}; crop=${CROP:-64}; lr=${LR:-2e-3}; workers=${WORKERS:-2}; precision=${PRECISION:-fp32}
augment=${AUGMENT:-dihedral}
common=(--workers "$workers" --precision "$precision" --quiet)

run() {   # spec steps minutes checkpoint [extra...]
    local spec=$1 steps=$2 minutes=$3 ckpt=$4; shift 4
    if [[ $spec == @* ]]; then
        local done_steps; done_steps=$(field "$ckpt" step)
        pixcodec train --resume --out "$ckpt" --steps $((done_steps + steps)) \
            --minutes "$(python3 -c "print($(field "$ckpt" seconds) / 60 + $minutes)")" "${common[@]}" "$@"
    else
        local args=(); for kv in $spec; do args+=(-H "$kv"); done
        pixcodec train --model pixelcnn "${args[@]}" -H head=predictive --data "$data" \
            --exclude sipi-4.2.07.png --exclude sipi-5.2.10.png --exclude sipi-4.2.03.png \
            --channels 3 --crop "$crop" --batch-size "$batch" --lr "$lr" --lr-schedule cosine --augment "$augment" \
            --steps "$steps" --minutes "$minutes" --force --out "$ckpt" "${common[@]}" "$@"
    fi
}
field() { python3 -c "import torch; print(torch.load('$1', weights_only=True, map_location='cpu')['$2'])"; }
start() { [[ $1 == @* ]] && cp "${1#@}" "$2"; true; }

declare -A specs
for arg in "$@"; do specs[${arg%%=*}]=${arg#*=}; done

for name in "${!specs[@]}"; do
    start "${specs[$name]}" "/tmp/cal_$name.pt"
    run "${specs[$name]}" 60 100 "/tmp/cal_$name.pt" --eval-every 20 --eval-images 0 --save-every 0 \
        > "/tmp/cal_$name.log" 2>&1 &
done
wait
left=$((seconds - SECONDS))
for name in "${!specs[@]}"; do
    per_step=$(python3 -c "import torch; h = torch.load('/tmp/cal_$name.pt', weights_only=True, map_location='cpu')['history'][-3:]; print((h[-1]['seconds'] - h[0]['seconds']) / (h[-1]['step'] - h[0]['step']))")
    steps=$(python3 -c "print(int(($left - 60) * 0.5 / $per_step))")
    echo "$name: ${per_step}s/step while sharing the GPU -> $steps steps in ${left}s"
    start "${specs[$name]}" "$out/$name.pt"
    run "${specs[$name]}" "$steps" "$(python3 -c "print(($left - 25) / 60)")" "$out/$name.pt" \
        --eval-every $((steps / 4 + 1)) --eval-images "${EVAL_IMAGES:-13}" --save-every 1000 > "$out/$name.log" 2>&1 &
done
wait
tail -n 4 "$out"/*.log
