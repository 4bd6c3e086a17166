package access

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// RateError refuses a request for coming too fast; RetryAfter is when one more would pass.
type RateError struct {
	Client     string
	Limit      int // per minute
	RetryAfter time.Duration
}

func (e *RateError) Error() string {
	return fmt.Sprintf("too many new sessions from %s: at most %d a minute; try again in %s", e.Client, e.Limit,
		e.RetryAfter.Round(time.Second))
}

// maxClients bounds the limiter's memory: beyond it, the buckets that are full again (their
// client quiet for a minute) are forgotten, and if none is, new clients share one bucket.
const maxClients = 10000

// RateLimiter is a token bucket per client: PerMinute tokens a minute, up to PerMinute at
// once. It bounds how fast anyone can take the server's session slots, which an unused
// session otherwise holds until it expires.
type RateLimiter struct {
	PerMinute int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the real client.
	// Requests from anyone else are attributed to their own address (a client cannot pick
	// its identity by sending the header itself).
	TrustedProxies []netip.Prefix

	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewRateLimiter allows perMinute new sessions a minute per client.
func NewRateLimiter(perMinute int, trusted []netip.Prefix) *RateLimiter {
	return &RateLimiter{PerMinute: perMinute, TrustedProxies: trusted, now: time.Now, buckets: map[string]*bucket{}}
}

// Allow takes a token of client's bucket, or says how long until there is one.
func (l *RateLimiter) Allow(client string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	rate := float64(l.PerMinute) / float64(time.Minute) // tokens per nanosecond
	b := l.buckets[client]
	if b == nil {
		if len(l.buckets) >= maxClients {
			l.forgetFull(now, rate)
		}
		if len(l.buckets) >= maxClients {
			client = "(others)"
			b = l.buckets[client]
		}
		if b == nil {
			b = &bucket{tokens: float64(l.PerMinute), at: now}
			l.buckets[client] = b
		}
	}
	b.tokens = min(float64(l.PerMinute), b.tokens+rate*float64(now.Sub(b.at)))
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return nil
	}
	wait := time.Duration((1 - b.tokens) / rate)
	return &RateError{Client: client, Limit: l.PerMinute, RetryAfter: max(wait, time.Second)}
}

func (l *RateLimiter) forgetFull(now time.Time, rate float64) {
	for k, b := range l.buckets {
		if b.tokens+rate*float64(now.Sub(b.at)) >= float64(l.PerMinute) {
			delete(l.buckets, k)
		}
	}
}

// ClientOf names the request's client: its address, or, when that is a trusted proxy, the
// last address in X-Forwarded-For that is not one.
func (l *RateLimiter) ClientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !l.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !l.trusted(hop) {
			return hop.Unmap().String()
		}
	}
	return host
}

func (l *RateLimiter) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
