package cmd

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

// TestStatementPageMatchesLedger: the page `settle statement --output html`
// gets from a node, opened in headless Chromium at 1,280 px, shows the
// figures of the same statement as JSON (which TestSettleOnline checks
// against the exported CDRs): the debt sentence with the invoice amount,
// the exact total, and no sideways scroll. Skips like settlement's
// browser test (no chromium and OSPNODE_REQUIRE_BROWSER unset).
func TestStatementPageMatchesLedger(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		if os.Getenv("OSPNODE_REQUIRE_BROWSER") != "" {
			t.Fatal("no chromium on PATH and OSPNODE_REQUIRE_BROWSER is set: apt-get install -y chromium")
		}
		t.Skip("no chromium on PATH (apt-get install -y chromium; set OSPNODE_REQUIRE_BROWSER=1 to make this a failure)")
	}
	n := openTestNode(t)
	callFlow(t, n, "10", "sp-1", "30.000")
	callFlow(t, n, "20", "sp-2", "130.000")
	now := time.Now().UTC()
	period := now.Add(-time.Hour).Format(time.RFC3339) + "/" + now.Add(time.Hour).Format(time.RFC3339)
	var st struct {
		Amount, Invoice money.Amount
		Owes            string
	}
	if err := json.Unmarshal([]byte(mustCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period, "--output", "json")), &st); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "st.html")
	mustCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period, "--output", "html", "--out", page)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()))...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 900), chromedp.Navigate("file://"+page)); err != nil {
		t.Fatal(err)
	}
	seen, err := chromedp.Run(tab, chromedp.Evaluate[struct {
		Owes, Totals             string
		ScrollWidth, ClientWidth int
	}](`({Owes: document.getElementById('owes').innerText, Totals: document.getElementById('totals').innerText,
	     ScrollWidth: document.documentElement.scrollWidth, ClientWidth: document.documentElement.clientWidth})`))
	if err != nil {
		t.Fatal(err)
	}
	if seen.Owes != st.Owes || !strings.Contains(seen.Owes, "Carrier A owes") || !strings.Contains(seen.Owes, settlement.GroupedAmount(st.Invoice)) {
		t.Errorf("page says %q; the ledger's statement says %q (invoice %s)", seen.Owes, st.Owes, st.Invoice)
	}
	if !strings.Contains(seen.Totals, settlement.GroupDigits(st.Amount.Text())+" USD") {
		t.Errorf("totals on the page %q lack the ledger's exact total %s", seen.Totals, st.Amount)
	}
	if seen.ScrollWidth > seen.ClientWidth {
		t.Errorf("scrolls sideways: %d > %d", seen.ScrollWidth, seen.ClientWidth)
	}
}
