# Sourced by scripts/demo, scripts/test and scripts/bench*: create .venv if missing, install hat into it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  echo "setting up .venv (first run: installs torch ${TORCH_VERSION:-2.14.1} and friends, a few minutes)" >&2
  "${PYTHON:-python3}" -m venv .venv
fi
stamp=.venv/.hat-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -qq --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
