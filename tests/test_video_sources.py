"""Real video files: PyAV I/O, the csv source, and missing or corrupt videos recorded and skipped."""

import numpy as np
import pandas as pd
import pytest

from hat.bench import Benchmark
from hat.config import BuildConfig
from hat.errors import HatError, VideoError
from hat.masks import boxes_from_masks
from hat.pipeline import build
from hat.segmenters import SEGMENTERS, Segmentation, Segmenter
from hat.video import ShortVideo, probe, read_frames, segment_indices, spread_indices, write_video

from conftest import SHARED


def clip(t=10, h=32, w=40):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_sampling_rules():
    assert segment_indices(16, 8).tolist() == [1, 3, 5, 7, 9, 11, 13, 15]
    assert segment_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
    assert spread_indices(10, 4).tolist() == [0, 3, 6, 9]
    with pytest.raises(VideoError):
        segment_indices(0, 4)


def test_lossless_roundtrip_and_probe(tmp_path):
    frames = clip()
    write_video(tmp_path / "a.mp4", frames, fps=10)
    info = probe(tmp_path / "a.mp4")
    assert (info.n_frames, info.height, info.width) == (10, 32, 40) and info.fps == 10
    got = read_frames(tmp_path / "a.mp4", [0, 4, 4, 9])
    assert np.array_equal(got, frames[[0, 4, 4, 9]])
    # a stream shorter than asked for says how long it really is, so the caller can sample again
    with pytest.raises(ShortVideo) as e:
        read_frames(tmp_path / "a.mp4", [9, 12])
    assert e.value.n_frames == 10


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(VideoError, match="missing file"):
        probe(tmp_path / "nope.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"\x00not a video" * 100)
    with pytest.raises(VideoError):
        probe(tmp_path / "bad.mp4")
    with pytest.raises(VideoError):
        read_frames(tmp_path / "bad.mp4", [0])


class BrightSegmenter(Segmenter):
    """A test backend registered from outside the package: bright pixels are the 'person'."""

    name = "test-bright"

    def segment(self, frames, record, source, indices):
        masks = frames.min(axis=3) > 200
        boxes = [np.array([[*b, 1.0]]) for b in boxes_from_masks(masks)]
        return Segmentation(masks, boxes)


if "test-bright" not in SEGMENTERS.names():
    SEGMENTERS.register("test-bright")(BrightSegmenter)


def person_clip(label, t=12, h=36, w=48):
    rng = np.random.default_rng(label)
    bg = np.full((h, w, 3), (40 * label + 20, 90, 60), np.uint8) + rng.integers(0, 20, (h, w, 3), dtype=np.uint8)
    frames = np.repeat(bg[None], t, 0)
    for i in range(t):
        frames[i, 8:28, 5 + 2 * i : 13 + 2 * i] = 255
    return frames


def test_csv_source_records_failures_and_builds(tmp_path):
    vids = tmp_path / "videos"
    rows = []
    for label, cls in enumerate(["jump", "run"]):
        for i in range(3):
            write_video(vids / f"{cls}_{i}.mp4", person_clip(label), fps=10)
            rows.append({"path": f"{cls}_{i}.mp4", "label": cls})
    (vids / "broken.mp4").write_bytes(b"garbage" * 50)
    rows += [{"path": "broken.mp4", "label": "jump"}, {"path": "gone.mp4", "label": "run"}]
    pd.DataFrame(rows).to_csv(vids / "list.csv", index=False)
    cfg = BuildConfig(source="csv", source_options={"list": str(vids / "list.csv")}, segmenter="test-bright",
                      num_frames=6, context_frames=12, k_close=1, k_far=1, cov_max=0.5)
    s = build(cfg, tmp_path / "bench")
    assert s.complete and s.counts["ok"] == 6 and s.counts["failed"] == 2
    assert sum(s.failed.values()) == 2
    man = pd.read_csv(tmp_path / "bench" / "manifest.csv", keep_default_na=False)
    failed = man[man["status"] == "failed"].set_index("video_id")
    assert "missing video file" in failed.loc["gone", "reason"] and "frames:" in failed.loc["broken", "reason"]
    b = Benchmark(tmp_path / "bench")
    assert b.classes == ["jump", "run"] and len(b.videos) == 6
    assert (b.pairs["fg_video"].isin(b.videos["video_id"])).all()
    assert not b.pairs["bg_video"].isin(["gone", "broken"]).any()
    # the person is gone from Background-Only: no bright pixels left
    assert (b.parts("jump_0").background.min(axis=3) > 200).sum() == 0


def test_duplicate_ids_refused(tmp_path):
    write_video(tmp_path / "a.mp4", person_clip(0), fps=10)
    pd.DataFrame([{"path": "a.mp4", "label": "x"}, {"path": "a.mp4", "label": "y"}]).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(HatError, match="appear more than once"):
        build(BuildConfig(source="csv", source_options={"list": str(tmp_path / "l.csv")}, segmenter="test-bright"), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_csv_source_errors(tmp_path):
    with pytest.raises(HatError, match="source 'csv' needs its data: -S list="):
        build(BuildConfig(source="csv"), tmp_path / "b")
    (tmp_path / "l.csv").write_text("file,cls\na.mp4,x\n")
    with pytest.raises(HatError, match="lacks column"):
        build(BuildConfig(source="csv", source_options={"list": str(tmp_path / "l.csv")}), tmp_path / "b")


@pytest.mark.skipif(not (SHARED / "data" / "k400-samples").is_dir(), reason="../shared/data/k400-samples not present")
def test_real_kinetics_frames_roundtrip_through_video_io(tmp_path):
    """Real K400 JPEG frames -> lossless mp4 -> PyAV decode gives the same pixels."""
    import cv2

    d = SHARED / "data" / "k400-samples" / "rawframes" / "archery"
    vid = next(d.iterdir())
    paths = sorted(vid.glob("*.jpg"))[:8]
    frames = np.stack([cv2.imread(str(p))[..., ::-1] for p in paths])
    write_video(tmp_path / "k.mp4", frames, fps=30)
    assert np.array_equal(read_frames(tmp_path / "k.mp4", np.arange(8)), frames)
    assert probe(tmp_path / "k.mp4").width == frames.shape[2]


def _truncated_avi(path, frames, keep=0.45):
    """An MJPEG AVI whose header promises every frame, cut so that only the first ~``keep`` decode."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mjpeg", rate=10)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuvj420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_means_well_short_of_the_header():
    from hat.video import is_truncated

    assert is_truncated(250, 114) and is_truncated(30, 13) and is_truncated(100, 97)
    assert not is_truncated(300, 299) and not is_truncated(300, 297) and not is_truncated(30, 28)


def test_truncated_video_is_kept_and_flagged(tmp_path):
    vids = tmp_path / "videos"
    rows = []
    for label, cls in enumerate(["jump", "run"]):
        for i in range(2):
            write_video(vids / f"{cls}_{i}.mp4", person_clip(label, t=30), fps=10)
            rows.append({"path": f"{cls}_{i}.mp4", "label": cls})
    _truncated_avi(vids / "cut.avi", person_clip(0, t=30))
    assert probe(vids / "cut.avi").n_frames == 30
    rows.append({"path": "cut.avi", "label": "jump"})
    pd.DataFrame(rows).to_csv(vids / "list.csv", index=False)
    cfg = BuildConfig(source="csv", source_options={"list": str(vids / "list.csv")}, segmenter="test-bright",
                      num_frames=4, context_frames=4, k_close=1, k_far=1, cov_max=0.5)
    s = build(cfg, tmp_path / "bench")
    assert s.complete and s.counts["ok"] == 5
    man = pd.read_csv(tmp_path / "bench" / "manifest.csv", keep_default_na=False).set_index("video_id")
    cut = man.loc["cut"]
    assert cut["status"] == "ok" and "truncated" in cut["flags"].split(";") and 0 < cut["n_frames"] < 30
    assert f"truncated: header promises 30 frames, {cut['n_frames']} decode" in cut["notes"]
    assert not man.drop(index="cut")["flags"].str.contains("truncated").any()


def test_every_video_failed_still_writes_the_manifest(tmp_path):
    vids = tmp_path / "videos"
    vids.mkdir()
    (vids / "broken.mp4").write_bytes(b"garbage" * 50)
    pd.DataFrame([{"path": "broken.mp4", "label": "a"}, {"path": "gone.mp4", "label": "b"}]).to_csv(vids / "list.csv", index=False)
    cfg = BuildConfig(source="csv", source_options={"list": str(vids / "list.csv")}, segmenter="test-bright")
    with pytest.raises(HatError, match=r"no usable video: all 2 failed \(1x frames: .*manifest.csv") as e:
        build(cfg, tmp_path / "bench")
    assert "\n" not in str(e.value)
    man = pd.read_csv(tmp_path / "bench" / "manifest.csv", keep_default_na=False).set_index("video_id")
    assert (man["status"] == "failed").all() and "missing video file" in man.loc["gone", "reason"]
    assert "frames:" in man.loc["broken", "reason"] and not (tmp_path / "bench" / "benchmark.yaml").exists()
