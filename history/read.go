package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Format is how a history file is written.
type Format string

const (
	// JSONLines is squall's own format (see the package comment).
	JSONLines Format = "jsonl"
	// JepsenEDN is Jepsen's history.edn (see SingleRegister's file).
	JepsenEDN Format = "edn"
)

// File is a history read from a file by ReadFile.
type File struct {
	Format  Format
	History History
	// Torn is the number of the file's last line if that line was cut
	// short (its writer stopped in the middle of it, as a killed
	// controller does) and left out; 0 if none was.
	Torn int
	// lines[i] is the line event i was read from.
	lines []int32
}

// Line is the line (from 1) event i was read from.
func (f *File) Line(i int) int {
	if i < 0 || i >= len(f.lines) {
		return 0
	}
	return int(f.lines[i])
}

// maxLine is the longest line a history file may have.
const maxLine = 1 << 30

// ReadFile reads a history file, in squall's JSON lines or Jepsen's EDN
// (told apart by the first event: {"... or {:...), streaming it and
// decoding values compactly (see lineDecoder). The history must be well
// formed (Validate). Only the last line may be bad in a way that shows it
// was cut short: it is left out, and File.Torn says so. Every error names
// the file and the line.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	file, err := readFrom(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return file, nil
}

// ReadFrom reads a history as ReadFile does; its errors name the line.
func ReadFrom(r io.Reader) (*File, error) { return readFrom(r, 0) }

// sampleLines is how many events readFrom reads before it sizes the
// history for the rest of a file of known size: a history of millions of
// events grows once, not a dozen times.
const sampleLines = 4096

func readFrom(r io.Reader, size int64) (*File, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	file := &File{}
	var decode func([]byte) (Op, error)
	var bad error // the error of a bad line, if no other line follows it
	badLine := 0
	var read int64
	for line := 1; sc.Scan(); line++ {
		read += int64(len(sc.Bytes())) + 1
		if line == sampleLines && size > read {
			more := int(float64(size-read)/float64(read)*float64(len(file.History))*1.02) + 1
			file.History = slices.Grow(file.History, more)
			file.lines = slices.Grow(file.lines, more)
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || (file.Format != JSONLines && b[0] == ';') { // an EDN comment
			continue
		}
		if bad != nil {
			return nil, bad
		}
		if decode == nil {
			file.Format = sniff(b)
			if file.Format == JepsenEDN {
				decode = decodeEDN
			} else {
				decode = newLineDecoder().decode
			}
		}
		op, err := decode(b)
		if err != nil {
			bad, badLine = fmt.Errorf("line %d: %w", line, err), line
			continue
		}
		file.History = append(file.History, op)
		file.lines = append(file.lines, int32(min(line, 1<<31-1)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	if bad != nil {
		if !errors.Is(bad, errCutShort) {
			return nil, bad
		}
		file.Torn = badLine
	}
	if file.Format == JepsenEDN {
		file.numberJepsen()
		fromJepsen(file.History)
		for i := range file.History {
			if op := &file.History[i]; op.F == "txn" {
				if t, ok := txnOf(op.Value); ok {
					op.Value = t
				}
			}
		}
	}
	if err := file.History.Validate(); err != nil {
		var ev *EventError
		if errors.As(err, &ev) {
			return nil, fmt.Errorf("line %d: %w", file.Line(ev.Event), err)
		}
		return nil, err
	}
	return file, nil
}

// sniff tells the format of a file from its first event.
func sniff(line []byte) Format {
	if line[0] == '#' {
		return JepsenEDN
	}
	rest := bytes.TrimLeft(line[1:], " \t")
	if line[0] == '{' && len(rest) > 0 && rest[0] != '"' && rest[0] != '}' {
		return JepsenEDN
	}
	return JSONLines
}

// numberJepsen gives operations that came without :index their
// position, and those without :time their index.
func (f *File) numberJepsen() {
	for i := range f.History {
		op := &f.History[i]
		if op.Index < 0 {
			op.Index = int64(i)
		}
		if op.Time < 0 {
			op.Time = op.Index
		}
	}
}
