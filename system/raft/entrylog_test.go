package raft

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestEntryLogMatchesASliceOfEntries: random appends (overwriting
// tails), compactions and reads of an entryLog agree with a plain slice of
// entries, and Data handed out never changes afterwards.
func TestEntryLogMatchesASliceOfEntries(t *testing.T) {
	for seed := range uint64(10) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			log := newEntryLog(0, 0)
			model := []Entry{{}} // model[0]: the dummy, as MemoryStorage had it
			type handed struct {
				data []byte
				want string
			}
			var out []handed
			term := uint64(1)
			for step := range 2000 {
				last := model[0].Index + uint64(len(model)) - 1
				switch op := rng.IntN(10); {
				case op < 6: // append, maybe overwriting a tail
					from := last + 1
					if back := uint64(rng.IntN(4)); back > 0 && back < from && from-back > model[0].Index {
						from -= back
						term++
					}
					var ents []Entry
					for i := range uint64(1 + rng.IntN(5)) {
						size := rng.IntN(64)
						if rng.IntN(500) == 0 {
							size = chunkSize + rng.IntN(100) // an entry larger than a chunk
						}
						data := bytes.Repeat([]byte{byte(step)}, size)
						ents = append(ents, Entry{Index: from + i, Term: term, Data: data})
					}
					log.append(ents)
					model = append(model[:from-model[0].Index:from-model[0].Index], ents...)
				case op < 7 && last > model[0].Index: // compact
					index := model[0].Index + 1 + uint64(rng.IntN(int(last-model[0].Index)))
					log.compact(index)
					i := index - model[0].Index
					model = append([]Entry{{Index: index, Term: model[i].Term}}, model[i+1:]...)
				default: // read
					if last == model[0].Index {
						continue
					}
					lo := model[0].Index + 1 + uint64(rng.IntN(int(last-model[0].Index)))
					hi := lo + uint64(rng.IntN(int(last-lo)+2))
					maxBytes := uint64(rng.IntN(400))
					got := log.entries(lo, hi, maxBytes)
					want := limitSize(model[lo-model[0].Index:hi-model[0].Index], maxBytes)
					if len(got) != len(want) {
						t.Fatalf("step %d: entries(%d, %d, %d): %d entries, want %d", step, lo, hi, maxBytes, len(got), len(want))
					}
					for i := range want {
						g, w := got[i], want[i]
						if g.Index != w.Index || g.Term != w.Term || !bytes.Equal(g.Data, w.Data) {
							t.Fatalf("step %d: entry %d = {%d %d %d bytes}, want {%d %d %d bytes}", step, w.Index, g.Index, g.Term, len(g.Data), w.Index, w.Term, len(w.Data))
						}
						out = append(out, handed{data: g.Data, want: string(w.Data)})
					}
				}
				if log.offset() != model[0].Index || log.lastIndex() != model[0].Index+uint64(len(model))-1 {
					t.Fatalf("step %d: log [%d, %d], want [%d, %d]", step, log.offset(), log.lastIndex(), model[0].Index, model[0].Index+uint64(len(model))-1)
				}
				if step%50 != 0 {
					continue
				}
				for i, e := range model {
					if got := log.term(e.Index); got != e.Term {
						t.Fatalf("step %d: term(%d) = %d, want %d (record %d)", step, e.Index, got, e.Term, i)
					}
				}
			}
			for _, h := range out {
				if string(h.data) != h.want {
					t.Fatalf("data handed out changed: %d bytes, want %d", len(h.data), len(h.want))
				}
			}
		})
	}
}

// TestEntryLogHoldsNoPointerPerEntry: an entry's record holds no pointer
// for the GC to follow, entries' data share chunks, and compaction
// releases the chunks only compacted entries used.
func TestEntryLogHoldsNoPointerPerEntry(t *testing.T) {
	rt := reflect.TypeFor[entryRecord]()
	for i := range rt.NumField() {
		switch rt.Field(i).Type.Kind() {
		case reflect.Uint32, reflect.Uint64:
		default:
			t.Errorf("entryRecord.%s is a %s: a record must hold no pointer", rt.Field(i).Name, rt.Field(i).Type)
		}
	}
	log := newEntryLog(0, 0)
	data := make([]byte, 40)
	const n = 100_000
	allocs := testing.AllocsPerRun(1, func() {
		for range n {
			log.append([]Entry{{Index: log.lastIndex() + 1, Term: 1, Data: data}})
		}
	})
	// The records' slice grows by doubling and the data fills 1 MiB
	// chunks: a few dozen allocations for 100,000 entries, not one each.
	if allocs > 100 {
		t.Errorf("%v allocations to hold %d entries of %d bytes", allocs, n, len(data))
	}
	// (AllocsPerRun ran the appends twice.)
	held := int(log.lastIndex()) * len(data)
	if want := held/chunkSize + 1; len(log.chunks) > want {
		t.Errorf("%d chunks hold %d bytes of data, want at most %d", len(log.chunks), held, want)
	}
	log.compact(log.lastIndex() - 10)
	if len(log.chunks) != 1 {
		t.Errorf("%d chunks kept after compacting all but 10 entries, want 1", len(log.chunks))
	}
	if got := log.entries(log.lastIndex()-9, log.lastIndex()+1, 1<<30); len(got) != 10 || !bytes.Equal(got[9].Data, data) {
		t.Errorf("after compaction: %d entries", len(got))
	}
}
