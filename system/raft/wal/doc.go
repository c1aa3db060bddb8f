/*
Package wal keeps a Raft node's log, hard state and snapshots on disk.

Open returns a *Storage, a raft.DurableStorage. Reads are served from a
raft.MemoryStorage holding every live entry, as etcd pairs its WAL with a
MemoryStorage; the files are the durable copy that Open rebuilds it from.
Save does not return until what it was given is on disk: it writes all of
one call's records with one write and makes them durable with one fsync,
so a driver that saves a whole Ready batch at once pays one fsync per
batch, not per entry.

# Files

A storage directory holds two subdirectories:

	wal/0000000000000001.wal   segments, named by sequence number (hex)
	wal/0000000000000002.wal
	snap/0000000000001f40.snap snapshots, named by index (hex)

A segment is a sequence of records, each framed as

	length   uint32  bytes of payload
	type     uint8
	crc      uint32  CRC-32C (Castagnoli) of type and payload
	payload

with all integers little-endian. The record types are:

  - cluster: the peers the storage was created for. Every segment starts
    with one, so any segment can be read without the ones before it.
  - hard state: term, vote, commit. The last one replayed wins. A new
    segment repeats the current hard state after its cluster record, so
    removing older segments never loses it.
  - entries: a first index, then for each consecutive entry its term, data
    length and data. One Save's entries go into as few records as possible
    (one per MiB or so). Replaying an entry at index i discards every entry
    at or after i held before it, as raft.MemoryStorage.Append does: the
    leader overwrote them. An entry with empty data reads back with nil
    Data.
  - snapshot: the index and term of a snapshot that Save installed. It
    discards every entry held before it.

Save writes at most one snapshot record, then the entry records, then one
hard state record. Once a segment reaches the segment size (64 MiB by
default) the next Save starts a new one. New segments, like snapshot files,
are written under a temporary name, fsynced, renamed into place, and the
directory fsynced, so no file is ever seen half-made under its real name.

A snapshot file holds, after a CRC-32C of the rest of the file: whether
Save installed it (received from a leader) or CreateSnapshot took it, its
index, term and peers, the base (index and term of the last entry the log
was compacted to when it was written, which may be below the snapshot's
index when CreateSnapshot keeps entries for slow followers), and the state
machine data.

# Recovery

Open reads everything before it changes anything. It loads the newest
snapshot, then replays every segment in order, keeping the entries after the
snapshot's base, and rebuilds the MemoryStorage from the result.

A crash can leave three kinds of debris, and Open clears each, logging it
to Options.Logger:

  - A torn tail: the last segment ends in a record that runs past the end
    of the file, or one that fails its CRC and is followed by nothing but
    zero bytes. No Save acknowledged such a record (Save returns only after
    the fsync), so the file is truncated where it starts, and fsynced.
  - Temporary files: a segment, snapshot or WAL directory whose write never
    finished. They are removed.
  - An installed snapshot without its snapshot record: Save wrote the file
    but crashed before the WAL made the installation durable. The Save was
    never acknowledged, so the file is removed and replay uses the snapshot
    before it. (This is why the two newest snapshots are kept.)

Anything else that does not read back exactly as written is corruption,
and Open refuses to start with a *CorruptError naming the file and the
offset of the bad record, leaving every file as it was: a bad record in any
segment but the last, or one followed by further data; a record whose
payload does not decode; entries that leave a gap; a snapshot record with
no snapshot file; a newest snapshot failing its CRC (Open does not fall
back to an older one, since the WAL may no longer hold what lies between
them). Reopening with peers other than those the storage was created with
is refused too.

One kind of damage cannot be told apart from a torn write: a flipped bit in
the length field of a record in the last segment that makes it run past the
end of the file. Recovery treats it as a torn tail.

# Compaction

CreateSnapshot writes the snapshot file, compacts memory, removes all but
the two newest snapshot files, and removes, oldest first, the segments
that wrote no entry above the new compaction point. Save does the same
after installing a snapshot. The last segment is never removed.
WriteSnapshot writes the file alone, on the caller's goroutine, holding
the log's lock only to read the terms it records (and, under SkipFsync,
to sync the log); the CreateSnapshot at its index then does the rest. A
crash between the two recovers from the written file, whose log is all
still there. Memory keeps only the latest snapshot's metadata; Snapshot
reads the image from its file.

A Storage refuses every write after a write or fsync fails, since the
files may then hold more or less than memory does; reopening recovers.

# Power loss, failpoints and a planted bug

A process that is killed loses nothing it wrote: the operating system's
page cache holds it. A power cut loses what was written and not synced.
Chaos tests need the second too, and a container cannot mount Jepsen's
lazyfs (FUSE), so with Options.LoseUnsynced the storage keeps everything
written to a segment or snapshot file since its last sync in the
process's own memory and hands it to the operating system only when it
syncs it. Killing the process then loses exactly the unsynced writes, as
a power cut would. Save and snapshots behave otherwise as in normal mode:
every Save syncs before it returns, so nothing it acknowledged is lost.
Close hands what is pending to the operating system unsynced (a clean
exit is not a power cut); Abandon drops it, simulating the kill in tests.

Metadata is not deferred: creating, renaming, truncating and removing
files, and syncing directories, reach the operating system at once in
either mode. Every such change is followed by a sync of its directory
before anything depends on it, and recovery already copes with a change
whose directory sync never happened (a leftover temporary file, an
unconfirmed installed snapshot), so the mode does not model a power cut
that undoes a metadata change; it models the loss of data writes.

Options.Failpoints marks FailBeforeSync and FailAfterSync around the fsync
of every Save, for every Raft group of a node that shares the registry.
An error there fails the Save as a failed fsync would.

Options.SkipFsync plants a bug for chaos tests to find: Save returns
without fsyncing its records, and a background flush syncs them every five
seconds. A kill cannot reveal it; a power cut loses acknowledged entries
and hard state. The Saves that install a snapshot, CreateSnapshot and a
segment's rotation still sync what is pending first, so a lost tail never
leaves the snapshot files ahead of the log or a hole before the last
segment: the bug loses a suffix of the log, as skipped fsyncs on a real
disk would at worst.
*/
package wal
