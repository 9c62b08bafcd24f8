package cmd

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
)

// progress reports a long run on stderr: a bar redrawn in place when stderr
// is a terminal, otherwise a plain line every progressEvery; nothing with
// --quiet. It is driven by the work loop (tick every record) and reads the
// clock once every 65,536 ticks, so it costs nothing measurable and needs
// no goroutine.
type progress struct {
	w       io.Writer
	what    string
	tty     bool
	quiet   bool
	size    int64         // input bytes, 0 if unknown
	read    *atomic.Int64 // input bytes read so far
	start   time.Time
	last    time.Time
	n       int64
	printed bool
	now     func() time.Time // the clock; tests set it
}

const progressEvery = 5 * time.Second

func newProgress(w io.Writer, what string, quiet bool, size int64, read *atomic.Int64) *progress {
	now := time.Now()
	return &progress{w: w, what: what, tty: isTerminal(w), quiet: quiet, size: size, read: read, start: now, last: now, now: time.Now}
}

// tick counts one record.
func (p *progress) tick() {
	p.n++
	if p.quiet || p.n&0xffff != 0 {
		return
	}
	now := p.now()
	every := progressEvery
	if p.tty {
		every = 200 * time.Millisecond
	}
	if now.Sub(p.last) < every {
		return
	}
	p.last = now
	p.print(now, false)
}

func (p *progress) print(now time.Time, final bool) {
	el := now.Sub(p.start)
	rate := int64(0)
	if el > 0 {
		rate = p.n * int64(time.Second) / int64(el)
	}
	pct := ""
	if p.size > 0 && p.read != nil {
		done := min(p.read.Load()*100/p.size, 100)
		if p.tty {
			bar := strings.Repeat("#", int(done/4)) + strings.Repeat(" ", 25-int(done/4))
			pct = fmt.Sprintf("[%s] %3d%% ", bar, done)
		} else {
			pct = fmt.Sprintf("%d%% of the input, ", done)
		}
	}
	line := fmt.Sprintf("%s: %s%s records, %s records/s, %s", p.what, pct, thousands(p.n), thousands(rate), el.Round(time.Second))
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\033[K", line)
		if final {
			fmt.Fprintln(p.w)
		}
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.printed = true
}

// done ends the bar's line (a terminal) if anything was drawn.
func (p *progress) done() {
	if p.printed && p.tty && !p.quiet {
		p.print(p.now(), true)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// thousands renders n with thousands separators: 10,000,000.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// leanHeap keeps a streaming command's heap near its live size, and
// returns the restore. The default GOGC=100 lets garbage grow as large as
// what is live — for `settle rate` the duplicate-id set, ~110 MB at 10 M
// records, so the heap would reach ~240 MB. At 20 % the extra collections
// cost little: that set holds no pointers, so the collector does not scan
// it. GOGC in the environment wins.
func leanHeap() func() {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(20)
	return func() { debug.SetGCPercent(old) }
}
