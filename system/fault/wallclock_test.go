package fault

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// wallClockFuncs are the functions of package time that read the host's
// clock or wait on it. Code of a node that used them would escape the
// injectable clock, and so every clock fault.
var wallClockFuncs = map[string]bool{
	"Now": true, "Since": true, "Until": true, "After": true, "AfterFunc": true,
	"NewTimer": true, "NewTicker": true, "Tick": true, "Sleep": true,
}

// TestSystemReadsNoWallClock parses every non-test Go file under system/
// outside this package and fails on any use of a function of package time
// that reads or waits on the host's clock: everything time-dependent in a
// node must go through its Clock, which is what makes clock faults real.
// (Durations, time.Time arithmetic and the like are fine.)
func TestSystemReadsNoWallClock(t *testing.T) {
	system, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(system, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == self {
				return filepath.SkipDir // the clock's own implementations
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, use := range wallClockUses(f) {
			rel, _ := filepath.Rel(system, fset.Position(use.Pos()).Filename)
			t.Errorf("system/%s:%d: %s reads the host's clock; use the node's fault.Clock",
				filepath.ToSlash(rel), fset.Position(use.Pos()).Line, use.Sel.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("parsed %d files under %s; the walk missed the tree", files, system)
	}
}

// wallClockUses returns the selectors of f that name a function of
// wallClockFuncs in package time, called or not, under whatever name f
// imports the package.
func wallClockUses(f *ast.File) []*ast.SelectorExpr {
	var names []string
	for _, imp := range f.Imports {
		if path, _ := strconv.Unquote(imp.Path.Value); path != "time" {
			continue
		}
		switch {
		case imp.Name == nil:
			names = append(names, "time")
		case imp.Name.Name != "_":
			names = append(names, imp.Name.Name)
		}
	}
	var uses []*ast.SelectorExpr
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok || !wallClockFuncs[sel.Sel.Name] {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok {
			for _, name := range names {
				if x.Name == name {
					uses = append(uses, sel)
				}
			}
		}
		return true
	})
	return uses
}

// The check must see calls under the import's own name, an alias, and
// uses that only take the function's value.
func TestWallClockUsesFound(t *testing.T) {
	src := `package p

import (
	"time"
	clk "time"
)

var now = time.Now

func f() {
	time.Sleep(time.Second)
	<-clk.After(time.Duration(1))
	_ = time.Duration(0).String()
	var t time.Time
	_ = t.Sub(t)
}
`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, use := range wallClockUses(f) {
		got = append(got, use.Sel.Name)
	}
	if want := "Now Sleep After"; strings.Join(got, " ") != want {
		t.Errorf("found %q, want %q", strings.Join(got, " "), want)
	}
}
