// Package osp implements the Open Settlement Protocol (ETSI TS 101 321) as the
// OSP Toolkit 4.33.1 speaks it: the typed message model, the XML codec
// (beevik/etree), the HTTP framing the toolkit accepts, the three token formats
// (text "V=1", XML TokenInfo, PKCS#7 SignedData) and a Go OSP client with retry
// across service points.
//
// osp knows nothing of members, money or Raft: it turns bytes into messages and
// messages into bytes, issues and verifies tokens, and talks HTTP. Business
// decisions belong to node, federation and settlement.
//
// The rules it enforces on output are those of design/OSP-WIRE.md: every
// component wrapped in <Message>, no whitespace inside leaf values, a Status on
// every response, timestamps as YYYY-MM-DDThh:mm:ssZ, TransactionIds < 2^63,
// extensions of ours marked critical="false".
package osp
