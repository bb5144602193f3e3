"""The structures that keep writers apart: PartitionedLength here (the
trees are tested through the storage)."""

import transaction

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.partitions import PARTITION, PartitionedLength
from cybertools_tracking.storage import TrackingStorage


def test_a_partitioned_length_counts_in_the_slot_of_the_partition():
    length = PartitionedLength()
    length.change(5, 1)
    length.change(PARTITION + 5, 1)
    length.change(PartitionedLength.SLOTS * PARTITION + 7, 1)
    length.change(5, -1)
    assert length() == 2
    assert [slot() for slot in length._slots[:2]] == [1, 1]


def test_writers_in_different_partitions_change_different_records(tmp_path):
    db = open_db(str(tmp_path / 'tracking.fs'))
    with db.transaction() as connection:
        get_storage(connection).saveUserTrack('a', 0, 'seed', {})
    managers = [transaction.TransactionManager() for _ in range(2)]
    storages = [get_storage(db.open(m)) for m in managers]
    nums = [int(s.saveUserTrack('a', 0, 'u%d' % n, {}))
            for n, s in enumerate(storages)]
    changed = [{slot._p_oid for slot in s._counts._slots if slot._p_changed}
               for s in storages]
    assert changed[0] and changed[1] and not changed[0] & changed[1]
    for manager in managers:
        manager.commit()
    with db.transaction() as connection:
        assert len(get_storage(connection)) == 3
    assert nums[0] // PARTITION != nums[1] // PARTITION
    db.close()


def test_a_storage_from_before_counts_in_its_single_length():
    st = TrackingStorage()
    del st._counts                 # as an old pickle loads: the class default
    st.saveUserTrack('a', 0, 'u', {})
    second = st.saveUserTrack('a', 0, 'u', {})
    st.removeTrack(second)
    assert len(st) == st._count() == 1


def test_reindexing_corrects_the_count():
    st = TrackingStorage()
    for n in range(3):
        st.saveUserTrack('a', 0, 'u', {})
    st._count.change(5)
    st.reindexTracks()
    assert len(st) == 3
