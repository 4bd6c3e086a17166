package pipelines

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Credentials never reach the public: not in GET /api/pipelines/{name} (public.go masks the
// parsed document), nor in the errors, statuses and logs, whose text goes through Redact and,
// where the pipeline is known, RedactSecrets with the credentials of its own definition.

// Mask replaces every credential the public must not see.
const Mask = "***"

// IsCredentialName reports whether a key or property name names a credential: password,
// passwd, pwd, pw, pass, passphrase, secret, token, api_key, key, auth, authorization,
// credentials, cookie, pem, private_key, and any name containing password, passwd, secret,
// token, credential, passphrase, apikey or authorization, or whose last word is pw, pwd,
// pass, key, auth, cookie or pem (user_pw, proxy-pw, ssh_key, db_password, authToken, ...).
// Case, '-', '_', '.', spaces and camelCase are normalised first. Masking one name too many
// costs a reader nothing; one too few leaks a camera.
func IsCredentialName(name string) bool {
	n := normaliseName(name)
	if n == "" {
		return false
	}
	squashed := strings.ReplaceAll(n, "_", "") // "PassWord", "pass_word": password
	for _, part := range []string{"password", "passwd", "secret", "token", "credential", "passphrase", "apikey", "authorization", "privatekey"} {
		if strings.Contains(squashed, part) {
			return true
		}
	}
	last := n
	if i := strings.LastIndexByte(n, '_'); i >= 0 {
		last = n[i+1:]
	}
	last = strings.TrimSuffix(last, "s")
	switch last {
	case "pw", "pwd", "pas", "pass", "key", "auth", "cookie", "pem":
		return true
	}
	return false
}

// normaliseName lower-cases a name and joins its words with '_': "userPW", "User-Pw" and
// "user pw" all become "user_pw".
func normaliseName(name string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range name {
		switch {
		case unicode.IsUpper(r):
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
			prevLower = true
		default:
			b.WriteByte('_')
			prevLower = false
		}
	}
	parts := strings.FieldsFunc(b.String(), func(r rune) bool { return r == '_' })
	return strings.Join(parts, "_")
}

// Redact hides credentials in text that may reach a log line, an error or an API response:
// the password of every URL with credentials (up to the last '@' before the first '/', so
// that an '@', '?' or '#' in the password is hidden too), every URL query or fragment parameter with a
// credential's name (?token=, &password=, ...), and the value of every "name: value" or
// "name=value" whose name is a credential's (quoted or not, in YAML, JSON or gst-launch
// syntax). It knows no particular secret: where the pipeline is known, RedactSecrets also
// removes the values of its own definition.
func Redact(s string) string {
	out, _ := scanText(s)
	return out
}

// RedactSecrets replaces every occurrence of each secret in s (and of its Go-quoted form, as
// %q would print it) with ***, then applies Redact.
func RedactSecrets(s string, secrets []string) string {
	if len(secrets) > 0 {
		forms := make([]string, 0, 2*len(secrets))
		for _, sec := range secrets {
			if sec == "" {
				continue
			}
			forms = append(forms, sec)
			if q := strconv.Quote(sec); q[1:len(q)-1] != sec {
				forms = append(forms, q[1:len(q)-1])
			}
		}
		// Longest first, so that a secret containing another is replaced whole.
		sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
		for _, f := range forms {
			s = strings.ReplaceAll(s, f, Mask)
		}
	}
	return Redact(s)
}

// TextSecrets returns the credentials Redact would hide in s (URL passwords and secret
// parameters, the values of credential fields), each also percent-decoded when that differs.
func TextSecrets(s string) []string {
	_, secrets := scanText(s)
	return secrets
}

var (
	// urlScheme starts a URL.
	urlScheme = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://`)
	// credentialField is "name: " or "name=" (the name optionally quoted); the value after it
	// is read by fieldValueEnd.
	credentialField = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.-])(["']?)([A-Za-z][A-Za-z0-9_.-]*)(["']?)[ \t]*[:=][ \t]*`)
	// bareUserinfo is user:password@host without a scheme (rtspsrc's proxy property).
	bareUserinfo = regexp.MustCompile(`(?:^|[\s"'=(,;{\[])[^\s:@/"'=(,;{\[]+:([^\s@/"']+)@[A-Za-z0-9\[]`)
)

// span is a part of a text to mask.
type span struct{ start, end int }

// scanText finds the credentials in s and returns s with each replaced by ***, and the
// credentials.
func scanText(s string) (string, []string) {
	var spans, urls []span
	// URLs: the password of the userinfo, and secret query or fragment parameters.
	// Every scan stops where the next URL starts, so that the whole is linear in len(s).
	schemes := urlScheme.FindAllStringIndex(s, -1)
	for i, m := range schemes {
		limit := len(s)
		if i+1 < len(schemes) {
			limit = schemes[i+1][0]
		}
		found, end := urlSpans(s[:limit], m[1])
		spans = append(spans, found...)
		urls = append(urls, span{m[0], end})
	}
	for _, m := range bareUserinfo.FindAllStringSubmatchIndex(s, -1) {
		spans = append(spans, span{m[2], m[3]})
	}
	// name: value, name=value. A field inside the value of the one before is masked with it.
	maskedUntil, u := 0, 0
	for _, m := range credentialField.FindAllStringSubmatchIndex(s, -1) {
		for u < len(urls) && urls[u].end <= m[4] {
			u++
		}
		inURL := u < len(urls) && urls[u].start <= m[4]
		name := s[m[4]:m[5]]
		if m[4] < maskedUntil || inURL || !IsCredentialName(name) {
			continue // masked already, a URL's parameter (done above), or not a credential
		}
		if open, close := s[m[2]:m[3]], s[m[6]:m[7]]; open != close {
			continue // "password': ..." is not a quoted name
		}
		start := m[1]
		if start > 0 && s[start-1] == ':' && start < len(s) && s[start] == '/' {
			continue // a URL scheme ("token://"), not a field
		}
		if end := fieldValueEnd(s, start, strings.Contains(s[m[0]:m[1]], "=")); end > start {
			spans = append(spans, span{start, end})
			maskedUntil = end
		}
	}
	if len(spans) == 0 {
		return s, nil
	}
	// Overlapping parts are masked as one.
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		if last := &merged[len(merged)-1]; sp.start <= last.end {
			last.end = max(last.end, sp.end)
		} else {
			merged = append(merged, sp)
		}
	}
	var b strings.Builder
	var secrets []string
	pos := 0
	for _, sp := range merged {
		b.WriteString(s[pos:sp.start])
		b.WriteString(Mask)
		secrets = appendSecret(secrets, s[sp.start:sp.end])
		pos = sp.end
	}
	b.WriteString(s[pos:])
	return b.String(), secrets
}

