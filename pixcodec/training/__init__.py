"""Training and evaluating models: datasets and folders (data.py), the data order (batches.py),
what run to make (run_config.py), the loop (train.py), torchrun (distributed.py), bits/dim
(likelihood.py) and what a conditional model is conditioned on (conditioning.py)."""
