package settlement

import (
	"fmt"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// DeckFromLedger converts the versions of one ledger deck (as
// ledger.Store.DeckVersions returns them) into a Deck that NewRater
// compiles. Every version must share the deck's counterparty, direction,
// currency, decimals and rounding (the deck-level settings of a Deck); a
// version that differs fails with ErrBadInput naming it. The ledger's
// empty DurationRounding means DurationUp. The result is validated.
func DeckFromLedger(versions []ledger.DeckVersion) (*Deck, error) {
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: deck has no versions", ErrBadInput)
	}
	first := &versions[0]
	d := &Deck{
		Counterparty: first.Counterparty,
		Currency:     first.Currency,
		Decimals:     first.Decimals,
		Rounding:     first.RoundingMode,
	}
	switch first.Direction {
	case ledger.DirectionSell:
		d.Direction = Sell
	case ledger.DirectionBuy:
		d.Direction = Buy
	default:
		return nil, fmt.Errorf("%w: deck %q: direction %q", ErrBadInput, first.DeckID, first.Direction)
	}
	if first.DurationRounding != "" {
		m, err := ParseDurationMode(first.DurationRounding)
		if err != nil {
			return nil, fmt.Errorf("deck %q: %w", first.DeckID, err)
		}
		d.DurationRounding = m
	}
	for i := range versions {
		v := &versions[i]
		if v.DeckID != first.DeckID || v.Counterparty != first.Counterparty || v.Direction != first.Direction ||
			v.Currency != first.Currency || v.Decimals != first.Decimals || v.RoundingMode != first.RoundingMode ||
			v.DurationRounding != first.DurationRounding {
			return nil, fmt.Errorf("%w: deck %q version %s: deck-level settings differ from version %s",
				ErrBadInput, v.DeckID, v.EffectiveFrom.UTC().Format(time.RFC3339), first.EffectiveFrom.UTC().Format(time.RFC3339))
		}
		dv := DeckVersion{
			ID:             v.EffectiveFrom.UTC().Format(time.RFC3339),
			EffectiveFrom:  v.EffectiveFrom,
			EffectiveUntil: v.EffectiveUntil,
			Rows:           make([]Row, len(v.Rows)),
		}
		for j, r := range v.Rows {
			dv.Rows[j] = Row{
				Prefix:         r.Prefix,
				Description:    r.Description,
				Rate:           r.Rate,
				ConnectFee:     r.ConnectFee,
				FirstIncrement: int64(r.FirstIncrement),
				NextIncrement:  int64(r.NextIncrement),
			}
		}
		d.Versions = append(d.Versions, dv)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}
