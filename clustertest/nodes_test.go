// Package clustertest runs several real `ebrcs serve` processes on one real NATS server
// (loopback, temporary directories): presence, a duplicate name refused, /api/nodes, a WHIP
// offer redirected from a full node to one with room, a node killed -9 coming back, and the
// events of every node on one stream.
package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pion/webrtc/v4"

	"github.com/ebrcs/ebrcs/cluster"
	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/testkit/natstest"
	"github.com/ebrcs/ebrcs/testkit/testenv"
)

const adminToken = "clustertest-admin-token-012345678"

// node is one `ebrcs serve` process with its own directory, configuration and port.
type node struct {
	name, dir, config, base string
	bin                     string
	cmd                     *exec.Cmd
	log                     *natstest.SyncBuffer
	done                    chan struct{}
}

// limits are a node's own: more YAML under checkout: and webrtc:.
type limits struct{ checkout, webrtc string }

// newNode configures (without starting) a node named name on the broker at eventsURL, with a
// checkout station of its own (st_counter-<name>).
func newNode(t testing.TB, name, eventsURL string, extra limits) *node {
	t.Helper()
	dir := t.TempDir()
	port := natstest.FreePort(t)
	n := &node{name: name, dir: dir, bin: bin, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	models, err := filepath.Abs("../models")
	if err != nil {
		t.Fatal(err)
	}
	catalog := filepath.Join(dir, "catalog")
	pipelinesDir := filepath.Join(dir, "pipelines")
	if err := os.Mkdir(pipelinesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shipped := func(name string) string {
		raw, err := os.ReadFile("../configs/pipelines/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return testenv.PointPipeline(t, string(raw), catalog, models)
	}
	write(filepath.Join(dir, "checkout.yaml"), shipped("checkout.yaml"))
	write(filepath.Join(pipelinesDir, "live.yaml"), shipped("live.yaml"))
	// A station counting from a test pattern: it shows in /api/nodes and publishes its
	// pipeline's state changes.
	write(filepath.Join(pipelinesDir, "counter-"+name+".yaml"), fmt.Sprintf(`name: counter-%s
source: {type: test, pattern: ball, width: 160, height: 120, framerate: 5}
elements:
  - element: videoconvert
  - caps: video/x-raw,format=RGBA
  - element: ebrcs_counter
sink: {type: fake}
`, name))
	n.config = filepath.Join(dir, "ebrcs.yaml")
	write(n.config, fmt.Sprintf(`addr: 127.0.0.1:%d
pipelines: %s
log_level: info
admin_token: %s
media_dir: %s
node_name: %s
events_url: %s
cluster:
  queue_dir: %s
  presence_ttl: 3s
  heartbeat: 300ms
webrtc:
  include_loopback: true
%scheckout:
  pipeline: %s
%s`, port, pipelinesDir, adminToken, dir, name, eventsURL, filepath.Join(dir, "events"), extra.webrtc,
		filepath.Join(dir, "checkout.yaml"), extra.checkout))
	t.Cleanup(n.kill)
	return n
}

// start starts the process; wait says whether to wait until it serves.
func (n *node) start(t testing.TB, wait bool) {
	t.Helper()
	n.log = &natstest.SyncBuffer{}
	n.cmd = exec.Command(n.bin, "serve", "--config", n.config)
	n.cmd.Dir = n.dir
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(n.cmd)
	n.done = done
	if !wait {
		return
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("%s exited at start-up (%v):\n%s", n.name, n.cmd.ProcessState, n.log)
		default:
		}
		if resp, err := http.Get(n.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 90 s:\n%s", n.name, n.log)
}

// kill SIGKILLs the process and waits for it; a no-op when it is not running.
func (n *node) kill() { n.signal(syscall.SIGKILL) }

// stop SIGTERMs the process and waits for it.
func (n *node) stop() { n.signal(syscall.SIGTERM) }

func (n *node) signal(sig syscall.Signal) {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd = nil
}

// nodes reads the node's /api/nodes.
func (n *node) nodes(t *testing.T) []cluster.NodeInfo {
	t.Helper()
	resp, err := http.Get(n.base + "/api/nodes")
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	defer resp.Body.Close()
	var out []cluster.NodeInfo
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s /api/nodes: %v", n.name, err)
	}
	return out
}

func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bin is the ebrcs binary, built once for the package's tests (TestMain).
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "clustertest-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "ebrcs")
	code := 0
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ebrcs").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		code = 1
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// names lists the names of the nodes present, and whether each has its station.
func names(list []cluster.NodeInfo) string {
	var out []string
	for _, n := range list {
		s := n.Name
		if len(n.Stations) != 1 || n.Stations[0] != "st_counter-"+n.Name {
			s += "(stations " + strings.Join(n.Stations, ",") + ")"
		}
		if !n.Present {
			s += "(absent)"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// Three nodes on one NATS server.
func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and runs four of them")
	}
	broker := natstest.Start(t)
	// n1 takes one shopper's session at a time: the small admission limit.
	n1 := newNode(t, "n1", broker.URL, limits{checkout: "  max_sessions: 1\n"})
	n2 := newNode(t, "n2", broker.URL, limits{})
	n3 := newNode(t, "n3", broker.URL, limits{})
	for _, n := range []*node{n1, n2, n3} {
		n.start(t, true)
	}

	// Presence: every node lists the three, itself first, each with its station.
	waitFor(t, 15*time.Second, "every node lists n1 n2 n3", func() bool {
		for _, n := range []*node{n1, n2, n3} {
			if list := n.nodes(t); len(list) != 3 || list[0].Name != n.name || !list[0].Self ||
				strings.Contains(names(list), "(") {
				return false
			}
		}
		return true
	})
	list := n2.nodes(t)
	t.Logf("n2's /api/nodes: %s", names(list))
	for _, info := range list {
		if info.URL == "" || info.Boot == "" || info.Load.MaxSessions == 0 || !info.Load.Room {
			t.Errorf("%s as n2 lists it: %+v", info.Name, info)
		}
	}

	// A second node named n2 is a start-up error naming the live one.
	dup := newNode(t, "n2", broker.URL, limits{})
	dup.start(t, false)
	select {
	case <-dup.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("a second n2 still runs after 30 s:\n%s", dup.log)
	}
	if code := dup.cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(dup.log.String(), `node name \"n2\" is in use by a live node (`+n2.base) {
		t.Fatalf("a second n2: exit %d, log:\n%s", code, dup.log)
	}
	dup.cmd = nil
	if got := names(n1.nodes(t)); got != "n1 n2 n3" {
		t.Fatalf("after the refused duplicate n1 lists %s", got)
	}

	// The admission limit: n1 holds one session; a camera offered to n1 for a new session is
	// redirected (307) to a node with room, and a WHIP client that follows lands there.
	resp, err := http.Post(n1.base+"/api/sessions", "application/json", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("a session on n1: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	api, err := signaling.ClientAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offer := whipOffer(t, api)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, n1.base+"/whip/live", strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || (loc != n2.base+"/whip/live" && loc != n3.base+"/whip/live") {
		t.Fatalf("an offer to the full n1: %s, Location %q: %s", resp.Status, loc, body)
	}
	pub, err := signaling.Publish(ctx, api, n1.base+"/whip/live", "VP8", nil)
	if err != nil {
		t.Fatalf("a WHIP client following the redirect: %v", err)
	}
	if !strings.HasPrefix(pub.Location, n2.base+"/whip/live/") && !strings.HasPrefix(pub.Location, n3.base+"/whip/live/") {
		t.Fatalf("the WHIP resource is %q, on neither n2 nor n3", pub.Location)
	}
	t.Logf("the offer to n1 landed at %s (session %s)", pub.Location, pub.Session)
	pub.Close()

	// n3 is killed (-9): it leaves no goodbye; started again from its directory it is back at
	// once under a new boot, and the others list it again.
	before := n3.nodes(t)[0].Boot
	n3.kill()
	start := time.Now()
	n3.start(t, true)
	waitFor(t, 10*time.Second, "n1 lists the restarted n3", func() bool {
		for _, info := range n1.nodes(t) {
			if info.Name == "n3" && info.Boot != before {
				return true
			}
		}
		return false
	})
	t.Logf("n3 killed and restarted: back in n1's list %v after its start", time.Since(start).Round(time.Millisecond))

	// Every node's events are on the one stream: its station's states, the sessions.
	for _, n := range []*node{n1, n2, n3} {
		n.stop()
	}
	subjects := streamSubjects(t, broker.URL)
	for _, want := range []string{"ebrcs.n1.st_counter-n1.state", "ebrcs.n2.st_counter-n2.opened", "ebrcs.n3.st_counter-n3.state"} {
		if subjects[want] == 0 {
			t.Errorf("no event on %s; subjects: %v", want, subjects)
		}
	}
	shopper := 0
	for s, n := range subjects {
		if strings.HasPrefix(s, "ebrcs.n1.s_") && strings.HasSuffix(s, ".opened") {
			shopper += n
		}
	}
	if shopper != 1 {
		t.Errorf("%d openings of a shopper's session on n1, want 1; subjects: %v", shopper, subjects)
	}
}

// whipOffer is a camera's WHIP offer (VP8, candidates gathered); its connection is closed
// when the test ends.
func whipOffer(t *testing.T, api *webrtc.API) string {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "camera")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// streamSubjects counts the events of the stream by subject.
func streamSubjects(t *testing.T, url string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, cluster.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for s, n := range info.State.Subjects {
		out[s] = int(n)
	}
	return out
}
