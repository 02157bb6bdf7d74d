"""python -m tests.bad_inputs OUT_DIR: write the corpus (and the valid files) for a manual try."""
import sys
from pathlib import Path

from tests.bad_inputs import marker_path, valid_inputs, write_corpus

out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs_corpus")
entries = write_corpus(out) + list(valid_inputs(out).values())
for u in entries:
    print(f"{u.name:32s} {len(u.data):>10,} B  {'/'.join(sorted(u.targets)):10s} {u.expect:7s} {u.why}")
print(f"{len(entries)} files in {out}; the pickles would create {marker_path(out)}")
