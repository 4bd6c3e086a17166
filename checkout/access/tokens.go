package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/ebrcs/ebrcs/internal/atomicfile"
)

// Errors of the token store.
var (
	// ErrTokenFile: the store's file cannot be read or written. While its file cannot be
	// read, the store knows no token and refuses changes (so as not to overwrite the file an
	// operator may repair); the configured admin and staff tokens still work.
	ErrTokenFile = errors.New("token file unusable")
	// ErrUnknownTokenID: no token has this id (never made, or already revoked) (404).
	ErrUnknownTokenID = errors.New("no such token")
	// ErrTokenNameTaken: another token already has this name (409).
	ErrTokenNameTaken = errors.New("token name taken")
	// ErrTooManyTokens: the store holds MaxTokens already; revoke some first (409).
	ErrTooManyTokens = errors.New("too many tokens")
)

// Limits of the store.
const (
	// MaxTokens bounds the store: every request with a token compares it with all of them.
	MaxTokens = 500
	// MaxTokenNameLength is the longest name, in characters.
	MaxTokenNameLength = 64
	// tokenBytes is the randomness of a token (256 bits); it is sent as 43 base64url
	// characters.
	tokenBytes = 32
	// tokenFileVersion is the file's format.
	tokenFileVersion = 1
)

// InvalidTokenError refuses a token's name or role; Field names which.
type InvalidTokenError struct {
	Field  string
	Reason string
	Err    error // ErrTokenNameTaken, or nil
}

func (e *InvalidTokenError) Error() string { return e.Field + ": " + e.Reason }
func (e *InvalidTokenError) Unwrap() error { return e.Err }

// TokenInfo is what may be shown of a named token: everything but the secret.
type TokenInfo struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Created time.Time `json:"created"`
	// LastUsed is when a request last carried it (nil: never), as this server saw it; it is
	// written to the file lazily (Flush), so after a crash it may be a little older.
	LastUsed *time.Time `json:"last_used"`
}

// Identity is who a request's token says its holder is.
type Identity struct {
	Role Role
	// TokenID is the named token's id; empty for the configured admin and staff tokens.
	TokenID string
	// Name is the named token's name, or "admin_token" or "staff_token" for the configured
	// ones (the options they come from).
	Name string
}

// Tokens is the admin's store of named tokens ("Counter 2 tablet", "Anna"), each with its
// role, kept in one JSON file that holds only the SHA-256 digests of the tokens, never the
// tokens themselves: a token is shown once, when it is made. A revoked token stops working at
// once. Safe for concurrent use.
//
// Every server keeps its own file (the server's var/tokens.json, next to var/admin-token):
// with several servers (events_url), a named token works on the server it was made on only,
// and is revoked there only. Tokens every node must accept belong in the configuration
// (admin_token, staff_token), which the nodes share. Keeping named tokens in the catalog of
// record (catalog_url) would share them; that is not done yet.
type Tokens struct {
	path string
	now  func() time.Time

	// saveMu serialises changes and writes of the file: the list changes only under it, so
	// that a write is never of an older list than the last. Requests take mu only to read.
	saveMu sync.Mutex
	mu     sync.RWMutex
	list   []*namedToken // in order of creation
	broken error         // the file could not be read: no token works, none may be made
	dirty  atomic.Bool   // a last-used time changed since the file was written
}

// namedToken is one token as stored.
type namedToken struct {
	info     TokenInfo // LastUsed unused: see lastUsed
	digest   [sha256.Size]byte
	lastUsed atomic.Int64 // Unix nanoseconds; 0: never
}

// tokenFile is the file's JSON.
type tokenFile struct {
	Version int             `json:"version"`
	Tokens  []tokenFileItem `json:"tokens"`
}

type tokenFileItem struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Role     Role       `json:"role"`
	SHA256   string     `json:"sha256"` // hex digest of the token
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

// OpenTokens loads the store kept in path (none yet: an empty store, its file written at the
// first change). A file that cannot be read or makes no sense is an error wrapping
// ErrTokenFile that names the file and what is wrong; the store is returned all the same, knowing
// no token and refusing changes until the file is repaired or removed and the server
// restarted, so that a server can keep running on its configured tokens.
func OpenTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path, now: time.Now}
	list, err := readTokenFile(path)
	if err != nil {
		t.broken = fmt.Errorf("%w: %s: %v; its tokens do not work until it is repaired or removed and the server restarted (the configured admin and staff tokens still do)", ErrTokenFile, path, err)
		return t, t.broken
	}
	t.list = list
	return t, nil
}

