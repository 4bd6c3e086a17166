package pipelines

import (
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/testkit/testelements"
)

func TestRedactHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://admin:s3cret@10.0.0.2:554/stream":                    "rtsp://admin:***@10.0.0.2:554/stream",
		"Could not open rtsp://u:p%40ss@cam/x (Unauthorized)":        "Could not open rtsp://u:***@cam/x (Unauthorized)",
		"source: {type: rtsp, url: rtsp://cam/x, password: hunter2}": "source: {type: rtsp, url: rtsp://cam/x, password: ***}",
		"  password: \"two words\"\n  user: bob":                     "  password: ***\n  user: bob",
		`{"password":"x y","url":"rtsp://a:b@h"}`:                    `{"password":***,"url":"rtsp://a:***@h"}`,
		"rtsp://cam.local/stream (no credentials)":                   "rtsp://cam.local/stream (no credentials)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRTSPSourceValidates(t *testing.T) {
	testelements.Register(t)
	for _, c := range []struct{ yaml, want string }{
		{"source: {type: rtsp}\nsink: {type: fake}\n", "url"},
		{"source: {type: rtsp, url: http://cam/x}\nsink: {type: fake}\n", "rtsp://"},
		{"source: {type: rtsp, url: rtsp://cam/x, transport: quic}\nsink: {type: fake}\n", "tcp, udp, auto"},
		{"source: {type: rtsp, url: 'rtsp://u:topsecret@/x'}\nsink: {type: fake}\n", "no host"},
	} {
		_, err := Load("cam.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%q: %v, want an error mentioning %q (and no password)", c.yaml, err, c.want)
		}
	}
	spec, err := Load("cam.yaml", []byte("source: {type: rtsp, url: 'rtsp://u:p@127.0.0.1:1/x', transport: tcp}\nsink: {type: fake}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.SilenceTimeout().Seconds() != 5 || !spec.Endless() {
		t.Fatalf("silence %v, endless %v", spec.SilenceTimeout(), spec.Endless())
	}
}
