package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedCertificate(t *testing.T) {
	cert, err := SelfSignedCertificate([]string{"till-1.local", "192.168.1.20", "[fe80::1]:8443", "till-1.local", ""})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if key, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || key.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if d := leaf.NotAfter.Sub(time.Now()); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Fatalf("valid until %v", leaf.NotAfter)
	}
	if leaf.NotBefore.After(time.Now()) {
		t.Fatalf("not valid before %v", leaf.NotBefore)
	}
	if got := strings.Join(leaf.DNSNames, ","); got != "localhost,till-1.local" {
		t.Fatalf("DNS names %s", got)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if got := strings.Join(ips, ","); got != "127.0.0.1,::1,192.168.1.20,fe80::1" {
		t.Fatalf("IP addresses %s", got)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "till-1.local", "192.168.1.20"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if err := leaf.VerifyHostname("example.com"); err == nil {
		t.Error("the certificate claims example.com")
	}
	other, _ := SelfSignedCertificate(nil)
	if other.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}

// A real HTTPS server on loopback with a self-signed certificate: a client that trusts that
// certificate gets /healthz over HTTP/2 and HTTP/1.1; one that does not is refused; the server
// stops gracefully when its context ends.
func TestServeTLS(t *testing.T) {
	cert, err := SelfSignedCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &Server{Pipelines: noPipelines{}}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ctx, ln, cert) }()

	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	url := "https://" + ln.Addr().String() + "/healthz"
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		want := "HTTP/1.1"
		if h2 {
			want = "HTTP/2.0"
		}
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) || resp.Proto != want || resp.TLS == nil {
			t.Fatalf("h2=%v: %d %s %s", h2, resp.StatusCode, resp.Proto, body)
		}
	}

	// By name as well as by address.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://localhost:" + port + "/healthz")
	if err == nil {
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	if err != nil && !strings.Contains(err.Error(), "connection refused") { // localhost may resolve to ::1 only
		t.Fatalf("by name: %v", err)
	}

	// A client that does not trust the certificate is refused.
	untrusting := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}
	if resp, err := (&http.Client{Transport: untrusting, Timeout: 5 * time.Second}).Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("an untrusted certificate was accepted")
	}
	untrusting.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeTLS: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeTLS did not return after its context ended")
	}
}

func TestServeTLSRefusesEmptyCertificate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := (&Server{Pipelines: noPipelines{}}).ServeTLS(context.Background(), ln, tls.Certificate{}); err == nil {
		t.Fatal("served with no certificate")
	}
}
