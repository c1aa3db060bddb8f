package results

import (
	"bytes"
	_ "embed"
	"encoding/xml"
	"fmt"
	"html/template"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// A suite's folder, beside the runs of its tests:
//
//	store/suites/<suite-name>/<timestamp>/
//	  suite.json   every test's spec, verdict, run directory and anomalies
//	  junit.xml    one test case per run, for CI
//	  index.html   the suite page, linking each run's report
const (
	SuitesDir      = "suites"
	SuiteFile      = "suite.json"
	JUnitFile      = "junit.xml"
	SuitePageFile  = "index.html"
	verdictErrored = "error"
)

// SuiteTest is one test of a suite as it ended.
type SuiteTest struct {
	Name string `json:"name"`
	// Spec is what was run (harness.Spec).
	Spec any `json:"spec"`
	// Verdict is the run's verdict, or "error" if the harness failed
	// before reaching one (Error says why), or "" if it never ran.
	Verdict string `json:"verdict"`
	Error   string `json:"error,omitempty"`
	// Dir is the run's directory.
	Dir      string        `json:"dir,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// Anomalies are the invalid checkers' anomaly counts, by kind.
	Anomalies map[string]int `json:"anomalies,omitempty"`
	// Summary is the invalid or unknown checkers' summaries, one a line.
	Summary string `json:"summary,omitempty"`
	// FirstAnomaly is how long after the run's first operation the first
	// operation in an anomaly began; zero if none.
	FirstAnomaly time.Duration `json:"first_anomaly_ns,omitempty"`
	// Bug is the planted bug the test is to reveal, in a selfcheck.
	Bug string `json:"bug,omitempty"`
}

// Errored reports whether the harness failed before a verdict.
func (t SuiteTest) Errored() bool { return t.Verdict == verdictErrored }

// ErroredTest is a test the harness could not take to a verdict.
func ErroredTest(name string, spec any, dir string, took time.Duration, err error) SuiteTest {
	return SuiteTest{Name: name, Spec: spec, Verdict: verdictErrored, Error: err.Error(), Dir: dir, Duration: took}
}

// Suite is suite.json.
type Suite struct {
	Name     string        `json:"name"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	// Verdict is the worst of the tests': invalid over unknown over valid;
	// a test the harness failed counts as unknown.
	Verdict checker.Verdict `json:"verdict"`
	Tests   []SuiteTest     `json:"tests"`
	// Interrupted: the suite was stopped before every test ran.
	Interrupted bool `json:"interrupted,omitempty"`
	// Detection is a selfcheck's table.
	Detection []Detection `json:"detection,omitempty"`
}

// Detection is one row of a selfcheck: how often a planted bug was caught
// (or, with Bug empty, how often a clean configuration cried wolf).
type Detection struct {
	System string `json:"system"`
	Bug    string `json:"bug,omitempty"`
	// Config names the runs: the workload and faults.
	Config string `json:"config"`
	Runs   int    `json:"runs"`
	// Invalid is how many runs were invalid: catches for a bug, false
	// alarms for a clean row. Errors are runs the harness failed.
	Invalid, Errors int
	// MedianFirstAnomaly is the median, over the catches, of the time to
	// the first anomalous operation.
	MedianFirstAnomaly time.Duration `json:"median_first_anomaly_ns,omitempty"`
}

// SuiteVerdict is the worst verdict of tests.
func SuiteVerdict(tests []SuiteTest) checker.Verdict {
	v := checker.Valid
	for _, t := range tests {
		switch checker.Verdict(t.Verdict) {
		case checker.Invalid:
			return checker.Invalid
		case checker.Valid:
		default:
			v = checker.Unknown
		}
	}
	return v
}

// NewSuiteDir creates store/suites/<name>/<timestamp> for a suite
// starting now.
func NewSuiteDir(storeDir, name string, now time.Time) (string, error) {
	if err := checkTestName(name); err != nil {
		return "", fmt.Errorf("suite name: %w", err)
	}
	dir, _, err := newTimestampDir(filepath.Join(storeDir, SuitesDir, name), now)
	if err != nil {
		return "", fmt.Errorf("create suite directory: %w", err)
	}
	return dir, nil
}

// WriteSuite writes suite.json, junit.xml and index.html into dir.
func WriteSuite(dir string, s Suite) error {
	if err := writeJSON(filepath.Join(dir, SuiteFile), s); err != nil {
		return err
	}
	junit, err := JUnit(dir, s)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, JUnitFile), junit); err != nil {
		return err
	}
	var page bytes.Buffer
	if err := suiteTemplate.Execute(&page, suitePage(dir, s)); err != nil {
		return fmt.Errorf("render suite page: %w", err)
	}
	return writeFile(filepath.Join(dir, SuitePageFile), page.Bytes())
}

