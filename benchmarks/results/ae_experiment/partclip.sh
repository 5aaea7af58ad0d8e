#!/bin/bash
# The coded latent again, after clipping the encoder's, decoder's and prior's gradient norms each
# on its own (train.clipped_parts): the same two runs as fashion_codes_warmup and
# fashion_codes_freebits of ae_experiment.py (8 minutes, one thread each, side by side).
cd "$(dirname "$0")/../../.."   # the repository root
export OMP_NUM_THREADS=1
common="--model pixelcnn_ae -H hidden=32 -H layers=6 -H out_hidden=64 -H latent=codes -H levels=8 -H factor=4
        -H latent_channels=1 --data fashion-mnist --data-dir ../shared/data --batch-size 32 --lr 1e-3 --minutes 8
        --steps 1000000 --eval-every 0 --eval-images 0 --save-every 0 --threads 1 --quiet --force --latent-warmup 200"
.venv/bin/pixcodec train $common --out runs/ae_partclip/warmup.pt &
.venv/bin/pixcodec train $common --free-bits 1.0 --out runs/ae_partclip/freebits.pt &
wait
for name in warmup freebits; do
  .venv/bin/pixcodec eval runs/ae_partclip/$name.pt --data-dir ../shared/data --limit 1000 --json --threads 1 \
    > benchmarks/results/ae_experiment/partclip_$name.json
done
