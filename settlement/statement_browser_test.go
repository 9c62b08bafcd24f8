package settlement

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// requireBrowserEnv makes a missing browser a failure instead of a skip
// (.ci/run sets it, and installs Debian's chromium).
const requireBrowserEnv = "OSPNODE_REQUIRE_BROWSER"

// findBrowser returns the path of a Chromium to drive, or skips the test
// (only when none is installed and requireBrowserEnv is unset).
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireBrowserEnv) != "" {
		t.Fatalf("no chromium on PATH and %s is set: apt-get install -y chromium", requireBrowserEnv)
	}
	t.Skipf("no chromium on PATH (apt-get install -y chromium; set %s=1 to make this a failure)", requireBrowserEnv)
	return ""
}

// pageFacts is what the browser reports about a rendered statement.
type pageFacts struct {
	ScrollWidth, ClientWidth int
	Owes                     string
	OwesVisible              bool
	Totals                   string
	TotalsVisible            bool
	Sticking                 []string // tables wider than the window: id and right edge
	Days                     []dayFacts
	Empty                    string
	EmptyVisible             bool
	HasChart                 bool
}

type dayFacts struct {
	Title              string
	Bars               int
	MinHeight, Width   float64
	Left, Right        float64
	LabelShown         bool
	LabelLeft, LabelRt float64
}

// factsJS measures the page as a person looks at it: what is laid out,
// where, and whether it is inside the window's width.
const factsJS = `(() => {
  const de = document.documentElement;
  const inside = r => r.left >= -0.5 && r.right <= de.clientWidth + 0.5;
  const vis = el => {
    if (!el) return false;
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none' && inside(r);
  };
  const byId = id => document.getElementById(id);
  const text = id => byId(id) ? byId(id).innerText : '';
  return {
    ScrollWidth: de.scrollWidth, ClientWidth: de.clientWidth,
    Owes: [...document.querySelectorAll('.owes')].map(e => e.innerText).join('\n'),
    OwesVisible: [...document.querySelectorAll('.owes')].every(vis) && !!document.querySelector('.owes'),
    Totals: text('totals'), TotalsVisible: vis(byId('totals')),
    Sticking: [...document.querySelectorAll('table')].filter(t => !inside(t.getBoundingClientRect())).map(t => t.id + ' right edge ' + t.getBoundingClientRect().right),
    Days: [...document.querySelectorAll('#chart .day')].map(d => {
      const r = d.getBoundingClientRect(), l = d.querySelector('.lbl span');
      const lr = l ? l.getBoundingClientRect() : {left: 0, right: 0};
      return {Title: d.title, Bars: d.querySelectorAll('.bar').length,
        MinHeight: d.querySelector('.bar.min') ? d.querySelector('.bar.min').getBoundingClientRect().height : -1,
        Width: r.width, Left: r.left, Right: r.right,
        LabelShown: !!l && getComputedStyle(l).visibility !== 'hidden', LabelLeft: lr.left, LabelRt: lr.right};
    }),
    Empty: text('empty'), EmptyVisible: vis(byId('empty')), HasChart: !!byId('chart'),
  };
})()`

