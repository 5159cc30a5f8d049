"""A file that is not a checkpoint: one line saying what it is not, no torch warnings (issue 19 item 6)."""

from __future__ import annotations

import warnings
import zipfile

import pytest
import torch

from hat.cli import main
from hat.errors import HatError
from hat.checkpoints import load_state_file, read_checkpoint


def _bad_files(d):
    torch.save({"w": torch.zeros(3)}, d / "good.pth")
    whole = (d / "good.pth").read_bytes()
    with zipfile.ZipFile(d / "fake.pt", "w") as z:  # looks like TorchScript (constants.pkl), is not
        z.writestr("fake/constants.pkl", b"x")
        z.writestr("fake/data.pkl", b"garbage")
    files = {
        "text.pth": (b"hello world\n", r"a text file \(starts 'hello world'\), not a checkpoint \(a torch.save zip archive"),
        "page.pth": (b"<!DOCTYPE html><html><body>404</body></html>", "an HTML page, not a checkpoint"),
        "empty.pth": (b"", "an empty file, not a checkpoint"),
        "cut.pth": (whole[: len(whole) // 2], "a truncated or damaged zip archive .*not a checkpoint"),
        "noise.pth": (bytes(range(1, 256)) * 4, "neither a zip archive nor a pickle, not a checkpoint"),
        "fake.pt": (None, "a zip archive with TorchScript parts, but not a TorchScript archive torch can load"),
    }
    for name, (data, _) in files.items():
        if data is not None:
            (d / name).write_bytes(data)
    return {d / name: why for name, (_, why) in files.items()}


def test_each_bad_file_says_what_it_is_not(tmp_path):
    for path, why in _bad_files(tmp_path).items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch.jit.load's FutureWarning must not reach the user
            with pytest.raises(HatError, match=why) as e:
                read_checkpoint(path)
        msg = str(e.value)
        assert len(msg.splitlines()) == 1 and "(101)" not in msg and "miniz" not in msg and "improved?" not in msg, msg
    assert set(read_checkpoint(tmp_path / "good.pth")) == {"w"}
    torch.save({"w": torch.zeros(3)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    assert set(read_checkpoint(tmp_path / "legacy.pth")) == {"w"}


def test_backend_weights_say_what_they_are_not(tmp_path):
    (tmp_path / "notes.pth").write_text("my weights are elsewhere\n")
    with pytest.raises(HatError, match="a text file .*, not a SAM checkpoint"):
        load_state_file(tmp_path / "notes.pth", "SAM", "hint")


def test_cli_prints_one_line_without_warnings(tmp_path, tiny_bench, capfd):
    _bad_files(tmp_path)
    for name in ("text.pth", "fake.pt", "cut.pth"):
        assert main(["eval", "--model", str(tmp_path / name), "--bench", str(tiny_bench)]) == 2
        err = capfd.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"hat: error: {tmp_path / name}: "), err
