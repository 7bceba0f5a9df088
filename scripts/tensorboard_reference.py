#!/usr/bin/env python3
"""Reference TensorBoard event files, made and read with Google's protobuf runtime and crcmod's CRC-32C
(Debian: apt-get install python3-protobuf protobuf-compiler python3-crcmod), not with Compact's code.

  write OUT   writes the events that TensorBoardWriterTests writes (pinned clock) -> the committed fixture
  read FILE   prints every record of an event file (checks both CRCs of every record), e.g. a run's tb/ file

The messages are the subset of tensorflow/core/util/event.proto and framework/summary.proto that scalars use,
with TensorFlow's field numbers (see tensorboard_subset.proto next to the fixture)."""
import os, struct, subprocess, sys, tempfile, importlib.util
import crcmod.predefined

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "tests", "Compact.Tests", "Fixtures", "tensorboard")
crc32c = crcmod.predefined.mkCrcFun("crc-32c")


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def load_pb():
    out = tempfile.mkdtemp()
    subprocess.check_call(["protoc", f"--proto_path={PROTO_DIR}", f"--python_out={out}", "tensorboard_subset.proto"])
    spec = importlib.util.spec_from_file_location("tensorboard_subset_pb2", os.path.join(out, "tensorboard_subset_pb2.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def record(data):
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", masked(head)) + data + struct.pack("<I", masked(data))


def write(path):
    pb = load_pb()
    t0 = 1764500000.25          # 2025-11-30 10:53:20.25 UTC, the pinned clock of the test; each event advances it 1.5 s
    events = [pb.Event(wall_time=t0, file_version="brain.Event:2")]
    for i, (tag, value, step) in enumerate([("train/loss", 2.5, 1), ("train/lr", 0.0003, 1), ("train/loss", 0.0, 2), ("train/café", -1.25, 1000000)]):
        events.append(pb.Event(wall_time=t0 + 1.5 * (i + 1), step=step, summary=pb.Summary(value=[pb.Summary.Value(tag=tag, simple_value=value)])))
    with open(path, "wb") as f:
        for e in events:
            f.write(record(e.SerializeToString()))


def read(path):
    pb = load_pb()
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        (hc,) = struct.unpack_from("<I", data, pos + 8)
        assert hc == masked(data[pos:pos + 8]), f"length CRC mismatch at {pos}"
        body = data[pos + 12:pos + 12 + n]
        (bc,) = struct.unpack_from("<I", data, pos + 12 + n)
        assert bc == masked(body), f"record CRC mismatch at {pos}"
        e = pb.Event()
        e.ParseFromString(body)
        vals = [(v.tag, v.simple_value) for v in e.summary.value]
        print(f"wall_time={e.wall_time:.3f} step={e.step} file_version={e.file_version!r} values={vals}")
        pos += 12 + n + 4


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
