// Package money is ospnode's one amount type: an exact apd decimal that
// carries its ISO 4217 currency. Arithmetic returns (Amount, error); adding
// amounts of different currencies is the typed error ErrCurrencyMismatch; the
// only way to lose digits is Round, called deliberately with a mode.
//
// Every context in this package traps Inexact, so no operation rounds by
// accident. Amounts marshal to JSON and text with value receivers (an
// apd.Decimal inside a struct marshalled by value would silently lose its
// value) and always render in plain notation ("100", never "1E+2").
package money
