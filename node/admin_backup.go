package node

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// backupTimeout bounds GET /v1/cluster/snapshot: the ledger image of a
// large network is gigabytes, far past the admin server's 30 s.
const backupTimeout = 30 * time.Minute

// Backup headers: what the CLI checks the body against and records.
const (
	HeaderSnapshotIndex  = "X-Ospnode-Snapshot-Index"
	HeaderSnapshotSHA256 = "X-Ospnode-Snapshot-Sha256"
)

// adminBackupRoutes serves GET /v1/cluster/snapshot: a consistent copy of
// this node's ledger (consensus.Node.Backup: the state after one log
// index, taken between two applied entries), for `ospnode cluster snapshot
// save` and `ospnode restore`. It is staged in a file beside the ledger
// first, so that a failure is an error status and never a cut body, and so
// that Content-Length and the SHA-256 are known before the first byte.
// Any node may answer (a follower spares the leader).
func (n *Node) adminBackupRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/cluster/snapshot", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(backupTimeout))
		f, err := os.CreateTemp(n.cfg.DataDir, "backup-*.partial")
		if err != nil {
			adminError(w, http.StatusInternalServerError, fmt.Errorf("stage the snapshot: %w", err))
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		h := sha256.New()
		info, err := n.cons.Backup(io.MultiWriter(f, h))
		if err != nil {
			adminError(w, statusOf(err), err)
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			adminError(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
		w.Header().Set(HeaderSnapshotIndex, strconv.FormatUint(info.Index, 10))
		w.Header().Set(HeaderSnapshotSHA256, hex.EncodeToString(h.Sum(nil)))
		w.WriteHeader(http.StatusOK)
		if _, err := io.Copy(w, f); err != nil {
			n.log.Warn("admin: snapshot download cut", "err", err)
		}
	})
}
