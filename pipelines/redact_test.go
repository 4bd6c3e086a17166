package pipelines

import (
	"strings"
	"testing"
)

// Redact on free text (errors, logs, statuses): the forms that came through in clear before.
func TestRedactTextForms(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// '@' in a URL's password: hidden up to the authority's last '@'.
		{"open rtsp://u:p@ss@cam/x failed", "open rtsp://u:***@cam/x failed"},
		{"rtsp://admin:a@b@c@10.0.0.2:554/s", "rtsp://admin:***@10.0.0.2:554/s"},
		{"rtsp://user:#000@host/x", "rtsp://user:***@host/x"}, // gst reads '#' as part of it
		{"<rtsp://user:<>`@host/x>", "<rtsp://user:***@host/x>"},
		{"rtsp://user:a?b#c@host/x", "rtsp://user:***@host/x"},
		{"rtsp://cam?token=t1", "rtsp://cam?token=***"},
		// A space in it (an unparsable URL quoted by an error).
		{`parse "rtsp://admin:two words@cam/x": net/url: invalid userinfo`, `parse "rtsp://admin:***@cam/x": net/url: invalid userinfo`},
		// Secret query and fragment parameters, any case, any credential name.
		{"rtsp://cam/x?user=a&password=qs1", "rtsp://cam/x?user=a&password=***"},
		{"GET https://h/p?token=abc&x=1 502", "GET https://h/p?token=***&x=1 502"},
		{"https://h/p?api_key=k1;secret=s2#access_token=t3", "https://h/p?api_key=***;secret=***#access_token=***"},
		{"https://h/p?Auth=zz&PassWord=yy", "https://h/p?Auth=***&PassWord=***"},
		// Fields with a credential's name, in YAML, JSON and gst-launch syntax.
		{"rtspsrc location=rtsp://cam/x user-id=bob user-pw=hunter2 latency=0", "rtspsrc location=rtsp://cam/x user-id=bob user-pw=*** latency=0"},
		{"proxy_pw: 'it''s'", "proxy_pw: ***"},
		{`{"token": "a\"b", "n": 1}`, `{"token": ***, "n": 1}`},
		{"Authorization: Bearer abc.def", "Authorization: ***"},
		{"secret=s, other", "secret=***, other"},
		{"db_password: x y z\nnext: 1", "db_password: ***\nnext: 1"},
		{"apiKey=K", "apiKey=***"},
		// Userinfo without a scheme (rtspsrc proxy: user:password@host:port).
		{"proxy user:prx@proxy.lan:3128 refused", "proxy user:***@proxy.lan:3128 refused"},
		// Left alone.
		{"element ebrcs_passthrough: label: pass-through, bypass: 1", "element ebrcs_passthrough: label: pass-through, bypass: 1"},
		{"rtsp://cam.local:554/stream (no credentials)", "rtsp://cam.local:554/stream (no credentials)"},
		{"video/x-raw,format=RGBA,width=640", "video/x-raw,format=RGBA,width=640"},
		{"unknown key \"passwrd\" in source (did you mean \"password\"?)", "unknown key \"passwrd\" in source (did you mean \"password\"?)"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestIsCredentialName(t *testing.T) {
	for _, name := range []string{"password", "Password", "PASSWD", "pwd", "pass", "passphrase", "secret",
		"client_secret", "token", "auth_token", "authToken", "api_key", "apiKey", "api-key", "user-pw", "user_pw",
		"proxy-pw", "proxy_password", "db-password", "credentials", "Authorization", "auth", "key", "ssh-key",
		"private_key", "cookies", "pem", "secure-token", "ssh-key-passphrase", "passwords", "tokens"} {
		if !IsCredentialName(name) {
			t.Errorf("%q is a credential's name", name)
		}
	}
	for _, name := range []string{"user", "user-id", "url", "location", "label", "name", "type", "bypass",
		"passthrough", "keyframe", "key-int-max", "monkey", "transport", "latency_ms", "catalog", "description"} {
		if IsCredentialName(name) {
			t.Errorf("%q is not a credential's name", name)
		}
	}
}

// RedactSecrets removes known values wherever they are, quoted by %q or not.
func TestRedactSecrets(t *testing.T) {
	got := RedactSecrets(`login "a\"b" refused; tried hunter 2 twice`, []string{`a"b`, "hunter 2", ""})
	if strings.Contains(got, "hunter 2") || strings.Contains(got, `a\"b`) || strings.Contains(got, `a"b`) {
		t.Fatalf("RedactSecrets left a secret: %q", got)
	}
	if got != `login "***" refused; tried *** twice` {
		t.Fatalf("RedactSecrets = %q", got)
	}
}

// Spec.Secrets lists every credential value of a definition.
func TestSpecSecrets(t *testing.T) {
	spec := mustLoad(t, `name: cam
source:
  type: rtsp
  url: "rtsp://admin:url@pw@127.0.0.1:1/x?token=tok1"
  password: "field pw"
elements:
  - element: videoconvert
sink: {type: fake}
`)
	secrets := spec.Secrets()
	for _, want := range []string{"url@pw", "tok1", "field pw"} {
		found := false
		for _, s := range secrets {
			found = found || s == want
		}
		if !found {
			t.Errorf("Secrets() = %q, missing %q", secrets, want)
		}
	}
	for _, s := range secrets {
		if s == "admin" || s == "" {
			t.Errorf("Secrets() has %q", s)
		}
	}
}
