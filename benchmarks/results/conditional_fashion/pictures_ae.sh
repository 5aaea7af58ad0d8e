#!/bin/bash
# The pictures and coded files of pictures.sh again, for the third auto-encoder run (run.sh,
# ONLY=lowrate), the one whose latent carries something: the first two collapsed.
cd "$(dirname "$0")/../../.."   # the repository root
export OMP_NUM_THREADS=1
R=benchmarks/results/conditional_fashion
P=.venv/bin/pixcodec
$P sample runs/cond_ae_low.pt -n 16 --seed 0 -o $R/ae_prior_samples.png --force
for i in 000 001 002; do
  $P sample runs/cond_ae_low.pt -n 6 --seed 1 --interpolate runs/fashion_test/$i.png runs/fashion_test/$i.png \
    -o $R/ae_given_z_$i.png --force
done
$P sample runs/cond_ae_low.pt -n 8 --seed 2 --interpolate runs/fashion_test/000.png runs/fashion_test/001.png \
  -o $R/ae_codes_interpolation.png --force
$P compress runs/fashion_test -m runs/cond_ae_low.pt --out-dir runs/fashion_test_pxc_low --force --verify \
  > $R/two_part_compress.txt
