"""The bundled demo day: real recordings, and a rebuild that leaves them untouched."""

from callscope.synth.demoday import build_demo_day


def test_rebuilding_the_demo_day_keeps_the_recordings_byte_identical(tmp_path):
    folder = build_demo_day(tmp_path)
    first = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert {"hold-0006.opus", "en-0008.wav", "manifest.csv"} <= set(first)
    build_demo_day(tmp_path)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == first
