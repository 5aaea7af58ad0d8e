"""``python -m pixcodec.cli``: what ``torchrun -m pixcodec.cli train ...`` launches."""
from .main import main

main()
