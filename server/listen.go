package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/ebrcs/ebrcs/web"
)

// serveHTTP serves srv until ctx ends: HTTPS with the configured certificate or a
// self-signed one, else plain HTTP.
func serveHTTP(ctx context.Context, srv *web.Server, cfg Config, version string, log *slog.Logger) error {
	var cert tls.Certificate
	var err error
	scheme := "http"
	switch {
	case cfg.TLSCert != "":
		if cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		scheme = "https"
	case cfg.TLSSelfSigned:
		if cert, err = web.SelfSignedCertificate(certHosts(cfg.Addr)); err != nil {
			return fmt.Errorf("self-signed certificate: %w", err)
		}
		sum := sha256.Sum256(cert.Certificate[0])
		log.Info("self-signed certificate", "hosts", append(cert.Leaf.DNSNames, ipStrings(cert.Leaf.IPAddresses)...),
			"sha256", hex.EncodeToString(sum[:]), "expires", cert.Leaf.NotAfter.Format(time.DateOnly))
		scheme = "https"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", cfg.Addr, "scheme", scheme, "pipelines", cfg.Pipelines, "version", version)
	if scheme == "https" {
		return srv.ServeTLS(ctx, ln, cert)
	}
	return srv.Serve(ctx, ln)
}

// certHosts are the names a self-signed certificate should carry besides localhost: the
// listen address's host, this machine's name and its addresses.
func certHosts(addr string) []string {
	var hosts []string
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		hosts = append(hosts, host)
	}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && !ipnet.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, ipnet.IP.String())
			}
		}
	}
	return hosts
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}
