// Package access decides who may act on what: a checkout session belongs to the shopper who
// holds its key (returned once, when the session is made, and kept by the browser as a
// cookie), and to staff; camera stations belong to staff only. Two roles hold tokens: admin
// (the catalog, the pipelines, the tokens) and staff (counting areas, reviews, cart
// overrides, the checkout page's staff mode). Admin may do everything staff may.
//
// The HTTP API (web) and WebRTC signaling (WHIP/WHEP) both ask the same Guard, so that a
// session cannot be reached through one door that another keeps shut.
package access

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ebrcs/ebrcs/checkout"
)

// Errors of the guard. Both name what the caller must send.
var (
	// ErrNoCredentials: the request carries neither the session's key nor staff credentials
	// (401).
	ErrNoCredentials = errors.New("credentials required")
	// ErrForbidden: the request's credentials do not open this session or station (403).
	ErrForbidden = errors.New("not allowed")
	// ErrBadToken: the request carries a token that is neither the admin's nor staff's (401).
	ErrBadToken = errors.New("unknown token")
)

// KeyHeader carries a session's key for clients that do not keep cookies.
const KeyHeader = "X-Session-Key"

// cookiePrefix + session id names the cookie that holds a session's key in the shopper's
// browser: one per session, so that two tabs with two checkouts do not overwrite each other.
const cookiePrefix = "ebrcs_sk_"

// cookieLifetime bounds how long a browser keeps a session's key; far longer than any
// checkout, short enough that cookies of old sessions do not pile up.
const cookieLifetime = 24 * time.Hour

// Role is what a token lets its holder do.
type Role string

// The roles, from most to least.
const (
	// RoleAdmin: the catalog (products, photos, learned views), the pipelines, the tokens, and
	// everything staff may do.
	RoleAdmin Role = "admin"
	// RoleStaff: counting areas, reviews, cart overrides, stations and sessions, the checkout
	// page's staff mode.
	RoleStaff Role = "staff"
	// RoleNone: no token, or one that is neither.
	RoleNone Role = ""
)

// Guard checks requests against the admin and staff tokens, the admin's named tokens and
// the sessions' keys.
type Guard struct {
	// AdminToken is the admin's credential, sent as "Authorization: Bearer <token>" or
	// "X-Admin-Token: <token>". Empty: nobody is admin (the admin API fails closed).
	AdminToken string
	// StaffToken is staff's credential, sent the same way. Empty: only the admin is staff.
	StaffToken string
	// Tokens are the named tokens the admin makes and revokes (nil: the two above only,
	// which always work: they are how the admin first signs in).
	Tokens *Tokens
	// Limiter bounds how fast one client may create sessions (nil: unlimited).
	Limiter *RateLimiter
}

// IsStaff reports whether the request carries the admin or the staff token. The comparison
// is in constant time, of SHA-256 digests, so that not even the token's length leaks.
func (g *Guard) IsStaff(r *http.Request) bool {
	role, _ := g.RoleOf(r)
	return role == RoleAdmin || role == RoleStaff
}

// IsAdmin reports whether the request carries the admin token.
func (g *Guard) IsAdmin(r *http.Request) bool {
	role, _ := g.RoleOf(r)
	return role == RoleAdmin
}

// RoleOf returns the role of the token a request carries. Without one, or with a token that
// is neither the admin's nor staff's nor a named token, the role is RoleNone and the error
// (wrapping ErrNoCredentials or ErrBadToken) says exactly what is wrong, for a sign-in form
// to show.
func (g *Guard) RoleOf(r *http.Request) (Role, error) {
	id, err := g.Identify(r)
	return id.Role, err
}

// Identify is RoleOf with the token's name: the configured tokens are "admin_token" and
// "staff_token"; a named token (Tokens) has its own, and its id.
func (g *Guard) Identify(r *http.Request) (Identity, error) {
	given, ok := adminTokenOf(r)
	if !ok {
		return Identity{}, fmt.Errorf("%w: no token was sent (Authorization: Bearer <token>)", ErrNoCredentials)
	}
	if g == nil || g.AdminToken == "" && g.StaffToken == "" && g.Tokens == nil {
		return Identity{}, fmt.Errorf("%w: this server has no admin or staff token configured", ErrBadToken)
	}
	// Every comparison always runs, of SHA-256 digests in constant time, so that timing tells
	// neither which token came close nor how long it is.
	digest := sha256.Sum256([]byte(given))
	admin := g.AdminToken != "" && sameDigest(digest, g.AdminToken)
	staff := g.StaffToken != "" && sameDigest(digest, g.StaffToken)
	named, isNamed := g.Tokens.match(digest)
	switch {
	case admin:
		return Identity{Role: RoleAdmin, Name: "admin_token"}, nil
	case staff:
		return Identity{Role: RoleStaff, Name: "staff_token"}, nil
	case isNamed:
		return named, nil
	}
	return Identity{}, fmt.Errorf("%w: this token is neither the admin token nor the staff token (%d characters were sent; check for a missing or extra character), nor a named token of this server (a revoked one stops working at once)", ErrBadToken, len(given))
}

