package results

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser starts a headless Chromium, or skips the test where there is
// none (fails it where $SQUALL_REQUIRE_BROWSER is 1, as in CI).
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("SQUALL_REQUIRE_BROWSER") == "1" {
			t.Fatal("SQUALL_REQUIRE_BROWSER=1 but no chromium on PATH")
		}
		t.Skip("no chromium on PATH")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// A guard against a browser that hangs, not a measure of speed.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestServeInABrowser: in headless Chromium the runs page loads, the
// verdict filter filters, a run's report link opens the report, a test's
// page shows its nights, and a history value holding markup is text.
func TestServeInABrowser(t *testing.T) {
	ctx := browser(t)
	srv := newTestServer(t, storeWithRuns(t))
	web := httptest.NewServer(srv)
	defer web.Close()
	count := func(selector string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(selector)+`).length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// clickAndLoad clicks what selector finds and waits for the page it
	// leads to.
	clickAndLoad := func(selector string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(selector)))); err != nil {
			t.Fatalf("click %s: %v", selector, err)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL+"/"), chromedp.WaitVisible(chromedp.ID("runs"))); err != nil {
		t.Fatal(err)
	}
	if rows := count("tr.run"); rows != 3 {
		t.Errorf("runs page shows %d runs, want 3", rows)
	}
	if n := count("#injected"); n != 0 {
		t.Errorf("a history value's markup became %d element(s)", n)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, markup) {
		t.Errorf("the page does not show the history value %s as text", markup)
	}

	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`select[name="verdict"]`), "invalid")); err != nil {
		t.Fatal(err)
	}
	clickAndLoad("form button")
	if rows := count("tr.run"); rows != 1 {
		t.Errorf("filtered on invalid: %d runs, want 1", rows)
	}

	clickAndLoad("a.report")
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title != "squall report" {
		t.Errorf("the report link led to %q (%v)", title, err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL+"/")); err != nil {
		t.Fatal(err)
	}
	clickAndLoad(`tr.run a[href^="/test/kv-register"]`)
	if nights := count("#strip .night"); nights != 2 {
		t.Errorf("test page: %d nights, want 2", nights)
	}
	if red, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("went-red"))); err != nil || !strings.Contains(red, "red since 2026-12-06") {
		t.Errorf("test page says %q (%v), want red since 2026-12-06", red, err)
	}
}
