"""The ``pixcodec`` command (installed as the package ``pixcodec.cli``)."""
