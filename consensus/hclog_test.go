package consensus

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHclogAdapter(t *testing.T) {
	var buf syncBuf
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHclog(l, "raft").Named("transport").With("peer", "b")
	h.Info("hello", "err", errors.New("boom"), "odd")
	h.Trace("hidden at debug level")
	h.Warn("careful")
	out := buf.String()
	for _, want := range []string{"level=INFO msg=hello component=raft.transport peer=b err=boom odd=<missing>", "level=WARN msg=careful"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("trace logged at debug level:\n%s", out)
	}
	if !h.IsDebug() || h.IsTrace() || h.Name() != "raft.transport" {
		t.Errorf("levels/name: debug=%v trace=%v name=%q", h.IsDebug(), h.IsTrace(), h.Name())
	}
	h.SetLevel(hclog.Error)
	h.Warn("suppressed")
	if strings.Contains(buf.String(), "suppressed") {
		t.Error("SetLevel(Error) did not suppress a warning")
	}
	h.SetLevel(hclog.Info)
	h.StandardLogger(nil).Print("from std\n")
	if !strings.Contains(buf.String(), "from std") {
		t.Error("standard logger output lost")
	}
}

// raft logs some values with hclog.Fmt; they must be rendered, not printed
// as "[%+v …]".
func TestHclogAdapterFormatsFmtValues(t *testing.T) {
	var buf syncBuf
	l := slog.New(slog.NewTextHandler(&buf, nil))
	newHclog(l, "raft").Info("initial configuration", "servers", hclog.Fmt("%+v", []int{1, 2}))
	if out := buf.String(); !strings.Contains(out, `servers="[1 2]"`) {
		t.Fatalf("hclog.Fmt value not rendered:\n%s", out)
	}
}
