"""The exact arithmetic every model codes with (numerics.py: integer grids, exact sums, tables
built from integers; convs.py, kernels.py, tables.py) and the incremental decoding engine over it
(engine.py, sheared.py, tape.py): the same probabilities on any machine, batching or thread count."""
