package signaling

import (
	"sync"
	"syscall"
	"time"

	"github.com/ebrcs/ebrcs/internal/cores"
)

// Admission decides whether a new live camera (WHIP publisher) may start: past its limit the
// offer is answered 503 with Retry-After (or sent to a node with room), so that the sessions
// already running keep their frame rate instead of every session degrading.
//
// The limit is Config.MaxPublishers; 0 derives it from this machine's measured capacity: the
// cores times a target utilisation, divided by what one live session costs here. That cost
// starts at the benchmark's measurement (DefaultSessionCost) and is then measured while
// sessions run: the process's CPU time over the live sessions, smoothed.
type admission struct {
	fixed int // Config.MaxPublishers: > 0 a fixed limit, < 0 none, 0 measured
	cores float64

	mu       sync.Mutex
	cost     float64 // cores per live session, smoothed
	lastCPU  time.Duration
	lastWall time.Time
}

// DefaultSessionCost is what one live session (640×480 at 15 fps, the shipped live pipeline)
// costs on the benchmark's machine, in cores: 16 sessions used 1.17–1.21 of its 2 cores,
// recognition included (web: BenchmarkLiveSessions). It is the estimate until the server
// has measured its own.
const DefaultSessionCost = 0.075

// targetUtilisation is the share of the cores the measured limit fills: the rest is headroom
// for recognition bursts (sessions showing products at the same moment), uploads, the API,
// and whatever else runs on the machine (the benchmark's clients took 0.4 core). Measured at
// the clients on 2 cores: 16 sessions in step returned 99–100% of their frames, p95 87–113 ms,
// every count exact; 20 returned 84–89%, 17 admitted of 32 offers 77–82%. 0.62 admits 16.
const targetUtilisation = 0.62

// retryAfter is what a refused publisher is told to wait (a checkout lasts minutes; a camera
// that retries sooner finds the same sessions).
const retryAfter = 10 * time.Second

func newAdmission(maxPublishers int) *admission {
	return &admission{fixed: maxPublishers, cores: float64(cores.N()), cost: DefaultSessionCost}
}

// limit is the number of live sessions admitted at once (0: no limit).
func (a *admission) limit() int {
	switch {
	case a.fixed > 0:
		return a.fixed
	case a.fixed < 0:
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return max(1, int(a.cores*targetUtilisation/a.cost))
}

// measure folds the CPU the process used since the last call into the per-session cost, given
// the sessions that ran meanwhile. Called about once a second by the service.
func (a *admission) measure(sessions int) {
	now, cpu := time.Now(), processCPU()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.lastWall.IsZero() && sessions >= 2 {
		rate := (cpu - a.lastCPU).Seconds() / now.Sub(a.lastWall).Seconds()
		if c := rate / float64(sessions); c > 0 {
			// Smoothed over about 20 s: a burst of recognitions moves it little.
			a.cost += 0.05 * (c - a.cost)
			a.cost = min(max(a.cost, 0.005), a.cores)
		}
	}
	a.lastCPU, a.lastWall = cpu, now
}

// processCPU is the process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
