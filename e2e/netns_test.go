package e2e

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netnsEnv marks the test binary that runs inside the private network namespace.
const netnsEnv = "EBRCS_E2E_NETNS"

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER: orphaned descendants (a Chromium
// helper whose browser died first) are re-parented to this process instead of init, so the
// leak check below still sees them.
const prSetChildSubreaper = 36

// TestMain runs the tests in a network namespace of their own with only `lo` up: Chromium
// gathers loopback ICE candidates there (with --allow-loopback-in-peer-connection) and meets
// the server on 127.0.0.1, away from the machine's interfaces and other tests' ports.
//
// Outside the namespace it re-executes this test binary with the same arguments (-test.run,
// -test.v, -test.timeout...) under `unshare -n`, streams its output and exits with its status;
// a namespace that cannot be made is a failure, not a skip. Inside, it runs the tests, then
// fails the run if any process it started (Chromium and its helpers, the server) is still
// alive.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself
	}
	if os.Getenv(netnsEnv) != "1" {
		os.Exit(reexecInNetns())
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "e2e: prctl(PR_SET_CHILD_SUBREAPER): %v\n", errno)
		os.Exit(1)
	}
	code := m.Run()
	cleanupShared()
	if left := waitDescendantsGone(5 * time.Second); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: processes left behind after the tests (now killed):\n")
		for _, p := range left {
			fmt.Fprintf(os.Stderr, "  %s\n", p)
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
		code = 1
	}
	os.Exit(code)
}

// reexecInNetns runs this test binary again in a new network namespace and returns its exit
// status.
func reexecInNetns() int {
	if _, err := exec.LookPath("unshare"); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: the browser tests run in a private network namespace and need unshare (util-linux): %v\n", err)
		return 1
	}
	args := append([]string{"-n", "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	// The child dies with this process (go test's timeout kills us): Pdeathsig follows the
	// thread that started the child, so that thread stays locked until the child is done.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		fmt.Fprintf(os.Stderr, "e2e: the tests in the network namespace (unshare -n) failed: %v\n", err)
		if code := exit.ExitCode(); code > 0 {
			return code
		}
		return 1
	default:
		fmt.Fprintf(os.Stderr, "e2e: FAIL: could not run the tests in a private network namespace (unshare -n, as root): %v\n", err)
		return 1
	}
}

// proc is a process of ours, for the leak report.
type proc struct {
	pid     int
	state   string // R, S, Z...
	comm    string
	cmdline string
}

func (p proc) String() string {
	cmd := p.cmdline
	if len(cmd) > 200 {
		cmd = cmd[:200] + "…"
	}
	return fmt.Sprintf("pid %d (%s, state %s): %s", p.pid, p.comm, p.state, cmd)
}

// descendants lists every process below this one, however deep.
func descendants() []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	info := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(string(stat[end+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		parent[pid] = ppid
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		info[pid] = proc{pid: pid, state: fields[0], comm: string(stat[open+1 : end]),
			cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))}
	}
	self := os.Getpid()
	var out []proc
	for pid, p := range info {
		for q, hops := parent[pid], 0; q > 1 && hops < 64; q, hops = parent[q], hops+1 {
			if q == self {
				out = append(out, p)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// waitDescendantsGone waits up to limit for every process below this one to end, reaping
// zombies re-parented to us (we are their subreaper; nothing else waits for them), and
// returns those still alive. Call it only when every exec.Cmd of ours has been waited for.
func waitDescendantsGone(limit time.Duration) []proc {
	deadline := time.Now().Add(limit)
	for {
		var alive []proc
		for _, p := range descendants() {
			if p.state == "Z" {
				var ws syscall.WaitStatus
				syscall.Wait4(p.pid, &ws, syscall.WNOHANG, nil)
				continue
			}
			alive = append(alive, p)
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkNoLeftovers fails t if a process this test started outlives it. Register it with
// t.Cleanup before the browser and the server, so that it runs after both are stopped.
func checkNoLeftovers(t *testing.T) {
	t.Cleanup(func() {
		if left := waitDescendantsGone(5 * time.Second); len(left) > 0 {
			for _, p := range left {
				t.Errorf("process left behind: %s", p)
				syscall.Kill(p.pid, syscall.SIGKILL)
			}
			waitDescendantsGone(2 * time.Second)
		}
	})
}

// The leak check sees a process that outlives its parent: re-parented to this process (the
// subreaper), it is still ours, and waitDescendantsGone reaps it once it ends.
func TestLeakCheckSeesOrphans(t *testing.T) {
	if os.Getenv(netnsEnv) != "1" {
		t.Skip("only in the network namespace run, where this process is a subreaper (not with -short)")
	}
	out, err := exec.Command("sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("pid %q: %v", out, err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	found := false
	for _, p := range descendants() {
		found = found || p.pid == pid
	}
	if !found {
		t.Fatalf("the orphaned sleep (pid %d) is not among this process's descendants: %v", pid, descendants())
	}
	if left := waitDescendantsGone(200 * time.Millisecond); len(left) != 1 || left[0].pid != pid {
		t.Fatalf("waitDescendantsGone reports %v, want the sleep alone", left)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	if left := waitDescendantsGone(5 * time.Second); len(left) != 0 {
		t.Fatalf("after killing the sleep: %v left", left)
	}
}
