"""The context-mixing stage between the network and the entropy coder: it codes `.pxc` files
with the ``cm`` section (format version 11).

- ``tables``: the integer logistic functions;
- ``coder``: the binary arithmetic coder;
- ``model``: contexts, counters, mixers and APMs, and the one kernel that codes and decodes;
- ``stage``: the encoder's and decoder's view, step by step;
- ``jit``: where the kernels are compiled (numba).
"""
