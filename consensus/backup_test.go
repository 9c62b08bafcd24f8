package consensus

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackupSeedsNewCluster: Backup of a live node is the state at its
// index; SeedSnapshot turns it into a new one-node cluster on another
// directory, which restores it, elects itself, applies new entries (from
// index+1: none is skipped as already applied) and takes a joiner.
// Seeding a directory that has Raft state is refused.
func TestBackupSeedsNewCluster(t *testing.T) {
	old := newTestCluster(t, nil)
	a := old.start("a", true)
	old.waitLeader()
	ctx := ctxT(t, 60*time.Second)
	for i := range 20 {
		if _, err := a.n.Propose(ctx, fmt.Appendf(nil, "k-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	info, err := a.n.Backup(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := a.sm.view()
	if info.Index != want.applied || info.Size != int64(buf.Len()) || want.keys != 20 {
		t.Fatalf("backup %+v of %d bytes, state %+v", info, buf.Len(), want)
	}
	// Nothing new since: the same snapshot again, not an error.
	var again bytes.Buffer
	if info2, err := a.n.Backup(&again); err != nil || info2.Index != info.Index || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("second backup %+v %v (equal bytes %v)", info2, err, bytes.Equal(again.Bytes(), buf.Bytes()))
	}

	fresh := newTestCluster(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the seeded configuration names it; start binds it again
	dir := filepath.Join(fresh.base, "r")
	fresh.nodes["r"] = &testNode{id: "r", dir: dir, addr: addr}
	if err := SeedSnapshot(filepath.Join(dir, "raft"), "r", addr, info.Index, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := SeedSnapshot(filepath.Join(dir, "raft"), "r", addr, info.Index, bytes.NewReader(buf.Bytes())); err == nil || !strings.Contains(err.Error(), "already holds Raft state") {
		t.Fatalf("seeding twice: %v", err)
	}
	r := fresh.start("r", false)
	fresh.waitLeader("r")
	if got := r.sm.view(); got != want {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
	if _, err := r.n.Propose(ctx, []byte("after-restore")); err != nil {
		t.Fatal(err)
	}
	if got := r.sm.view(); got.keys != 21 || got.applied <= info.Index {
		t.Fatalf("after a new entry: %+v (backup index %d)", got, info.Index)
	}
	s := fresh.start("s", false)
	if err := s.n.JoinCluster(ctx, r.addr); err != nil {
		t.Fatal(err)
	}
	fresh.converged(30 * time.Second)
}