// appendSecret adds a secret, trimmed of the quotes that delimited it, and its
// percent-decoded form.
func appendSecret(secrets []string, v string) []string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		secrets = append(secrets, v)
		v = v[1 : len(v)-1]
	}
	if v == "" {
		return secrets
	}
	secrets = append(secrets, v)
	// A block scalar's value: also without its line breaks, and line by line.
	if t := strings.TrimSpace(v); t != v && t != "" {
		secrets = append(secrets, t)
	}
	if strings.ContainsAny(v, "\n\r") {
		for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if line = strings.TrimSpace(line); line != "" {
				secrets = append(secrets, line)
			}
		}
	}
	if d, err := url.PathUnescape(v); err == nil && d != v && d != "" {
		secrets = append(secrets, d)
	}
	if d, err := url.QueryUnescape(v); err == nil && d != v && d != "" {
		secrets = append(secrets, d)
	}
	return secrets
}

// urlEnd reports whether c ends a URL in running text: a line break or a quote. Spaces do
// not: a password may hold one (rtsp://u:two words@cam/), and the authority ends at the
// first '/' or '?' anyway.
func urlEnd(c byte) bool {
	switch c {
	case '\n', '\r', '"', '\'':
		return true
	}
	return false
}

// urlSpans returns the secret parts of the URL whose authority starts at i in s, and where
// the URL ends.
func urlSpans(s string, i int) ([]span, int) {
	var spans []span
	// The authority: up to the first '/' (or the URL's end). Its userinfo ends at its last
	// '@', so that an '@' in a password stays in the password, and so does an unencoded '?'
	// or '#' (a query or fragment holding an '@' before the first '/' is masked too: more
	// than needed, never less).
	end := i
	for end < len(s) && !urlEnd(s[end]) && s[end] != '/' {
		end++
	}
	if at := strings.LastIndexByte(s[i:end], '@'); at >= 0 {
		userinfo := s[i : i+at]
		if colon := strings.IndexByte(userinfo, ':'); colon >= 0 && colon+1 < len(userinfo) {
			spans = append(spans, span{i + colon + 1, i + at})
		}
	}
	// The rest of the URL: up to a space or a URL end. Parameters with a credential's name.
	rest := end
	for rest < len(s) && !urlEnd(s[rest]) && s[rest] != ' ' && s[rest] != '\t' {
		rest++
	}
	for j := i; j < rest; j++ {
		if c := s[j]; c != '?' && c != '&' && c != ';' && c != '#' {
			continue
		}
		k := j + 1
		for k < rest && s[k] != '=' && s[k] != '&' && s[k] != ';' && s[k] != '#' && s[k] != '?' {
			k++
		}
		if k >= rest || s[k] != '=' {
			continue
		}
		name, err := url.QueryUnescape(s[j+1 : k])
		if err != nil {
			name = s[j+1 : k]
		}
		if !IsCredentialName(name) {
			continue
		}
		v := k + 1
		for v < rest && s[v] != '&' && s[v] != ';' && s[v] != '#' {
			v++
		}
		if v > k+1 {
			spans = append(spans, span{k + 1, v})
		}
	}
	return spans, rest
}

