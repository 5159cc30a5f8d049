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
# MediaPipe's selfie segmentation weights (segmenter mediapipe-selfie) are read from the mediapipe wheel
# itself: fetched, not installed (mediapipe's own pins clash with ours).
if ! compgen -G ".venv/share/hat/mediapipe-0.10.21-*.whl" >/dev/null; then
  .venv/bin/python -m pip download -qq --no-deps --disable-pip-version-check -d .venv/share/hat mediapipe==0.10.21 \
    || echo "warning: could not download mediapipe==0.10.21 (segmenter mediapipe-selfie will lack its model)" >&2
fi
export PATH="$PWD/.venv/bin:$PATH"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
