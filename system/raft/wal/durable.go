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
// the rename is made durable by syncing the directory.
func writeFileAtomic(dir, path string, data []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("wal: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("wal: rename %s: %w", tmp, err)
	}
	return syncDir(dir)
}