// fieldValueEnd returns where the value of a credential field starting at i ends: after its
// closing quote when quoted (backslash escapes in double quotes, a doubled quote in single
// quotes), else at the end of the line or a ',', '}', ']', '&' or ';', and after '=' (name=value,
// as in gst-launch lines and logs, which quote a value with spaces) also at a space.
func fieldValueEnd(s string, i int, equals bool) int {
	if i >= len(s) {
		return i
	}
	// A GstStructure field's type: Authorization=(string)"Basic ...".
	if s[i] == '(' {
		if j := strings.IndexByte(s[i:], ')'); j > 1 && j < 24 && strings.Trim(s[i+1:i+j], "abcdefghijklmnopqrstuvwxyz") == "" {
			if end := fieldValueEnd(s, i+j+1, equals); end > i+j+1 {
				return end
			}
		}
	}
	switch s[i] {
	case '"':
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(s)
	case '\'':
		for j := i + 1; j < len(s); j++ {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					j++
					continue
				}
				return j + 1
			}
		}
		return len(s)
	}
	j := i
	for j < len(s) {
		switch s[j] {
		case '\n', '\r', ',', '}', ']', '&', ';':
			return trimRightSpace(s, i, j)
		case ' ', '\t':
			if equals {
				return j
			}
		}
		j++
	}
	return trimRightSpace(s, i, j)
}

func trimRightSpace(s string, start, end int) int {
	for end > start && (s[end-1] == ' ' || s[end-1] == '\t') {
		end--
	}
	return end
}

// Secrets returns every credential value of the pipeline's definition: the values of
// credential-named source and sink parameters and element properties (rtsp password, user-pw,
// proxy-pw, ...), the passwords and secret parameters of every URL among the values, and
// what the document's own masking finds (DocumentSecrets). Errors of the pipeline are
// redacted with them (RedactSecrets), so that a message quoting a value cannot leak it.
func (s *Spec) Secrets() []string {
	var out []string
	add := func(name string, value any) {
		v, ok := value.(string)
		if !ok || v == "" {
			return
		}
		if IsCredentialName(name) {
			out = appendSecret(out, v)
		}
		out = append(out, TextSecrets(v)...)
	}
	for _, ep := range []Endpoint{s.Source, s.Sink} {
		for name, v := range ep.Params {
			add(name, v)
		}
	}
	for _, st := range s.Elements {
		for _, p := range st.Properties {
			add(p.Name, p.Value)
		}
	}
	if len(s.Raw) > 0 {
		out = append(out, DocumentSecrets(s.Raw)...)
	}
	return dedupe(out)
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
