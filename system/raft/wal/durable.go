package wal

import (
	"fmt"
	"os"
)

// syncDir fsyncs a directory, making the creation, renaming or removal of
// the files in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", dir, err)
	}
	return nil
}

// tmpSuffix marks a file being written. Open removes any it finds: the
// write it belonged to never completed, so nothing depends on it.
const tmpSuffix = ".tmp"

// writeFileAtomic makes path hold data, or leaves it as it was: the data
// goes to a temporary file that is fsynced and then renamed over path, and
// the rename is made durable by syncing the directory. lazy is
// Options.LoseUnsynced.
func writeFileAtomic(dir, path string, data []byte, lazy bool) error {
	tmp := path + tmpSuffix
	if err := writeSynced(tmp, data, lazy); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("wal: rename %s: %w", tmp, err)
	}
	return syncDir(dir)
}
