package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/squall-chaos/squall/history"
)

// Stored is a run read back from the store, or a bare history file.
type Stored struct {
	// Dir is the run directory; "" for a bare history file.
	Dir         string
	HistoryPath string
	// Spec is spec.json as written; nil if there is none.
	Spec    json.RawMessage
	History history.History
}

// LoadRun reads a run directory's spec.json and history.jsonl, or, given
// a file, that file as a bare history. The history must be well formed
// (history.Validate) and not empty; every error names the file.
func LoadRun(path string) (*Stored, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load run: %w", err)
	}
	s := &Stored{HistoryPath: path}
	if fi.IsDir() {
		s.Dir = path
		s.HistoryPath = filepath.Join(path, HistoryFile)
		specPath := filepath.Join(path, SpecFile)
		spec, err := os.ReadFile(specPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// A directory of histories from elsewhere may have no spec.
		case err != nil:
			return nil, fmt.Errorf("load run: %w", err)
		case !json.Valid(spec):
			return nil, fmt.Errorf("load run: %s is not valid JSON", specPath)
		default:
			s.Spec = spec
		}
	}
	if s.History, err = readHistory(s.HistoryPath); err != nil {
		return nil, err
	}
	return s, nil
}

func readHistory(path string) (history.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	defer f.Close()
	h, err := history.Read(f)
	if err != nil {
		return nil, fmt.Errorf("load history %s: %w", path, err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("load history %s: %w", path, history.ErrNoHistory)
	}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("load history %s: %w", path, err)
	}
	return h, nil
}
