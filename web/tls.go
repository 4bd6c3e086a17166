package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"time"
)

// SelfSignedValidity is how long a certificate from SelfSignedCertificate is valid.
const SelfSignedValidity = 365 * 24 * time.Hour

// defaultCertHosts are always in a self-signed certificate: the browser on the server's own
// machine reaches it by one of these.
var defaultCertHosts = []string{"localhost", "127.0.0.1", "::1"}

// SelfSignedCertificate makes a certificate for HTTPS without a certificate authority: an
// ECDSA P-256 key, valid for a year from an hour ago (for clocks slightly behind), naming
// localhost, 127.0.0.1, ::1 and hosts (DNS names or IP addresses; "host:port" is taken as
// host) as its subject alternative names. Browsers warn about it until it is trusted;
// cameras on phones need HTTPS for getUserMedia, which is what it is for.
func SelfSignedCertificate(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"EBRCS"}, CommonName: "EBRCS self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(SelfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	seen := map[string]bool{}
	for _, h := range append(append([]string{}, defaultCertHosts...), hosts...) {
		h = strings.TrimSpace(h)
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if h == "" || seen[strings.ToLower(h)] {
			continue
		}
		seen[strings.ToLower(h)] = true
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServeTLS serves HTTPS (HTTP/2 and HTTP/1.1) on ln with cert until ctx ends, then shuts
// down gracefully, as Serve does for plain HTTP.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	if len(cert.Certificate) == 0 {
		return errors.New("web: ServeTLS: empty certificate")
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// http.Server enables HTTP/2 on a TLS listener when "h2" is offered here.
		NextProtos: []string{"h2", "http/1.1"},
	}
	return s.Serve(ctx, tls.NewListener(ln, cfg))
}
