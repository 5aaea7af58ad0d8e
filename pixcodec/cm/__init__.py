"""The context-mixing stage between the network and the entropy coder: it codes `.pxc` files
with the ``cm`` section (format version 11, the stage's revision 1), ``cm2`` (version 12,
revision 2) or ``cm3`` (version 13, revision 3).

- ``tables``: the integer logistic functions;
- ``coder``: the binary arithmetic coder;
- ``contexts``: the samples around a subpixel that the decoder knows, and the hashed contexts;
- ``predictions``: the predictions behind the prediction maps (revision 2 on);
- ``model``: counters, mixers and APMs, the revisions' table, and the one kernel that codes
  and decodes;
- ``stage``: the encoder's and decoder's view, step by step;
- ``jit``: where the kernels are compiled (numba).
"""
