package cmd

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/node/pki"
)

func TestServeTrustFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "ospnode.conf")
	if err := os.WriteFile(conf, []byte("enroll = true\nenroll-credentials = /etc/ospnode/enroll.creds\ncluster-names = n1, n2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := resolve(t); err != nil || cfg.Trust.Enroll || cfg.Trust.ClusterCert != "" {
		t.Fatalf("defaults: %+v %v", cfg.Trust, err)
	}
	t.Setenv("OSPNODE_CLUSTER_CERT", "/pki/n1.crt")
	t.Setenv("OSPNODE_CLUSTER_KEY", "/pki/n1.key")
	cfg, err := resolve(t, "--config", conf, "--tls-ca", "/pki/ca.crt", "--admin-client-serials", "17, 0x12", "--enroll-approval")
	if err != nil {
		t.Fatal(err)
	}
	want := node.TrustConfig{CA: "/pki/ca.crt", ClusterCert: "/pki/n1.crt", ClusterKey: "/pki/n1.key", ClusterNames: []string{"n1", "n2"},
		AdminClientSerials: []string{"17", "0x12"}, Enroll: true, EnrollCredentials: "/etc/ospnode/enroll.creds", EnrollApproval: true}
	got := cfg.Trust
	if got.CA != want.CA || got.ClusterCert != want.ClusterCert || got.ClusterKey != want.ClusterKey ||
		!slices.Equal(got.ClusterNames, want.ClusterNames) || !slices.Equal(got.AdminClientSerials, want.AdminClientSerials) ||
		got.Enroll != want.Enroll || got.EnrollCredentials != want.EnrollCredentials || got.EnrollApproval != want.EnrollApproval || got.EnrollLegacyCA != "" {
		t.Fatalf("trust config\n got %+v\nwant %+v", got, want)
	}
}

// TestServeSIGHUPRotatesTokenKey: after `ospnode ca issue --kind token
// --retire-previous`, SIGHUP makes the node sign with the new key while the
// bundle keeps the old one.
func TestServeSIGHUPRotatesTokenKey(t *testing.T) {
	pkiDir := filepath.Join(t.TempDir(), "pki")
	n, err := node.Open(context.Background(), node.Config{NodeID: "n1", DataDir: t.TempDir(), PKIDir: pkiDir, Bootstrap: true,
		OSPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	stop := watchReload(n, slog.New(slog.DiscardHandler))
	defer stop()
	before, err := pki.ParseCertPEM(n.TokenBundle())
	if err != nil || len(before) != 2 {
		t.Fatalf("bundle before: %d %v", len(before), err)
	}
	ca, err := pki.OpenCA(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RotateTokenSigning(pki.IssueRequest{CommonName: "signer 2", OutPrefix: filepath.Join(pkiDir, "token-signing")}, 11*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond) // polling interval
	defer tick.Stop()
	for {
		after, err := pki.ParseCertPEM(n.TokenBundle())
		if err == nil && len(after) == 3 && after[2].Equal(before[1]) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundle after SIGHUP: %d certificates, want 3 (CA, new, old)", len(after))
		}
		<-tick.C
	}
}
