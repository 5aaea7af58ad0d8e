"""The context-mixing stage between the network and the entropy coder: it codes `.pxc` files
with the ``cm`` section (format version 11, the stage's revision 1) or ``cm2`` (version 12,
revision 2).

- ``tables``: the integer logistic functions;
- ``coder``: the binary arithmetic coder;
- ``model``: contexts, counters, mixers and APMs, the revisions' table, and the one kernel that
  codes and decodes;
- ``predictions``: the predictions behind revision 2's prediction maps;
- ``stage``: the encoder's and decoder's view, step by step;
- ``jit``: where the kernels are compiled (numba).
"""
