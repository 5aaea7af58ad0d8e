#!/bin/bash
# The pictures and coded files of pictures.sh, for the second (warm-up) auto-encoder run.
cd "$(dirname "$0")/../../.."   # the repository root
export OMP_NUM_THREADS=1
R=benchmarks/results/conditional_fashion
P=.venv/bin/pixcodec
$P sample runs/cond_ae_warm.pt -n 16 --seed 0 -o $R/ae_prior_samples.png --force
for i in 000 001 002; do
  $P sample runs/cond_ae_warm.pt -n 6 --seed 1 --interpolate runs/fashion_test/$i.png runs/fashion_test/$i.png \
    -o $R/ae_given_z_$i.png --force
done
$P sample runs/cond_ae_warm.pt -n 8 --seed 2 --interpolate runs/fashion_test/000.png runs/fashion_test/001.png \
  -o $R/ae_codes_interpolation.png --force
$P compress runs/fashion_test -m runs/cond_ae_warm.pt --out-dir runs/fashion_test_pxc_warm --force --verify \
  > $R/two_part_compress.txt
