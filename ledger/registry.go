package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// commandSpec is everything the ledger knows of one command type, in one
// place (as Consul registers its FSM commands): adding a command type or a
// version is one entry here plus its apply method. Type numbers are never
// renumbered or reused; testdata/commands pins every type and version as
// bytes (TestCommandFixtures).
type commandSpec struct {
	name string
	// versions this build applies; Encode writes the highest that the
	// command's content needs (a version is only written when used, so a
	// log without it replays byte for byte on older builds).
	versions []byte
	// decode returns the command of payload p at version v (Decode).
	decode func(p []byte, v byte) (Command, error)
	// apply decodes payload p at version v and applies it as the pos-th
	// command of the entry. The hot types decode into a value, with no
	// interface boxing.
	apply func(a *applier, pos int, p []byte, v byte) *Result
}

// commands registers every command type of this build.
var commands = map[CommandType]*commandSpec{
	TypeSetNetwork: {
		name:     "SetNetwork",
		versions: []byte{CommandVersion, SetNetworkVersionCreate},
		decode: func(p []byte, v byte) (Command, error) {
			if v == SetNetworkVersionCreate {
				var c CreateNetwork
				err := decodeJSONInto(p, &c)
				return c, err
			}
			var c SetNetwork
			err := decodeJSONInto(p, &c)
			return c, err
		},
		apply: func(a *applier, _ int, p []byte, v byte) *Result {
			if v == SetNetworkVersionCreate {
				var c CreateNetwork
				if err := decodeJSONInto(p, &c); err != nil {
					return invalidPayload(TypeSetNetwork, err)
				}
				return a.createNetwork(&c)
			}
			var c SetNetwork
			if err := decodeJSONInto(p, &c); err != nil {
				return invalidPayload(TypeSetNetwork, err)
			}
			return a.setNetwork(&c)
		},
	},
	TypePutMember:       jsonCommand("PutMember", func(a *applier, c *PutMember) *Result { return a.putMember(c) }),
	TypeSetMemberStatus: jsonCommand("SetMemberStatus", func(a *applier, c *SetMemberStatus) *Result { return a.setMemberStatus(c) }),
	TypePutTrunk:        jsonCommand("PutTrunk", func(a *applier, c *PutTrunk) *Result { return a.putTrunk(c) }),
	TypeRemoveTrunk: jsonCommand("RemoveTrunk", func(a *applier, c *RemoveTrunk) *Result {
		return a.remove(bTrunks, []byte(c.ID), "trunk", &a.gens.Trunks)
	}),
	TypePutPeer: jsonCommand("PutPeer", func(a *applier, c *PutPeer) *Result { return a.putPeer(c) }),
	TypeRemovePeer: jsonCommand("RemovePeer", func(a *applier, c *RemovePeer) *Result {
		return a.remove(bPeers, []byte(c.ID), "peer", &a.gens.Peers)
	}),
	TypePutRoutes: jsonCommand("PutRoutes", func(a *applier, c *PutRoutes) *Result { return a.putRoutes(c) },
		PutRoutesVersionQuality),
	TypeRemoveRoute: jsonCommand("RemoveRoute", func(a *applier, c *RemoveRoute) *Result {
		return a.remove(bRoutes, routeKey(c.Prefix), "route", &a.gens.Routes)
	}),
	TypePutDeckVersion: jsonCommand("PutDeckVersion", func(a *applier, c *PutDeckVersion) *Result { return a.putDeckVersion(c) }),
	TypeAuthorize: {
		name:     "Authorize",
		versions: []byte{1, AuthorizeVersion, AuthorizeVersionAdmission},
		decode:   decodeAuthorize,
		apply: func(a *applier, pos int, p []byte, v byte) *Result {
			c, err := decodeAuthorizeValue(p, v)
			if err != nil {
				return invalidPayload(TypeAuthorize, err)
			}
			return a.authorize(pos, &c)
		},
	},
	TypeRecordUsage: {
		name:     "RecordUsage",
		versions: []byte{1, RecordUsageVersion, RecordUsageVersionOverLimit, RecordUsageVersionLifecycle, RecordUsageVersionPerSide, RecordUsageVersionQuality},
		decode:   decodeRecordUsage,
		apply: func(a *applier, _ int, p []byte, v byte) *Result {
			c, err := decodeRecordUsageValue(p, v)
			if err != nil {
				return invalidPayload(TypeRecordUsage, err)
			}
			return a.recordUsage(&c)
		},
	},
	TypeClosePeriod: jsonCommand("ClosePeriod", func(a *applier, c *ClosePeriod) *Result { return a.closePeriod(c) }),
	TypeAckOutbox:   jsonCommand("AckOutbox", func(a *applier, c *AckOutbox) *Result { return a.ackOutbox(c) }),
	TypeRevokeCert:  jsonCommand("RevokeCert", func(a *applier, c *RevokeCert) *Result { return a.revokeCert(c) }),
	TypePostEntry:   jsonCommand("PostEntry", func(a *applier, c *PostEntry) *Result { return a.postEntry(c) }),
	TypeFraudBlock:  jsonCommand("FraudBlock", func(a *applier, c *FraudBlock) *Result { return a.fraudBlock(c) }),
	TypeFraudRelease: jsonCommand("FraudRelease", func(a *applier, c *FraudRelease) *Result {
		return a.fraudRelease(c)
	}),
}

// jsonCommand registers a configuration command: a JSON payload decoded
// with DisallowUnknownFields (a field from a newer build is Invalid, not
// silently dropped), version CommandVersion and the later versions given
// (whose payloads may carry fields the earlier ones must not: an older
// build stops at the unknown version rather than diverge).
func jsonCommand[T Command](name string, apply func(a *applier, c *T) *Result, later ...byte) *commandSpec {
	return &commandSpec{
		name:     name,
		versions: append([]byte{CommandVersion}, later...),
		decode: func(p []byte, _ byte) (Command, error) {
			var c T
			if err := decodeJSONInto(p, &c); err != nil {
				return nil, err
			}
			return c, nil
		},
		apply: func(a *applier, _ int, p []byte, _ byte) *Result {
			var c T
			if err := decodeJSONInto(p, &c); err != nil {
				return invalidPayload(c.Type(), err)
			}
			return apply(a, &c)
		},
	}
}

func decodeJSONInto(p []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(p))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// invalidPayload is the result for a payload of a known type and version
// that does not decode (the message Decode's error carries).
func invalidPayload(t CommandType, err error) *Result {
	return invalid("%v", fmt.Errorf("%w: %s: %v", ErrInvalid, t, err))
}

// versionSupported reports whether this build applies version v of type t.
func versionSupported(t CommandType, v byte) bool {
	spec := commands[t]
	return spec != nil && bytes.IndexByte(spec.versions, v) >= 0
}

// knownType reports whether t is registered.
func knownType(t CommandType) bool { return commands[t] != nil }
