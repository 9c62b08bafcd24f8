package ledger

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BillingIdentity is how a party is named on the statements and invoices
// it issues or receives, and when it is asked to pay: the network's own
// (the issuer) and each member's and peer's (the counterparty). It is
// embedded in Network, Member and Peer, so its JSON fields sit beside
// theirs; every field is optional and omitted when empty, so ledgers
// written before it replay byte for byte.
type BillingIdentity struct {
	// Address is the postal address, one line each, as printed.
	Address []string `json:"address,omitempty"`
	// TaxID is a VAT or company registration number, printed as given.
	TaxID string `json:"tax_id,omitempty"`
	// BillingEmail is where statements are sent (shown, never mailed).
	BillingEmail string `json:"billing_email,omitempty"`
	// PaymentTermsDays puts a statement's due date this many days after
	// its issue date (0: due on issue). On the network it is the default
	// for every counterparty; on a member or peer it overrides that. nil:
	// not set (a network without terms prints no due date).
	PaymentTermsDays *int `json:"payment_terms_days,omitempty"`
}

// Bounds of a billing identity: what fits the heading of an A4 statement.
const (
	MaxAddressLines     = 6
	MaxAddressLineBytes = 100
	MaxTaxIDBytes       = 64
	MaxBillingEmail     = 254 // RFC 5321's longest path
	MaxPaymentTermsDays = 366
)

// Problems lists what is wrong with b, each naming the JSON field; nil
// when valid. The applier rejects a record with any (Invalid), and the
// admin API and `ospnode apply` check the same before proposing.
func (b BillingIdentity) Problems() []string {
	var p []string
	if len(b.Address) > MaxAddressLines {
		p = append(p, fmt.Sprintf("address: %d lines, at most %d", len(b.Address), MaxAddressLines))
	}
	for i, l := range b.Address {
		if why := printableText(l, MaxAddressLineBytes); why != "" {
			p = append(p, fmt.Sprintf("address line %d: %s", i+1, why))
		}
	}
	if b.TaxID != "" {
		if why := printableText(b.TaxID, MaxTaxIDBytes); why != "" {
			p = append(p, "tax_id: "+why)
		}
	}
	if b.BillingEmail != "" {
		if why := printableText(b.BillingEmail, MaxBillingEmail); why != "" {
			p = append(p, "billing_email: "+why)
		} else if at := strings.LastIndexByte(b.BillingEmail, '@'); at < 1 || at == len(b.BillingEmail)-1 || strings.ContainsAny(b.BillingEmail, " \t") {
			p = append(p, fmt.Sprintf("billing_email %q: want an address such as billing@example.net", b.BillingEmail))
		}
	}
	if t := b.PaymentTermsDays; t != nil && (*t < 0 || *t > MaxPaymentTermsDays) {
		p = append(p, fmt.Sprintf("payment_terms_days %d: want 0..%d", *t, MaxPaymentTermsDays))
	}
	return p
}

// printableText says why s cannot be printed on a statement ("" when it
// can): empty, longer than max bytes, not UTF-8, or holding a control
// character (a newline would forge another line of the heading).
func printableText(s string, max int) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "empty"
	case len(s) > max:
		return fmt.Sprintf("%d bytes, at most %d", len(s), max)
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Sprintf("%q holds a control character", s)
	}
	return ""
}

// billingInvalid is the applier's Invalid result for a record whose
// billing identity has problems (nil: none).
func billingInvalid(what string, b BillingIdentity) *Result {
	if p := b.Problems(); len(p) > 0 {
		return invalid("%s: %s", what, strings.Join(p, "; "))
	}
	return nil
}

// PaymentTerms returns the payment terms that apply to a counterparty:
// its own override, else the network's default; ok false when neither
// sets any.
func PaymentTerms(network, counterparty BillingIdentity) (days int, ok bool) {
	if t := counterparty.PaymentTermsDays; t != nil {
		return *t, true
	}
	if t := network.PaymentTermsDays; t != nil {
		return *t, true
	}
	return 0, false
}
