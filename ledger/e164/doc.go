// Package e164 is ospnode's one type for telephone numbers: an E.164
// number held as its digits (no '+', no spaces), parsed once where it
// enters the system (the OSP edge in node, a CDR or deck file in
// settlement) so that everything behind the edge compares and looks up
// digits only. It sits under ledger, beside money, so that every package
// that handles numbers (ledger, settlement, node) may import it; it imports
// nothing of ospnode.
package e164
