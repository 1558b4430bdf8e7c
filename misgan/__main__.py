"""`python -m misgan ...` (also what torchrun runs: `torchrun --nproc-per-node N -m misgan extract ...`)."""

from misgan.cli import main

main()
