package cmd

import (
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
)

// The billing identity flags of `network init`, `member add|update` and
// `peer add`: how statements name a party (postal address, tax id,
// billing email) and its payment terms. The address is one flag with its
// lines separated by ';' because urfave/cli splits repeated slice flags
// at commas, and an address line often holds one ("Springfield, IL").

// billingFlags returns the flags; env names their environment variables;
// termsUsage says what -1 (the default) means for this kind of party.
func billingFlags(env func(string) []string, termsUsage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "address", Usage: "postal address printed on statements, lines separated by ';' (at most 6 lines of 100 bytes), e.g. \"ACME Inc.; 500 Main St; Springfield, IL 62701\"", EnvVars: env("address")},
		&cli.StringFlag{Name: "tax-id", Usage: "VAT or registration number printed on statements", EnvVars: env("tax-id")},
		&cli.StringFlag{Name: "billing-email", Usage: "where statements go, printed on them", EnvVars: env("billing-email")},
		&cli.IntFlag{Name: "payment-terms-days", Usage: "a statement is due this many days after its issue date (0..366; 0: on issue); -1: " + termsUsage, Value: -1, EnvVars: env("payment-terms-days")},
	}
}

// addressLines splits the --address flag into lines ("" is no address).
func addressLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, ";") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// billingFromFlags is the identity the flags give (all of them, as add
// replaces the whole record), or a usage error.
func billingFromFlags(c *cli.Context) (ledger.BillingIdentity, error) {
	var b ledger.BillingIdentity
	return b, updateBilling(c, &b, false)
}

// updateBilling changes the fields of b whose flags are given (onlySet),
// or all of them; -1 terms clear an override.
func updateBilling(c *cli.Context, b *ledger.BillingIdentity, onlySet bool) error {
	given := func(flag string) bool { return !onlySet || c.IsSet(flag) }
	if given("address") {
		b.Address = addressLines(c.String("address"))
	}
	if given("tax-id") {
		b.TaxID = strings.TrimSpace(c.String("tax-id"))
	}
	if given("billing-email") {
		b.BillingEmail = strings.TrimSpace(c.String("billing-email"))
	}
	if given("payment-terms-days") {
		switch d := c.Int("payment-terms-days"); {
		case d == -1:
			b.PaymentTermsDays = nil
		case d < 0 || d > ledger.MaxPaymentTermsDays:
			return usage("--payment-terms-days %d: want 0..%d, or -1 for none", d, ledger.MaxPaymentTermsDays)
		default:
			b.PaymentTermsDays = &d
		}
	}
	if p := b.Problems(); len(p) > 0 {
		return usage("billing identity: %s", strings.Join(p, "; "))
	}
	return nil
}

// termsText is payment terms as people read them; inherited says what
// no terms of its own mean for this party.
func termsText(b ledger.BillingIdentity, inherited string) string {
	if b.PaymentTermsDays == nil {
		return inherited
	}
	if *b.PaymentTermsDays == 0 {
		return "due on issue"
	}
	return strconv.Itoa(*b.PaymentTermsDays) + " days"
}

// addBillingRows appends a party's billing identity to a FIELD/VALUE table.
func addBillingRows(t *table, b ledger.BillingIdentity, inherited string) {
	t.add("address", orDash(strings.Join(b.Address, "; ")))
	t.add("tax id", orDash(b.TaxID))
	t.add("billing email", orDash(b.BillingEmail))
	t.add("payment terms", termsText(b, inherited))
}