// ReadSuite reads a suite.json.
func ReadSuite(path string) (Suite, error) { return readJSON[Suite](path, "suite") }

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit is the suite as JUnit XML: one test case per run, named by the
// test and its place in the suite; an invalid or unknown run is a failure
// whose message is its anomalies and whose text links its report, a
// harness error an error, a test never run skipped.
func JUnit(dir string, s Suite) ([]byte, error) {
	js := junitSuite{Name: s.Name, Tests: len(s.Tests), Time: junitSeconds(s.Duration)}
	for i, t := range s.Tests {
		c := junitCase{Name: fmt.Sprintf("%d %s", i+1, t.Name), Classname: "squall." + s.Name, Time: junitSeconds(t.Duration)}
		report := ""
		if t.Dir != "" {
			report = "report: " + filepath.Join(t.Dir, ReportFile) + "\n"
		}
		switch {
		case t.Verdict == "":
			c.Skipped = &junitProblem{Message: "not run: the suite was interrupted"}
			js.Skipped++
		case t.Errored():
			c.Error = &junitProblem{Message: history.AbbreviateString(t.Error), Type: "harness-error", Text: report + t.Error}
			js.Errors++
		case checker.Verdict(t.Verdict) != checker.Valid:
			msg := t.Verdict
			if len(t.Anomalies) > 0 {
				msg += ": " + anomalyCounts(t.Anomalies)
			}
			c.Failure = &junitProblem{Message: msg, Type: t.Verdict, Text: report + t.Summary}
			js.Failures++
		}
		js.Cases = append(js.Cases, c)
	}
	out, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{js}}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode JUnit: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

func junitSeconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// anomalyCounts is "3 nonlinearizable, 1 lost-update", kinds sorted.
func anomalyCounts(counts map[string]int) string {
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[kind], kind))
	}
	return strings.Join(parts, ", ")
}

//go:embed suite.html.tmpl
var suiteTemplateText string

var suiteTemplate = template.Must(template.New("suite").Funcs(template.FuncMap{
	"seconds": func(d time.Duration) string { return d.Round(time.Second).String() },
	"inc":     func(i int) int { return i + 1 },
}).Parse(suiteTemplateText))

type suitePageData struct {
	Suite
	Rows []suiteRow
}

type suiteRow struct {
	SuiteTest
	// Report is the run's report relative to the suite page.
	Report    string
	Anomalies string
}

func suitePage(dir string, s Suite) suitePageData {
	page := suitePageData{Suite: s}
	for _, t := range s.Tests {
		row := suiteRow{SuiteTest: t, Anomalies: anomalyCounts(t.Anomalies)}
		if t.Dir != "" {
			if rel, err := filepath.Rel(dir, filepath.Join(t.Dir, ReportFile)); err == nil {
				row.Report = filepath.ToSlash(rel)
			}
		}
		if row.Verdict == "" {
			row.Verdict = "not run"
		}
		page.Rows = append(page.Rows, row)
	}
	return page
}
