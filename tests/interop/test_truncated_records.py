"""An events file cut at any byte (as a crash mid-write leaves it) still gives every complete
record to TensorBoard's readers: its loaders (backed by TensorFlow's record reader), its
pure-Python fallback reader (used without TensorFlow), and TensorFlow's tf_record_iterator."""

import pytest
import tensorflow as tf
from tensorboard import data_compat, dataclass_compat
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors as stub_errors
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as stub_pywrap

from conftest import events_file

RECORD_OVERHEAD = 16  # length (8) + length CRC (4) + data CRC (4)
LAST_RECORDS = 3


@pytest.fixture(scope="module")
def intact():
    """(file bytes, its records as TensorBoard reads them, the byte offset where each ends)."""
    path = events_file("example1")
    data = path.read_bytes()
    records = list(event_file_loader.RawEventFileLoader(str(path)).Load())
    ends = []
    offset = 0
    for record in records:
        offset += len(record) + RECORD_OVERHEAD
        ends.append(offset)
    assert ends and ends[-1] == len(data), "the records do not tile the file"
    assert len(records) > LAST_RECORDS + 5, f"only {len(records)} records"
    first = event_pb2.Event.FromString(records[0])
    assert first.file_version == "brain.Event:2"
    return data, records, ends


def stub_reader_records(path):
    """TensorBoard's pure-Python record reader (tensorboard.compat.tensorflow_stub)."""
    reader = stub_pywrap.PyRecordReader_New(str(path).encode())
    out = []
    while True:
        try:
            reader.GetNext()
        except stub_errors.OutOfRangeError:
            return out, None
        except stub_errors.DataLossError as e:
            return out, e
        out.append(reader.record())


def tf_iterator_records(path):
    """tf.compat.v1.io.tf_record_iterator: yields records, then DataLossError at a partial one."""
    out = []
    try:
        for record in tf.compat.v1.io.tf_record_iterator(str(path)):
            out.append(record)
    except tf.errors.DataLossError as e:
        return out, e
    return out, None


def test_every_cut_keeps_every_complete_record(intact, tmp_path):
    data, records, ends = intact
    start = ends[-LAST_RECORDS - 1]  # where the third-last record begins
    # What EventFileLoader makes of the whole file, and how many of its events come from the
    # first k records (k = 0..len(records)).
    migrated_intact = []
    migrated_ends = [0]
    initial_metadata = {}
    for record in records:
        event = data_compat.migrate_event(event_pb2.Event.FromString(record))
        migrated_intact += [e.SerializeToString() for e in dataclass_compat.migrate_event(event, initial_metadata)]
        migrated_ends.append(len(migrated_intact))
    whole = tmp_path / "events.out.tfevents.0000000000.whole"
    whole.write_bytes(data)
    assert [e.SerializeToString() for e in event_file_loader.EventFileLoader(str(whole)).Load()] == migrated_intact
    path = tmp_path / "events.out.tfevents.0000000000.cut"
    for cut in range(start, len(data) + 1):
        path.write_bytes(data[:cut])
        complete = sum(1 for end in ends if end <= cut)
        expected = records[:complete]
        at_boundary = cut in ends

        raw = list(event_file_loader.RawEventFileLoader(str(path)).Load())
        assert raw == expected, f"RawEventFileLoader, cut at byte {cut}"

        events = list(event_file_loader.LegacyEventFileLoader(str(path)).Load())
        assert [e.SerializeToString() for e in events] == expected, f"LegacyEventFileLoader, cut at {cut}"

        # The migrating loader the TensorBoard server uses (it may turn one event into several).
        migrated = [e.SerializeToString() for e in event_file_loader.EventFileLoader(str(path)).Load()]
        assert migrated == migrated_intact[: migrated_ends[complete]], f"EventFileLoader, cut at byte {cut}"

        stub, stub_error = stub_reader_records(path)
        assert stub == expected, f"stub reader, cut at byte {cut}: {stub_error}"
        assert (stub_error is None) == at_boundary, f"stub reader, cut at byte {cut}: {stub_error}"

        iterated, tf_error = tf_iterator_records(path)
        assert iterated == expected, f"tf_record_iterator, cut at byte {cut}: {tf_error}"
        # (A cut inside a record header may read as a clean end of file here.)
        if at_boundary:
            assert tf_error is None, f"tf_record_iterator, cut at byte {cut}: {tf_error}"


def test_resumes_when_the_record_is_completed(intact, tmp_path):
    """TensorBoard polls growing files: after a cut mid-record, the rest appears on the next Load."""
    data, records, ends = intact
    path = tmp_path / "events.out.tfevents.0000000000.growing"
    cut = ends[-2] + (ends[-1] - ends[-2]) // 2
    path.write_bytes(data[:cut])
    loader = event_file_loader.RawEventFileLoader(str(path))
    assert list(loader.Load()) == records[:-1]
    with path.open("ab") as f:
        f.write(data[cut:])
    assert list(loader.Load()) == records[-1:]
