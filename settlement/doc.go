// Package settlement owns the money rules of design/SETTLEMENT.md: rating
// (longest prefix, version in force at connect time, billing increments, one
// rounding per CDR, exact apd decimals), routing and credit policy, statements
// and invoices, netting, reconciliation against a counterparty's CDRs and
// dispute decisions.
//
// settlement does no I/O of its own other than through the interfaces it
// declares (readers, writers, a ledger view) and the temporary spill files
// of ReconcileStream (in a directory the caller names); the CLI and node
// feed it.
//
// The pieces:
//
//   - Deck, DeckVersion, Row and ReadDeckCSV: rate decks, validated whole (a
//     deck with any bad line is rejected with a *DeckError naming every bad
//     line and field).
//   - Rater (NewRater, Rate): a compiled deck, immutable and safe for
//     concurrent use; BillableSeconds, WholeSeconds and Cost are the rules it
//     applies, exported for callers that rate without a deck.
//   - CDR, ColumnMap, CDRFormat, ReadCDRs, WriteCDRs: carriers' CDR files;
//     CDRReader and CDRWriter read and write them one record at a time
//     (RowError: a bad record with its reason, the reader carries on).
//   - RateStream (RateSummary, RejectTally, RejectWriter): rating a file of
//     any length, every record rated or rejected with its reason.
//   - Reconcile, ReconcileInternal, Report: matching and dispute decisions;
//     ReconcileStream: the same over files larger than memory, partitioned
//     on disk; ReportWriter streams a report.
//   - BuildStatement, StatementBuilder, Statement, Convert, Net: statements,
//     invoices, netting; ParseFX, FXTable: dated exchange rates;
//     StatementHeading, Debt, Number and WriteHTML / WritePDF: the statement
//     as a document to send (who owes whom, named parties, number, dates).
//   - MinorUnit: ISO 4217 minor units, embedded from datasets/country-codes.
//   - Policy (NewPolicy, Rank, MarginOK, Seed), CallCredit.Grant,
//     SecondsFor, HoldAmount, MinuteCost, Translate: the routing and credit
//     policy of an authorisation (LCR order, margins, time limits, holds),
//     as pure functions of decks, costs and credit; node resolves the
//     candidates and asks. Rank also orders by route quality's verdicts
//     (Candidate.Quality: probed, healthy, demoted; excluded dropped).
//   - Subpackage quality: route quality windows (ASR, NER, ACD, PDD, …)
//     per candidate and prefix, thresholds with hysteresis and a probe
//     share.
//
// No float is used anywhere: every amount is a money.Amount (apd); the only
// roundings are the one per CDR (deck decimals and mode) and the invoice
// line's to the currency minor unit, whose difference is shown. DESIGN.md
// explains the choices.
package settlement
