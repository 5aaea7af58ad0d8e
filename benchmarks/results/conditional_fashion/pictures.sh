#!/bin/bash
# Issue 6 pictures and coded files, after run.sh (all runs): class grids, the auto-encoder's samples,
# what the latent carries (several x drawn given one image's z), interpolations, and real
# two-part files for the first 100 test images, all with the third auto-encoder run
# (runs/cond_ae_low.pt), the one whose latent carries something. Also trains the vector-latent auto-encoder
# (6 minutes) whose interpolation is the paper's representation-learning picture.
cd "$(dirname "$0")/../../.."   # the repository root
export OMP_NUM_THREADS=1
R=benchmarks/results/conditional_fashion
P=.venv/bin/pixcodec
mkdir -p runs/fashion_test
.venv/bin/python - <<'PY'
from PIL import Image
from pixcodec.data import open_dataset
ds = open_dataset("fashion-mnist", "../shared/data", "test")
for i in range(100):
    Image.fromarray(ds[i][0][0].numpy()).save(f"runs/fashion_test/{i:03d}.png")
PY
$P sample runs/cond_class.pt -n 8 --each-class --seed 0 -o $R/class_samples.png --force
$P sample runs/cond_ae_low.pt -n 16 --seed 0 -o $R/ae_prior_samples.png --force
for i in 000 001 002; do
  $P sample runs/cond_ae_low.pt -n 6 --seed 1 --interpolate runs/fashion_test/$i.png runs/fashion_test/$i.png \
    -o $R/ae_given_z_$i.png --force
done
$P sample runs/cond_ae_low.pt -n 8 --seed 2 --interpolate runs/fashion_test/000.png runs/fashion_test/001.png \
  -o $R/ae_codes_interpolation.png --force
$P compress runs/fashion_test -m runs/cond_ae_low.pt --out-dir runs/fashion_test_pxc_low --force --verify > $R/two_part_compress.txt
$P train --model pixelcnn_ae -H latent=vector -H embed=32 -H hidden=48 -H layers=8 -H out_hidden=96 \
  --data fashion-mnist --data-dir ../shared/data --batch-size 32 --lr 1e-3 --minutes 6 --steps 100000 \
  --eval-every 100000 --eval-images 500 --save-every 200 --quiet --force --out runs/vec_ae.pt > runs/vec_ae.log 2>&1
$P eval runs/vec_ae.pt --data-dir ../shared/data --limit 2000 --json > runs/vec_ae.eval.json
$P sample runs/vec_ae.pt -n 8 --seed 2 --interpolate runs/fashion_test/000.png runs/fashion_test/001.png \
  -o $R/ae_vector_interpolation.png --force
for i in 000 001; do
  $P sample runs/vec_ae.pt -n 6 --seed 1 --interpolate runs/fashion_test/$i.png runs/fashion_test/$i.png \
    -o $R/vec_ae_given_e_$i.png --force
done
touch runs/pictures.done
