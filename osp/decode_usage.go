// Decoding of UsageDetail and its statistics (loss, dispersion, metrics).

package osp

import (
	"github.com/beevik/etree"
)

func decodeUsageDetail(e *etree.Element) (*UsageDetail, error) {
	if err := onlyOnce(e, "Amount", "Increment", "Unit", "StartTime", "AlertTime", "ConnectTime", "EndTime", "TerminationCause"); err != nil {
		return nil, err
	}
	u := &UsageDetail{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Service":
			u.Service, err = decodeService(c)
		case "Amount":
			u.Amount, err = decimalText(c)
		case "Increment":
			u.Increment, err = intValue(c)
		case "Unit":
			u.Unit, err = text(c)
		case "TerminationCause":
			tc := TerminationCause{Type: c.SelectAttrValue("type", "")}
			for tcc := range elems(c) {
				switch tcc.Tag {
				case "TCCode":
					tc.Code, err = intValue(tcc)
				case "Description":
					tc.Description, err = text(tcc)
				default:
					err = unknown(tcc)
				}
				if err != nil {
					break
				}
			}
			u.TerminationCause = append(u.TerminationCause, tc)
		case "SignalingProtocol":
			var tv TypedValue
			tv, err = typed(c)
			u.SignalingProtocol = append(u.SignalingProtocol, tv)
		case "Codec":
			var s string
			s, err = text(c)
			u.Codec = append(u.Codec, Codec{Service: c.SelectAttrValue("service", ""), Type: c.SelectAttrValue("type", ""), Value: s})
		case "SessionId":
			var v Binary
			v, err = binary(c)
			u.SessionID = append(u.SessionID, SessionID{Type: c.SelectAttrValue("type", ""), Value: v})
		case "PostDialDelay":
			var tv TypedValue
			if tv, err = typed(c); err == nil && !isDecimal(tv.Value) {
				err = bad(c, "invalid decimal %q", tv.Value)
			}
			u.PostDialDelay = append(u.PostDialDelay, tv)
		case "StartTime":
			u.StartTime, err = timestamp(c)
		case "EndTime":
			u.EndTime, err = timestamp(c)
		case "AlertTime":
			u.AlertTime, err = timestamp(c)
		case "ConnectTime":
			u.ConnectTime, err = timestamp(c)
		case "ReleaseSource":
			u.ReleaseSource, err = text(c)
		case "Statistics":
			u.Statistics, err = decodeStatistics(c)
		case "SourceAudioAddress":
			u.SourceAudioAddress, err = text(c)
		case "SourceVideoAddress":
			u.SourceVideoAddress, err = text(c)
		case "DestinationAudioAddress":
			u.DestinationAudioAddress, err = text(c)
		case "DestinationVideoAddress":
			u.DestinationVideoAddress, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return u, nil
}

func decodeLoss(e *etree.Element) (Loss, error) {
	l := Loss{Direction: e.SelectAttrValue("direction", "")}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Packets":
			l.Packets, err = text(c)
		case "Fraction":
			l.Fraction, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return l, err
		}
	}
	return l, nil
}

func decodeDispersion(e *etree.Element) (Dispersion, error) {
	d := Dispersion{Direction: e.SelectAttrValue("direction", ""), Type: e.SelectAttrValue("type", "")}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Samples":
			d.Samples, err = text(c)
		case "Minimum":
			d.Minimum, err = text(c)
		case "Maximum":
			d.Maximum, err = text(c)
		case "Mean":
			d.Mean, err = text(c)
		case "Variance":
			d.Variance, err = text(c)
		default:
			err = unknown(c)
		}
		if err != nil {
			return d, err
		}
	}
	return d, nil
}

func directed(e *etree.Element) (DirectedValue, error) {
	s, err := text(e)
	return DirectedValue{Direction: e.SelectAttrValue("direction", ""), Value: s}, err
}

func decodeStatistics(e *etree.Element) (*Statistics, error) {
	s := &Statistics{}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "LossSent":
			var l Loss
			l, err = decodeLoss(c)
			s.LossSent = &l
		case "LossReceived":
			var l Loss
			l, err = decodeLoss(c)
			s.LossReceived = &l
		case "OneWayDelay":
			var d Dispersion
			d, err = decodeDispersion(c)
			s.OneWayDelay = &d
		case "Metrics":
			var m Metrics
			m, err = decodeMetrics(c)
			s.Metrics = append(s.Metrics, m)
		case "RFactor", "MOSCQ", "MOSLQ", "ICPIF":
			var v DirectedValue
			v, err = directed(c)
			switch c.Tag {
			case "RFactor":
				s.RFactor = append(s.RFactor, v)
			case "MOSCQ":
				s.MOSCQ = append(s.MOSCQ, v)
			case "MOSLQ":
				s.MOSLQ = append(s.MOSLQ, v)
			default:
				s.ICPIF = append(s.ICPIF, v)
			}
		default:
			err = unknown(c)
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func decodeMetrics(e *etree.Element) (Metrics, error) {
	m := Metrics{Service: e.SelectAttrValue("service", ""), Type: e.SelectAttrValue("type", "")}
	for c := range elems(e) {
		var err error
		switch c.Tag {
		case "Lost":
			var l Loss
			l, err = decodeLoss(c)
			m.Lost = append(m.Lost, l)
		case "Jitter", "Delay", "RoundTripDelay":
			var d Dispersion
			d, err = decodeDispersion(c)
			switch c.Tag {
			case "Jitter":
				m.Jitter = append(m.Jitter, d)
			case "Delay":
				m.Delay = append(m.Delay, d)
			default:
				m.RoundTripDelay = append(m.RoundTripDelay, d)
			}
		case "TotalOctets", "TotalPackets":
			var v DirectedValue
			v, err = directed(c)
			if c.Tag == "TotalOctets" {
				m.TotalOctets = append(m.TotalOctets, v)
			} else {
				m.TotalPackets = append(m.TotalPackets, v)
			}
		default:
			err = unknown(c)
		}
		if err != nil {
			return m, err
		}
	}
	return m, nil
}
