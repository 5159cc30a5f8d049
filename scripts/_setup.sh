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
# Data read straight from package wheels, fetched but not installed (hat/assets.py): MediaPipe's selfie and pose
# weights (segmenters mediapipe-selfie, mediapipe-pose; mediapipe's own pins clash with ours) and the 365
# Places365 category names that tensorflow-datasets ships (scene model places365).
for want in mediapipe==0.10.21 tensorflow-datasets==4.9.10; do
  wheel="$(echo "${want%%==*}" | tr - _)-${want##*==}-*.whl"
  if ! compgen -G ".venv/share/hat/$wheel" >/dev/null; then
    .venv/bin/python -m pip download -qq --no-deps --disable-pip-version-check -d .venv/share/hat "$want" \
      || echo "warning: could not download $want (see hat/assets.py for what lacks it)" >&2
  fi
done
export PATH="$PWD/.venv/bin:$PATH"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
