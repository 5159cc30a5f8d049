"""Finding MediaPipe's TFLite models and the runtime that runs them, shared by the MediaPipe segmenters.

The models ship inside the ``mediapipe`` wheel, which is read as a zip and never installed (its pins
clash with ours); an installed mediapipe package is located, never imported. Each segmenter names
the files it needs as paths inside the mediapipe package (``modules/<module>/<file>.tflite``).
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..assets import installed_dirs, wheels
from ..errors import HatError

MEDIAPIPE_VERSION = "0.10.21"
INSTALL_HINT = "pip install 'hat-bias[selfie]'"
GIVE = "give a .tflite, a mediapipe .whl, or a folder with either"


def interpreter_class(segmenter: str):
    """The TFLite interpreter, imported only when a segmenter is made (it is an optional extra)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # the runtime's former name
        except ImportError:
            raise HatError(f"segmenter '{segmenter}' needs the TFLite runtime (ai-edge-litert): {INSTALL_HINT}") from None
    return Interpreter


def wheel_key(path: Path) -> tuple:
    """Sort key: the pinned version first, then newer versions."""
    m = re.match(r"mediapipe-(\d+(?:\.\d+)*)", path.name)
    version = tuple(int(x) for x in m.group(1).split(".")) if m else ()
    return (m is not None and m.group(1) == MEDIAPIPE_VERSION, version, path.name)


def _wheels(folder: Path) -> list[Path]:
    """mediapipe wheels in a folder the user named, pinned version first."""
    return sorted(folder.glob("mediapipe-*.whl"), key=wheel_key, reverse=True) if folder.is_dir() else []


Found = dict[str, tuple[str, bytes]]  # {key: (where it was read, model bytes)}


@dataclass(frozen=True)
class ModelFiles:
    """The model files one segmenter reads: ``{key: path inside the mediapipe package}``."""

    segmenter: str  # e.g. "mediapipe-selfie", for messages
    what: str  # e.g. "selfie segmentation model", for messages
    members: dict[str, str]
    not_found: str  # the message when no search place has them

    def names(self) -> list[str]:
        return [Path(m).name for m in self.members.values()]

    def from_wheel(self, wheel: Path) -> Found:
        try:
            with zipfile.ZipFile(wheel) as z:
                names = set(z.namelist())
                return {k: (f"{wheel}:mediapipe/{m}", z.read(f"mediapipe/{m}"))
                        for k, m in self.members.items() if f"mediapipe/{m}" in names}
        except (zipfile.BadZipFile, OSError) as e:
            raise HatError(f"cannot read {wheel} as a wheel: {e}") from None

    def from_folder(self, folder: Path) -> Found:
        """The files in ``folder`` itself, in a mediapipe package or a site-packages below it, or in a wheel there.

        Each layout is tried as a whole: the first that holds any of the files is the answer.
        """
        for layout in (lambda m: folder / Path(m).name, lambda m: folder / m, lambda m: folder / "mediapipe" / m):
            found = {k: (str(layout(m)), layout(m).read_bytes()) for k, m in self.members.items() if layout(m).is_file()}
            if found:
                return found
        for wheel in _wheels(folder):
            found = self.from_wheel(wheel)
            if found:
                return found
        return {}

    def from_path(self, path: Path) -> Found:
        if path.is_dir():
            return self.from_folder(path)
        if path.suffix == ".whl":
            return self.from_wheel(path)
        return {"": (str(path), path.read_bytes())}  # one .tflite: the segmenter tells which it is

    def find(self, model: str = "") -> Found:
        """Search when ``model`` is empty: ``$HAT_MEDIAPIPE`` (file or folder), an installed mediapipe
        package (located, not imported), then ``mediapipe-*.whl`` in ``<prefix>/share/hat`` and the cache folder."""
        if model:
            path = Path(model).expanduser()
            if not path.exists():
                raise HatError(f"{self.segmenter} model not found: {model} ({GIVE})")
            found = self.from_path(path)
            if not found:
                raise HatError(f"no {self.what} in {model} (expected {' or '.join(self.names())}, or a mediapipe-*.whl)")
            return found
        env = os.environ.get("HAT_MEDIAPIPE")
        if env:
            path = Path(env).expanduser()
            found = self.from_path(path) if path.exists() else {}
            if not found:
                raise HatError(f"HAT_MEDIAPIPE={env} holds no {self.what} ({GIVE})")
            return found
        for loc in installed_dirs("mediapipe"):
            found = self.from_folder(loc)
            if found:
                return found
        for wheel in wheels("mediapipe", key=wheel_key):
            found = self.from_wheel(wheel)
            if found:
                return found
        raise HatError(self.not_found)


def load_interpreter(Interpreter, where: str, content: bytes):
    """Load once to refuse, in one line, a file that is not a TFLite model."""
    try:
        it = Interpreter(model_content=content, num_threads=1)
        it.allocate_tensors()
        return it
    except Exception as e:  # the runtime raises ValueError/RuntimeError with multi-line text
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise HatError(f"{where} is not a usable TFLite model ({first})") from None
