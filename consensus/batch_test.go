package consensus

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"
)

// recorder is a batcher submit that records batches for the test, which
// completes them by hand.
type recorder struct{ ch chan []*proposal }

func (r *recorder) submit(batch []*proposal, n int) { r.ch <- batch }

func (r *recorder) next(t *testing.T) []*proposal {
	t.Helper()
	select {
	case b := <-r.ch:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no batch submitted")
		return nil
	}
}

func cmdsOf(batch []*proposal) string {
	var s []string
	for _, p := range batch {
		for _, c := range p.cmds {
			s = append(s, string(c))
		}
	}
	return fmt.Sprint(s)
}

func TestBatcherAdaptive(t *testing.T) {
	rec := &recorder{ch: make(chan []*proposal, 100)}
	// A one-hour window: any wait on it would time the test out, so passing
	// proves that flushes are driven by the pipeline, not the timer.
	b := newBatcher(BatchConfig{MaxCommands: 4, MaxBytes: 1 << 20, MaxWait: time.Hour}, rec.submit)
	defer b.stop(ErrClosed)

	// Nothing in flight: a lone proposal goes at once.
	b.enqueue(newProposal([][]byte{[]byte("p1")}))
	if got := cmdsOf(rec.next(t)); got != "[p1]" {
		t.Fatalf("first batch %s", got)
	}
	// p1 in flight: later proposals gather until the pipeline drains.
	for _, c := range []string{"p2", "p3", "p4"} {
		b.enqueue(newProposal([][]byte{[]byte(c)}))
	}
	eventually(t, 10*time.Second, "p2..p4 queued", func() error {
		if len(b.in) != 0 {
			return fmt.Errorf("%d still in the channel", len(b.in))
		}
		return nil
	})
	select {
	case bt := <-rec.ch:
		t.Fatalf("flushed %s while the pipeline was busy and the batch not full", cmdsOf(bt))
	default:
	}
	b.complete() // p1 done
	if got := cmdsOf(rec.next(t)); got != "[p2 p3 p4]" {
		t.Fatalf("second batch %s", got)
	}
	// Busy pipeline, MaxCommands bound: a full batch goes without waiting,
	// and a forwarded group that does not fit is carried to the next batch.
	for _, c := range []string{"q1", "q2", "q3", "q4"} {
		b.enqueue(newProposal([][]byte{[]byte(c)}))
	}
	if got := cmdsOf(rec.next(t)); got != "[q1 q2 q3 q4]" {
		t.Fatalf("full batch %s", got)
	}
	b.enqueue(newProposal([][]byte{[]byte("r1"), []byte("r2"), []byte("r3")}))
	b.enqueue(newProposal([][]byte{[]byte("s1"), []byte("s2")}))
	cancelled := newProposal([][]byte{[]byte("x")})
	if !cancelled.cancel() {
		t.Fatal("cancel of a pending proposal failed")
	}
	b.enqueue(cancelled)
	b.complete()
	b.complete()
	if got := cmdsOf(rec.next(t)); got != "[r1 r2 r3]" {
		t.Fatalf("batch before carry %s", got)
	}
	b.complete() // r done: the pipeline drains, s goes (x was cancelled)
	if got := cmdsOf(rec.next(t)); got != "[s1 s2]" {
		t.Fatalf("carried batch %s", got)
	}
}

func TestBatcherMaxBytesAndDisabled(t *testing.T) {
	rec := &recorder{ch: make(chan []*proposal, 100)}
	b := newBatcher(BatchConfig{MaxCommands: 100, MaxBytes: 10, MaxWait: time.Hour}, rec.submit)
	b.enqueue(newProposal([][]byte{bytes.Repeat([]byte("a"), 64)})) // larger than MaxBytes: alone
	if got := rec.next(t); len(got) != 1 {
		t.Fatalf("oversized: %d proposals", len(got))
	}
	b.stop(ErrClosed)
	// stop fails what is still queued.
	p := newProposal([][]byte{[]byte("late")})
	if b.enqueue(p) {
		t.Fatal("enqueue after stop succeeded")
	}

	rec = &recorder{ch: make(chan []*proposal, 100)}
	d := newBatcher(BatchConfig{MaxCommands: 100, MaxBytes: 1 << 20, MaxWait: time.Hour, Disabled: true}, rec.submit)
	defer d.stop(ErrClosed)
	for i := range 3 {
		d.enqueue(newProposal([][]byte{fmt.Appendf(nil, "d%d", i)}))
	}
	for i := range 3 {
		if got := cmdsOf(rec.next(t)); got != fmt.Sprintf("[d%d]", i) {
			t.Fatalf("disabled batch %d: %s", i, got)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for _, n := range []int{1, 1, 2, 3, 4, 5, 512, 513, 5000} {
		h.observe(n)
	}
	want := map[float64]uint64{1: 2, 2: 3, 4: 5, 8: 6, 512: 7, 1024: 8, math.Inf(1): 9}
	for _, bk := range h.buckets() {
		if w, ok := want[bk.UpperBound]; ok && bk.Count != w {
			t.Errorf("bucket <=%v: %d, want %d", bk.UpperBound, bk.Count, w)
		}
	}
	if h.sum.Load() != 1+1+2+3+4+5+512+513+5000 {
		t.Errorf("sum %d", h.sum.Load())
	}
}