func readTokenFile(path string) ([]*namedToken, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f tokenFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a token file: %v", err)
	}
	if f.Version != tokenFileVersion {
		return nil, fmt.Errorf("version %d, want %d", f.Version, tokenFileVersion)
	}
	if len(f.Tokens) > MaxTokens {
		return nil, fmt.Errorf("%d tokens, at most %d", len(f.Tokens), MaxTokens)
	}
	list := make([]*namedToken, 0, len(f.Tokens))
	ids, names := map[string]bool{}, map[string]bool{}
	for i, it := range f.Tokens {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("token %d (id %q): %s", i+1, it.ID, fmt.Sprintf(format, args...))
		}
		digest, err := hex.DecodeString(it.SHA256)
		switch {
		case it.ID == "":
			return nil, bad("no id")
		case ids[it.ID]:
			return nil, bad("the id is used twice")
		case err != nil || len(digest) != sha256.Size:
			return nil, bad("sha256: want %d hex digits", 2*sha256.Size)
		case it.Created.IsZero():
			return nil, bad("no created time")
		}
		name, err := checkTokenName(it.Name)
		if err != nil {
			return nil, bad("%v", err)
		}
		if names[strings.ToLower(name)] {
			return nil, bad("the name %q is used twice", name)
		}
		if err := checkTokenRole(it.Role); err != nil {
			return nil, bad("%v", err)
		}
		ids[it.ID], names[strings.ToLower(name)] = true, true
		nt := &namedToken{info: TokenInfo{ID: it.ID, Name: name, Role: it.Role, Created: it.Created}}
		copy(nt.digest[:], digest)
		if it.LastUsed != nil {
			nt.lastUsed.Store(it.LastUsed.UnixNano())
		}
		list = append(list, nt)
	}
	return list, nil
}

// Err is why the store's file could not be read at start (nil: it could).
func (t *Tokens) Err() error {
	if t == nil {
		return nil
	}
	return t.broken
}

// List returns the tokens, oldest first, without their secrets.
func (t *Tokens) List() ([]TokenInfo, error) {
	if t.broken != nil {
		return nil, t.broken
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]TokenInfo, len(t.list))
	for i, nt := range t.list {
		out[i] = nt.view()
	}
	return out, nil
}

func (nt *namedToken) view() TokenInfo {
	info := nt.info
	if ns := nt.lastUsed.Load(); ns != 0 {
		at := time.Unix(0, ns).UTC()
		info.LastUsed = &at
	}
	return info
}

// Create makes a token with this name and role, saves its digest, and returns it with the
// token itself: the only time the token is seen. Bad input is an *InvalidTokenError naming
// the field.
func (t *Tokens) Create(name string, role Role) (TokenInfo, string, error) {
	name, err := checkTokenName(name)
	if err != nil {
		return TokenInfo{}, "", &InvalidTokenError{Field: "name", Reason: err.Error()}
	}
	if err := checkTokenRole(role); err != nil {
		return TokenInfo{}, "", &InvalidTokenError{Field: "role", Reason: err.Error()}
	}
	if t.broken != nil {
		return TokenInfo{}, "", t.broken
	}
	secret, err := randomBytes(tokenBytes)
	if err != nil {
		return TokenInfo{}, "", err
	}
	id, err := randomBytes(8)
	if err != nil {
		return TokenInfo{}, "", err
	}
	token := base64.RawURLEncoding.EncodeToString(secret)
	nt := &namedToken{info: TokenInfo{ID: "tok_" + hex.EncodeToString(id), Name: name, Role: role,
		Created: t.now().UTC().Truncate(time.Second)}, digest: sha256.Sum256([]byte(token))}

	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.RLock()
	list := slices.Clone(t.list)
	t.mu.RUnlock()
	if len(list) >= MaxTokens {
		return TokenInfo{}, "", fmt.Errorf("%w: this server holds %d tokens, the most it keeps; revoke some first", ErrTooManyTokens, len(list))
	}
	for _, other := range list {
		if strings.EqualFold(other.info.Name, name) {
			return TokenInfo{}, "", &InvalidTokenError{Field: "name", Err: ErrTokenNameTaken,
				Reason: fmt.Sprintf("a token named %q exists already (%s); choose another name or revoke it first", other.info.Name, other.info.ID)}
		}
	}
	list = append(list, nt)
	if err := t.write(list); err != nil {
		return TokenInfo{}, "", err
	}
	t.mu.Lock()
	t.list = list
	t.mu.Unlock()
	return nt.view(), token, nil
}

