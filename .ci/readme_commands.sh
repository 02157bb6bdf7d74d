#!/usr/bin/env bash
# Runs README.md's two commands in a fresh virtual environment: the first installs and serves the app (the server
# must answer its health check and the home page), the second installs the test dependencies; in that venv a part
# of the suite then runs (the whole suite runs once, with the system Python, in .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

blocks="$(python3 - <<'PY'
import re, pathlib
text = pathlib.Path("README.md").read_text()
blocks = re.findall(r"```bash\n(.*?)\n```", text, re.S)
print(blocks[0].strip()); print(blocks[1].strip())
PY
)"
run_app="$(sed -n 1p <<<"$blocks")"
run_tests="$(sed -n 2p <<<"$blocks")"
case "$run_app" in *"streamlit run playground.py") ;; *) echo "README's first command must end with 'streamlit run playground.py'" >&2; exit 1;; esac
case "$run_tests" in *"python3 -m pytest -q") ;; *) echo "README's second command must end with 'python3 -m pytest -q'" >&2; exit 1;; esac

venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
export PATH="$venv/bin:$PATH"
fetch() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$(mktemp)"
echo ".ci/readme_commands: README command 1 in a fresh venv ($venv)"
bash -c "$run_app --server.headless true --server.address 127.0.0.1 --server.port $port --browser.gatherUsageStats false" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; pkill -f "streamlit run playground.py --server.headless true --server.address 127.0.0.1 --server.port $port" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    if fetch "http://127.0.0.1:$port/_stcore/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 $server 2>/dev/null; then tail -50 "$log" >&2; echo "README command 1 failed" >&2; exit 1; fi
    sleep 1
done
fetch "http://127.0.0.1:$port/_stcore/health" >/dev/null || { tail -50 "$log" >&2; echo "the app never answered" >&2; exit 1; }
fetch "http://127.0.0.1:$port/" | grep -q "<title>" || { echo "the app's page did not load" >&2; exit 1; }
test "$(command -v streamlit)" = "$venv/bin/streamlit" || { echo "streamlit did not come from the fresh venv" >&2; exit 1; }
echo ".ci/readme_commands: the app installed in the fresh venv and answered on port $port"

echo ".ci/readme_commands: README command 2's install in the fresh venv, then a part of the suite there"
install_log="$(mktemp)"
bash -c "${run_tests% && python3 -m pytest -q}" >"$install_log" 2>&1 || { tail -50 "$install_log" >&2; echo "README command 2's install failed" >&2; exit 1; }
python3 -m pytest -q -p no:cacheprovider -m "not browser" tests/test_house_rules.py tests/test_house_rules_pages.py tests/test_app_pages.py
