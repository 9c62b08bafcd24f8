// Package settlement owns the money rules of design/SETTLEMENT.md: rating
// (longest prefix, version in force at connect time, billing increments, one
// rounding per CDR, exact apd decimals), least-cost ordering inputs, statements
// and invoices, netting, reconciliation against a counterparty's CDRs and
// dispute decisions.
//
// settlement does no I/O of its own other than through the interfaces it
// declares (readers, writers, a ledger view); the CLI and node feed it.
package settlement