// Revoke removes the token with this id: it stops working at once, on this server. If the
// file cannot be written, the token stays revoked until the server restarts, and the error
// says so.
func (t *Tokens) Revoke(id string) (TokenInfo, error) {
	if t.broken != nil {
		return TokenInfo{}, t.broken
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	i := slices.IndexFunc(t.list, func(nt *namedToken) bool { return nt.info.ID == id })
	if i < 0 {
		t.mu.Unlock()
		return TokenInfo{}, fmt.Errorf("%w: %q (never made, or revoked already)", ErrUnknownTokenID, id)
	}
	gone := t.list[i]
	t.list = slices.Delete(slices.Clone(t.list), i, i+1)
	list := t.list
	t.mu.Unlock()
	if err := t.write(list); err != nil {
		return gone.view(), fmt.Errorf("token %s is revoked on this server now, but would work again after a restart: %w", id, err)
	}
	return gone.view(), nil
}

// match returns the named token whose digest is digest. Every stored digest is compared, in
// constant time, so that timing tells neither which token came close nor where it is in the
// list. A match counts as a use (kept in memory; Flush writes it).
func (t *Tokens) match(digest [sha256.Size]byte) (Identity, bool) {
	if t == nil || t.broken != nil {
		return Identity{}, false
	}
	t.mu.RLock()
	var found *namedToken
	for _, nt := range t.list {
		if subtle.ConstantTimeCompare(digest[:], nt.digest[:]) == 1 {
			found = nt
		}
	}
	t.mu.RUnlock()
	if found == nil {
		return Identity{}, false
	}
	found.lastUsed.Store(t.now().UnixNano())
	t.dirty.Store(true)
	return Identity{Role: found.info.Role, TokenID: found.info.ID, Name: found.info.Name}, true
}

// Flush writes the tokens' last-used times if any changed since the file was written.
func (t *Tokens) Flush() error {
	if t == nil || t.broken != nil || !t.dirty.Load() {
		return nil
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	if !t.dirty.Swap(false) {
		return nil
	}
	t.mu.RLock()
	list := t.list
	t.mu.RUnlock()
	if err := t.write(list); err != nil {
		t.dirty.Store(true)
		return err
	}
	return nil
}

// FlushEvery calls Flush every interval until ctx ends, then once more; onError is told of
// a failed write (nil: ignored).
func (t *Tokens) FlushEvery(ctx context.Context, interval time.Duration, onError func(error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := t.Flush(); err != nil && onError != nil {
				onError(err)
			}
			return
		case <-tick.C:
			if err := t.Flush(); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}

// write replaces the file with list, atomically (a fsynced temporary file renamed over it,
// then the directory fsynced), readable by the server's user only. Called under saveMu.
func (t *Tokens) write(list []*namedToken) error {
	f := tokenFile{Version: tokenFileVersion, Tokens: make([]tokenFileItem, len(list))}
	for i, nt := range list {
		v := nt.view()
		f.Tokens[i] = tokenFileItem{ID: v.ID, Name: v.Name, Role: v.Role, SHA256: hex.EncodeToString(nt.digest[:]),
			Created: v.Created, LastUsed: v.LastUsed}
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(t.path), 0o755); err != nil {
		return fmt.Errorf("%w: writing %s: %v", ErrTokenFile, t.path, err)
	}
	if err := atomicfile.Write(t.path, "."+filepath.Base(t.path)+".tmp*", append(raw, '\n')); err != nil {
		return fmt.Errorf("%w: writing %s: %v", ErrTokenFile, t.path, err)
	}
	return nil
}

// checkTokenName returns the name trimmed, in Unicode NFC, or says what is wrong with it.
// As with product names (package data), a name may not hold a character a reader cannot see
// (controls, text-direction overrides, zero-width characters...), so that no token's name
// passes for another's in the list the admin revokes from.
func checkTokenName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", errors.New("not valid UTF-8")
	}
	name = norm.NFC.String(strings.TrimSpace(name))
	if name == "" {
		return "", errors.New("empty; name the device or the person that will hold the token (\"Counter 2 tablet\", \"Anna\")")
	}
	if n := utf8.RuneCountInString(name); n > MaxTokenNameLength {
		return "", fmt.Errorf("%d characters, at most %d", n, MaxTokenNameLength)
	}
	for _, r := range name {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs, unicode.Other_Default_Ignorable_Code_Point) {
			return "", fmt.Errorf("contains %U, a control or invisible character (line breaks, tabs, text direction, zero-width...)", r)
		}
	}
	return name, nil
}

func checkTokenRole(role Role) error {
	switch role {
	case RoleStaff, RoleAdmin:
		return nil
	case RoleNone:
		return fmt.Errorf("empty; want %s or %s", RoleStaff, RoleAdmin)
	}
	return fmt.Errorf("%q, want %s or %s", role, RoleStaff, RoleAdmin)
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
