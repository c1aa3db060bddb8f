package wal

import "fmt"

// CorruptError reports damage the WAL will not repair on its own: a bad
// record anywhere but the torn tail of the last segment, a record that
// contradicts the others, or a snapshot file that fails its checksum.
// Open returns it without modifying any file, so an operator can inspect
// the data.
type CorruptError struct {
	Path   string
	Offset int64 // of the bad record; -1 when the whole file is bad
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("wal: corrupt file %s: %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("wal: corrupt record in %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}
