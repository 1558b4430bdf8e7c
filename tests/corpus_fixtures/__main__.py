"""`PYTHONPATH=tests python -m corpus_fixtures /tmp/fixtures` writes every fixture corpus."""

import sys

from corpus_fixtures import main

main(sys.argv[1] if len(sys.argv) > 1 else "fixtures")
