"""A loopback RTSP server for the tests (GStreamer gst-rtsp-server; run it with Debian's python3).

    /usr/bin/python3 tests/rtsp_server.py PORT [CLIP.mp4]

Serves ``rtsp://127.0.0.1:PORT/clip``: the H.264 MP4 in real time when given, else an endless
test pattern. Prints ``ready`` once listening; stops on SIGTERM.
"""

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, clip = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    if clip:
        launch = (
            f"( filesrc location={clip} ! qtdemux name=d d.video_0 ! queue ! h264parse "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    else:
        launch = (
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=10/1 "
            "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    factory.set_launch(launch)
    factory.set_shared(False)
    server.get_mount_points().add_factory("/clip", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
