package cmd

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestProfRead(t *testing.T) {
	var b bytes.Buffer
	fmt.Fprintln(&b, "routes:")
	for i := 0; i < 500000; i++ {
		fmt.Fprintf(&b, "  - {prefix: \"%d\", candidates: [{kind: trunk, id: a-1}, {kind: trunk, id: b-1, priority: 1}]}\n", 1_200_000+i)
	}
	s := time.Now()
	cfg, err := readConfFile("x", &b, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %v %d", time.Since(s), len(cfg.Routes))
}