// adminTokenOf returns the token a request carries as a bearer token or X-Admin-Token.
func adminTokenOf(r *http.Request) (string, bool) {
	if token, ok := bearerOf(r); ok {
		return token, true
	}
	if token := strings.TrimSpace(r.Header.Get("X-Admin-Token")); token != "" {
		return token, true
	}
	return "", false
}

func bearerOf(r *http.Request) (string, bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func sameDigest(given [sha256.Size]byte, want string) bool {
	b := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(given[:], b[:]) == 1
}

// Session allows the request to read, change or watch sess: staff always; the shopper with
// the session's key (the X-Session-Key header, a bearer token, as WHIP and WHEP clients send
// it, or the cookie set at creation); for a station, staff only. The error wraps
// ErrNoCredentials or ErrForbidden and says what to send.
func (g *Guard) Session(r *http.Request, sess *checkout.Session) error {
	if g.IsStaff(r) {
		return nil
	}
	if sess.IsStation() {
		if _, ok := adminTokenOf(r); ok {
			return fmt.Errorf("%w: station %s is run by staff, and these credentials are not staff's", ErrForbidden, sess.ID)
		}
		return fmt.Errorf("%w: station %s is run by staff: send the admin token", ErrNoCredentials, sess.ID)
	}
	keys := keysOf(r, sess.ID)
	if len(keys) == 0 {
		if _, ok := adminTokenOf(r); ok {
			return fmt.Errorf("%w: these credentials are not staff's, and session %s opens with its key only", ErrForbidden, sess.ID)
		}
		return fmt.Errorf("%w: session %s belongs to the shopper who made it: send its key (%s, or the cookie set when it was made) or staff credentials", ErrNoCredentials, sess.ID, KeyHeader)
	}
	for _, k := range keys {
		if sess.KeyMatches(k) {
			return nil
		}
	}
	return fmt.Errorf("%w: the key does not open session %s", ErrForbidden, sess.ID)
}

// keysOf returns every session key the request offers for session id.
func keysOf(r *http.Request, id string) []string {
	var keys []string
	if k := strings.TrimSpace(r.Header.Get(KeyHeader)); k != "" {
		keys = append(keys, k)
	}
	if k, ok := bearerOf(r); ok {
		keys = append(keys, k)
	}
	if c, err := r.Cookie(cookiePrefix + id); err == nil && c.Value != "" {
		keys = append(keys, c.Value)
	}
	return keys
}

// GiveKey hands a new session's key to the client that made it: in the KeyHeader header
// (for API and WHIP clients) and as an HttpOnly, SameSite=Strict cookie (the browser then
// sends it with every request of its own pages, event streams and WebRTC signaling included,
// and never with a request another site makes it send).
func GiveKey(w http.ResponseWriter, r *http.Request, sess *checkout.Session) {
	w.Header().Set(KeyHeader, sess.Key())
	http.SetCookie(w, &http.Cookie{Name: cookiePrefix + sess.ID, Value: sess.Key(), Path: "/",
		MaxAge: int(cookieLifetime / time.Second), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// ForgetKey removes a closed session's cookie from the browser.
func ForgetKey(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{Name: cookiePrefix + id, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// AllowCreate says whether the request's client may create another session now; staff
// always may. A refusal is a *RateError (429 with Retry-After).
func (g *Guard) AllowCreate(r *http.Request) error {
	if g == nil || g.Limiter == nil || g.IsStaff(r) {
		return nil
	}
	return g.Limiter.Allow(g.Limiter.ClientOf(r))
}

// Status is the HTTP status for a guard error: 401, 403 or 429 (500 for anything else).
func Status(err error) int {
	var rate *RateError
	switch {
	case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrBadToken):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.As(err, &rate):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}
