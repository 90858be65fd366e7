"""Sources: image folders, a real RTSP server on 127.0.0.1 (stopped and restarted), bad inputs."""

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import free_port
from tests.helpers import RtspServer, needs_rtsp
from vision.sources import SourceError, VideoSource


class Reader(threading.Thread):
    """Reads a source in the background, recording frames and status changes."""

    def __init__(self, source: VideoSource) -> None:
        super().__init__(daemon=True)
        self.source, self.frames, self.events = source, 0, []
        source.on_status = lambda state, err: self.events.append((state, err, self.frames))

    def run(self) -> None:
        for _ in self.source:
            self.frames += 1

    def wait_for(self, cond, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.05)
        return False


@needs_rtsp
def test_rtsp_stream_is_read_and_reconnects_after_the_server_returns():
    server = RtspServer(free_port()).start()
    reader = Reader(VideoSource(server.url, fps=5, max_backoff_s=1.0))
    reader.start()
    try:
        assert reader.wait_for(lambda: reader.frames >= 5), reader.events
        server.stop()
        assert reader.wait_for(lambda: any(s == "offline" for s, _, _ in reader.events)), reader.events
        before = reader.frames
        time.sleep(1.0)  # down for a while: reopening fails and backs off
        server.start()
        assert reader.wait_for(lambda: reader.frames >= before + 5), reader.events
        states = [s for s, _, _ in reader.events]
        assert states[0] == "online" and "offline" in states and states[-1] == "online"
        assert reader.source.reconnects >= 1
    finally:
        reader.source.stop()
        server.stop()
        reader.join(10)


def test_unreachable_rtsp_url_reports_offline_with_the_reason():
    url = f"rtsp://127.0.0.1:{free_port()}/nothing"
    reader = Reader(VideoSource(url, fps=5, max_backoff_s=0.5))
    reader.start()
    try:
        assert reader.wait_for(lambda: len(reader.events) >= 2)
        state, err, _ = reader.events[0]
        assert state == "offline" and url in err and "cannot open" in err
        assert reader.frames == 0 and reader.source.reconnects >= 1
    finally:
        reader.source.stop()
        reader.join(10)


def write_images(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        img = np.full((120, 160, 3), i * 20, np.uint8)
        cv2.imwrite(str(folder / f"cam-{i:04d}.jpg"), img)


def test_image_folder_in_name_order_with_interval_and_fps_cap(tmp_path):
    write_images(tmp_path / "imgs", 10)
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    (tmp_path / "imgs" / "cam-0005.jpg").write_bytes(b"broken")  # unreadable: skipped
    got = [(t, int(f[0, 0, 0])) for f, t in VideoSource(str(tmp_path / "imgs"), fps=5, interval_s=2.0)]
    assert [t for t, _ in got] == [0, 2, 4, 6, 8, 12, 14, 16, 18]
    assert [v for _, v in got][:2] == [0, 20]
    capped = [t for _, t in VideoSource(str(tmp_path / "imgs"), fps=1, interval_s=0.5)]
    assert capped == [0.0, 1.0, 2.0, 3.0, 4.0]  # every other image: 1 per second
    looped = VideoSource(str(tmp_path / "imgs"), fps=5, interval_s=1.0, loop=True)
    times = []
    for _, t in looped:
        times.append(t)
        if len(times) == 15:
            looped.stop()
    assert times == sorted(times) and times[-1] > 10


def test_empty_image_folder_missing_file_and_corrupt_video_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no images"):
        list(VideoSource(str(tmp_path / "empty")))
    with pytest.raises(SourceError, match="not found"):
        list(VideoSource(str(tmp_path / "missing.mp4")))
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 50)
    with pytest.raises(SourceError, match="cannot open|no frame"):
        list(VideoSource(str(bad)))
    shutil.rmtree(tmp_path / "empty")


def test_importing_sources_leaves_the_environment_alone():
    import sys

    code = "import os; import vision.sources; print(os.environ.get('OPENCV_FFMPEG_CAPTURE_OPTIONS'))"
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_CAPTURE_OPTIONS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "None"
