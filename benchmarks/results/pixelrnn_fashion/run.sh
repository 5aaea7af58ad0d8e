#!/bin/bash
# Issue 5: row_lstm, diagonal_bilstm and gated_pixelcnn on Fashion-MNIST at equal training time.
# One thread each, one after the other, while the photo model trained on the other core.
cd "$(dirname "$0")/../../.."   # the repository root
export OMP_NUM_THREADS=1
MIN=${MIN:-8}
for spec in "row_lstm hidden=64 layers=4 out_hidden=96" "diagonal_bilstm hidden=64 layers=4 out_hidden=96" \
            "gated_pixelcnn hidden=48 layers=8 out_hidden=96"; do
  set -- $spec; name=$1; shift
  if [ -n "$ONLY" ] && [ "$ONLY" != "$name" ]; then continue; fi
  hp=""; for h in "$@"; do hp="$hp -H $h"; done
  .venv/bin/pixcodec train --model $name $hp --data fashion-mnist --data-dir ../shared/data --batch-size 32 \
    --lr 1e-3 --minutes $MIN --steps 100000 --eval-every 100000 --eval-images 500 --save-every 200 --quiet \
    --out runs/eq_$name.pt --force > runs/eq_$name.log 2>&1
  .venv/bin/pixcodec eval runs/eq_$name.pt --data-dir ../shared/data --limit 2000 --json > runs/eq_$name.eval.json 2> runs/eq_$name.eval.err
done
touch runs/eq.done