// TestStatementInBrowser renders statements, loads them in headless
// Chromium at a desktop (1,280 px) and a phone (375 px) width, and checks
// what a reader sees: no sideways scrolling, the debt sentence and the
// totals on screen with the ledger's figures, one bar pair per day of the
// period (a bar where there were calls, none where there were not),
// labels that do not overlap, and an empty period said in words.
func TestStatementInBrowser(t *testing.T) {
	browser := findBrowser(t)
	// One deadline for the whole browser session: generous, for a busy
	// machine; no step is timed.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if _, err := chromedp.Run(browserCtx, chromedp.Evaluate[int](`1`)); err != nil {
		t.Fatalf("start %s: %v", browser, err)
	}

	dir := t.TempDir()
	page := func(name string, s *Statement) string {
		var buf bytes.Buffer
		if err := s.WriteHTML(&buf); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	look := func(t *testing.T, url string, width int64) pageFacts {
		t.Helper()
		tab, cancel := chromedp.NewContext(browserCtx)
		defer cancel()
		var mobile []chromedp.EmulateViewportOption
		if width < 600 {
			mobile = append(mobile, chromedp.EmulateMobile)
		}
		if err := chromedp.Do(tab, chromedp.EmulateViewport(width, 900, mobile...), chromedp.Navigate(url)); err != nil {
			t.Fatal(err)
		}
		f, err := chromedp.Run(tab, chromedp.Evaluate[pageFacts](factsJS))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	sell := docStatement(t, Sell, "2026-11", docCDRs())
	// A long destination name, as carriers' decks have them, must wrap
	// rather than push the page sideways on a phone.
	long := docCDRs()
	long[0].Description = "Germany Berlin Mobile Premium Services Extended Network Area Numbering Plan Block"
	long[0].Prefix = "4930123456789012"
	pages := []struct{ name, url, owes string }{
		{"sell", page("sell.html", sell), "Carrier A owes Purple peering 1,234.56 USD"},
		{"buy", page("buy.html", docStatement(t, Buy, "2026-11", docCDRs())), "Purple peering owes Carrier A 1,234.56 USD"},
		{"long names", page("long.html", docStatement(t, Sell, "2026-11", long)), "Carrier A owes Purple peering"},
	}
	// Printed (the print CSS with its @page A4 rule, as a finance clerk's
	// "Save as PDF"): A4 pages, and a month's statement on a few of them.
	t.Run("print", func(t *testing.T) {
		tab, cancel := chromedp.NewContext(browserCtx)
		defer cancel()
		if err := chromedp.Do(tab, chromedp.Navigate(pages[0].url)); err != nil {
			t.Fatal(err)
		}
		pdf, err := chromedp.Run(tab, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
		if err != nil {
			t.Fatal(err)
		}
		boxes := regexp.MustCompile(`/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]`).FindAllSubmatch(pdf, -1)
		if len(boxes) == 0 || len(boxes) > 4 {
			t.Fatalf("%d printed pages, want 1 to 4", len(boxes))
		}
		for _, b := range boxes {
			w, _ := strconv.ParseFloat(string(b[1]), 64)
			h, _ := strconv.ParseFloat(string(b[2]), 64)
			if w < 594 || w > 596 || h < 841 || h > 843 { // A4 is 595.28 × 841.89 pt
				t.Errorf("printed page %s × %s pt, want A4", b[1], b[2])
			}
		}
	})
	for _, width := range []int64{1280, 375} {
		for _, pg := range pages {
			t.Run(pg.name+"/"+strconv.FormatInt(width, 10), func(t *testing.T) {
				f := look(t, pg.url, width)
				if f.ScrollWidth > f.ClientWidth {
					t.Errorf("scrolls sideways: scrollWidth %d > clientWidth %d", f.ScrollWidth, f.ClientWidth)
				}
				if len(f.Sticking) > 0 {
					t.Errorf("tables stick out of the %d px window: %v", f.ClientWidth, f.Sticking)
				}
				if !f.OwesVisible || !strings.Contains(f.Owes, pg.owes) {
					t.Errorf("debt sentence %q (visible %v), want %q", f.Owes, f.OwesVisible, pg.owes)
				}
				if !f.TotalsVisible || !strings.Contains(f.Totals, "1,234.56 USD") || !strings.Contains(f.Totals, "1,234.5600 USD") {
					t.Errorf("totals %q (visible %v)", f.Totals, f.TotalsVisible)
				}
				if len(f.Days) != 30 {
					t.Fatalf("%d days in the chart, want the 30 of November", len(f.Days))
				}
				lastLabelRight := -1.0
				for i, d := range f.Days {
					busy := strings.HasPrefix(d.Title, "2026-11-03") || strings.HasPrefix(d.Title, "2026-11-05") || strings.HasPrefix(d.Title, "2026-11-17")
					if d.Bars != 2 || d.Width <= 0 || (busy != (d.MinHeight > 0)) {
						t.Errorf("day %d %q: %d bars, width %.1f, minutes bar %.1f px", i+1, d.Title, d.Bars, d.Width, d.MinHeight)
					}
					if d.LabelShown {
						if d.LabelLeft < lastLabelRight {
							t.Errorf("day %d's label overlaps the one before", i+1)
						}
						if d.LabelLeft < -0.5 || d.LabelRt > float64(f.ClientWidth)+0.5 {
							t.Errorf("day %d's label is cut off", i+1)
						}
						lastLabelRight = d.LabelRt
					}
				}
				if f.Empty != "" {
					t.Errorf("a busy period says %q", f.Empty)
				}
			})
		}
		t.Run("netting/"+strconv.FormatInt(width, 10), func(t *testing.T) {
			var buf bytes.Buffer
			if err := docNetting(t, "2026-11").WriteHTML(&buf); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "netting.html")
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			f := look(t, "file://"+p, width)
			if f.ScrollWidth > f.ClientWidth || len(f.Sticking) > 0 {
				t.Errorf("netting page scrolls sideways: %d > %d, %v", f.ScrollWidth, f.ClientWidth, f.Sticking)
			}
			if !f.OwesVisible || !strings.Contains(f.Owes, "Net: Carrier A pays Purple peering 1,000.00 USD.") || !strings.Contains(f.Owes, "Net: Purple peering pays Carrier A 15.00 EUR.") {
				t.Errorf("netting sentences %q (visible %v)", f.Owes, f.OwesVisible)
			}
		})
		t.Run("empty/"+strconv.FormatInt(width, 10), func(t *testing.T) {
			f := look(t, page("empty.html", docStatement(t, Sell, "2026-10", docCDRs())), width)
			if f.ScrollWidth > f.ClientWidth {
				t.Errorf("scrolls sideways: %d > %d", f.ScrollWidth, f.ClientWidth)
			}
			if !f.EmptyVisible || !strings.Contains(f.Empty, "nothing to settle") || f.HasChart || len(f.Days) != 0 || f.Totals != "" {
				t.Errorf("empty period: message %q (visible %v), chart %v, totals %q", f.Empty, f.EmptyVisible, f.HasChart, f.Totals)
			}
			if !strings.Contains(f.Owes, "owes Purple peering nothing for this period") {
				t.Errorf("empty period's sentence %q", f.Owes)
			}
		})
	}
}
