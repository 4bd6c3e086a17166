package pipelines

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// State is where a supervised pipeline is in its life.
type State string

// Pipeline states.
const (
	StateStarting   State = "starting"   // built, going to PLAYING
	StateRunning    State = "running"    // PLAYING
	StateRestarting State = "restarting" // failed; waiting for its backoff before rebuilding
	StateFinished   State = "finished"   // a finite source reached its end
	StateFailed     State = "failed"     // gave up: MaxRestarts reached
	StateStopped    State = "stopped"    // stopped on request
	StateInvalid    State = "invalid"    // its file does not validate; nothing runs
	StateIdle       State = "idle"       // valid, autostart off: run on demand only
)

// Status is a snapshot of a supervised pipeline.
type Status struct {
	Name        string    `json:"name"`
	File        string    `json:"file,omitempty"`
	State       State     `json:"state"`
	Since       time.Time `json:"since"`
	Restarts    int       `json:"restarts"`
	Frames      int64     `json:"frames"` // frames that reached the sink, all runs together
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// NextAttempt is when a restarting pipeline will be rebuilt.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// ConfigError is the latest edit of the file that was refused (with file:line:column);
	// the pipeline keeps running its previous valid version.
	ConfigError string `json:"config_error,omitempty"`
}

// SupervisorOptions tune a Supervisor.
type SupervisorOptions struct {
	// Input and OnFrame are passed to every Build.
	Input   string
	OnFrame func(buf *gst.Buffer)
	// Binding ties the pipeline to what it runs for (a checkout session, a camera's station,
	// the cart of `ebrcs run`); the zero Binding: the file alone.
	Binding Binding
	// MaxRestarts is how many restarts to try before giving up; negative means forever.
	MaxRestarts int
	Logger      *slog.Logger
}

// Binding ties a pipeline to what it runs for, at run time: what a file cannot say. The
// domain (package checkout) builds every Binding; a Supervisor receives it when it is created.
type Binding struct {
	// Configure, when set, is called on every build with each element step after its file
	// properties are set (BuildContext.Configure): a session's cart and ROI.
	Configure func(step *Step, el *gst.Element) error
	// Media connects the webrtc source and the webrtc or whep sink to their peer
	// (BuildContext.Media); nil: such a pipeline cannot be built.
	Media MediaLink
	// Attach, when set, is called by Start with the supervisor before the pipeline is first
	// built, and the detach it returns once the supervisor has ended (stopped, finished or
	// failed), before Done is closed: while attached, the domain reaches the running pipeline
	// (a session's ROI changes).
	Attach func(sup *Supervisor) (detach func())
	// OnState, when set, is told of every change of the pipeline's state, in order, from the
	// supervisor's goroutine (the session's events, checkout.EventSink). It must not block.
	OnState func(Status)
}

// Binder binds the pipelines a Manager starts (package checkout: a camera's checkout
// station). An error is logged; the pipeline then runs with the Binding returned (a partial
// one, or none), and what it lacks shows in its status when it needs it (a whep sink without
// Media cannot be built).
type Binder interface {
	Bind(spec *Spec) (Binding, error)
}

// Supervisor runs one pipeline: it builds it, plays it, watches its bus, and when it fails
// (an error, or the end of a source that should never end) tears it down and builds it again
// after an exponential backoff. Failure is a normal state here, visible in Status.
type Supervisor struct {
	spec *Spec
	opts SupervisorOptions
	log  *slog.Logger

	mu          sync.Mutex
	status      Status
	built       *Built
	framesSoFar int64 // frames of the runs before the current one

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	// secrets are the credentials of the definition (Spec.Secrets), removed from every error
	// text the supervisor shows or logs.
	secrets []string

	// lastLogged and lastLoggedAt rate-limit failure logs: a camera that is down fails the
	// same way every backoff period, and one line a minute says so.
	lastLogged   string
	lastLoggedAt time.Time
}

// NewSupervisor prepares a supervisor; Start runs it.
func NewSupervisor(spec *Spec, opts SupervisorOptions) *Supervisor {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Supervisor{
		spec: spec, opts: opts,
		log:     log.With("pipeline", spec.Name),
		secrets: spec.Secrets(),
		status:  Status{Name: spec.Name, File: spec.File, State: StateStarting, Since: time.Now()},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Spec returns the definition this supervisor runs.
func (s *Supervisor) Spec() *Spec { return s.spec }

// Start attaches the pipeline's Binding and runs the pipeline in the background.
func (s *Supervisor) Start() {
	var detach func()
	if s.opts.Binding.Attach != nil {
		detach = s.opts.Binding.Attach(s)
	}
	if s.opts.Binding.OnState != nil {
		s.opts.Binding.OnState(s.Status()) // starting
	}
	go s.run(detach)
}

// Stop stops the pipeline (to the NULL state) and waits until it has.
func (s *Supervisor) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

// Done is closed when the supervisor has ended: stopped, finished or failed.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Status returns a snapshot of the pipeline's state.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Frames = s.framesSoFar
	if s.built != nil {
		st.Frames += s.built.Frames()
	}
	return st
}

// Element returns the named element of the running pipeline (nil when not running), for
// inspection and live property changes.
func (s *Supervisor) Element(name string) *gst.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.built == nil {
		return nil
	}
	return s.built.Element(name)
}

// ElementsOf returns the running pipeline's elements made by the given factory, in chain
// order (none when not running).
func (s *Supervisor) ElementsOf(factory string) []*gst.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.built == nil {
		return nil
	}
	var out []*gst.Element
	for _, st := range s.spec.Elements {
		if st.Element == factory {
			if el := s.built.Element(st.Name); el != nil {
				out = append(out, el)
			}
		}
	}
	return out
}

// Position returns how far the running pipeline is into its stream and the stream's length,
// when known (files); ok is false when not running or unknown.
func (s *Supervisor) Position() (pos, length time.Duration, ok bool) {
	s.mu.Lock()
	built := s.built
	s.mu.Unlock()
	if built == nil {
		return 0, 0, false
	}
	okPos, p := built.Pipeline.QueryPosition(gst.FormatTime)
	okLen, l := built.Pipeline.QueryDuration(gst.FormatTime)
	// The run may end meanwhile and drop its Built: then our reference is the pipeline's
	// last, and without it the wrapper's finalizer could dispose of the pipeline while the
	// queries above are still running in C.
	runtime.KeepAlive(built)
	if !okPos || !okLen || p < 0 || l <= 0 {
		return 0, 0, false
	}
	return time.Duration(p), time.Duration(l), true
}

func (s *Supervisor) setState(state State, mutate func(*Status)) {
	s.mu.Lock()
	changed := s.status.State != state
	if changed {
		s.status.State = state
		s.status.Since = time.Now()
	}
	if mutate != nil {
		mutate(&s.status)
	}
	st := s.status
	s.mu.Unlock()
	if changed && s.opts.Binding.OnState != nil {
		s.opts.Binding.OnState(st)
	}
}

func (s *Supervisor) run(detach func()) {
	defer close(s.done)
	if detach != nil {
		defer detach() // before Done is closed
	}
	policy := s.spec.Restart
	backoff := policy.InitialBackoff
	for {
		started := time.Now()
		outcome, err := s.runOnce()
		switch outcome {
		case outcomeStopped:
			s.setState(StateStopped, nil)
			return
		case outcomeFinished:
			s.setState(StateFinished, nil)
			s.log.Info("pipeline finished", "frames", s.Status().Frames)
			return
		}
		// A failure. A run that stayed up long enough proves the pipeline healthy again.
		if time.Since(started) >= policy.StableAfter {
			backoff = policy.InitialBackoff
		}
		st := s.Status()
		msg := s.redact(err.Error()) // never a camera's password in the API or the logs
		if s.opts.MaxRestarts >= 0 && st.Restarts >= s.opts.MaxRestarts {
			s.setState(StateFailed, func(st *Status) { st.LastError, st.LastErrorAt = msg, time.Now() })
			s.log.Error("pipeline failed", "error", msg)
			return
		}
		// One clock reading for both stamps, so the status shows exactly the backoff waited,
		// however long setState's lock took to get.
		failedAt := time.Now()
		next := failedAt.Add(backoff)
		s.setState(StateRestarting, func(st *Status) {
			st.LastError, st.LastErrorAt = msg, failedAt
			st.NextAttempt = next
			st.Restarts++
		})
		// The same failure again (element instance numbers aside) is logged once a minute.
		key := instanceNumbers.ReplaceAllString(msg, "#")
		if key != s.lastLogged || time.Since(s.lastLoggedAt) >= time.Minute {
			s.log.Warn("pipeline failed; restarting", "error", msg, "in", backoff, "restarts", st.Restarts+1)
			s.lastLogged, s.lastLoggedAt = key, time.Now()
		} else {
			s.log.Debug("pipeline failed again; restarting", "error", msg, "in", backoff, "restarts", st.Restarts+1)
		}
		select {
		case <-s.stop:
			s.setState(StateStopped, nil)
			return
		case <-time.After(time.Until(next)):
		}
		backoff = min(backoff*2, policy.MaxBackoff)
	}
}

// redact removes the pipeline's own credentials, then any credential-looking text, from an
// error message bound for Status or a log line.
func (s *Supervisor) redact(msg string) string { return RedactSecrets(msg, s.secrets) }

// instanceNumbers are the numbers GStreamer appends to element names (rtspsrc12).
var instanceNumbers = regexp.MustCompile(`[0-9]+`)

type outcome int

const (
	outcomeStopped outcome = iota
	outcomeFinished
	outcomeFailed
)

// runOnce builds and plays the pipeline until it stops, ends or fails.
func (s *Supervisor) runOnce() (outcome, error) {
	built, err := Build(&BuildContext{Spec: s.spec, Input: s.opts.Input, OnFrame: s.opts.OnFrame,
		Configure: s.opts.Binding.Configure, Media: s.opts.Binding.Media})
	if err != nil {
		return outcomeFailed, err
	}
	s.mu.Lock()
	s.built = built
	s.mu.Unlock()
	s.setState(StateStarting, func(st *Status) { st.NextAttempt = time.Time{} })
	defer func() {
		built.Pipeline.SetState(gst.StateNull)
		built.Release()
		s.mu.Lock()
		s.framesSoFar += built.Frames()
		s.built = nil
		s.mu.Unlock()
	}()

	bus := built.Pipeline.GetPipelineBus()
	if err := built.Pipeline.SetState(gst.StatePlaying); err != nil {
		// The element that refused posted the reason on the bus.
		if msg := bus.TimedPopFiltered(gst.ClockTime(time.Second), gst.MessageError); msg != nil {
			return outcomeFailed, s.describeError(built, msg)
		}
		return outcomeFailed, fmt.Errorf("cannot start: %v", err)
	}
	// A source with a silence timeout (a camera) that delivers no frame for that long has
	// failed, even without an error: a stalled stream never says so.
	silence := s.spec.SilenceTimeout()
	lastFrames, lastProgress := built.Frames(), time.Now()
	for {
		select {
		case <-s.stop:
			return outcomeStopped, nil
		default:
		}
		if silence > 0 {
			if n := built.Frames(); n != lastFrames {
				lastFrames, lastProgress = n, time.Now()
			} else if time.Since(lastProgress) > silence {
				if n == 0 {
					return outcomeFailed, fmt.Errorf("no frame within %v of starting (the source is silent)", silence)
				}
				return outcomeFailed, fmt.Errorf("no frame for %v (the source stalled)", silence)
			}
		}
		msg := bus.TimedPopFiltered(gst.ClockTime(100*time.Millisecond),
			gst.MessageError|gst.MessageEOS|gst.MessageStateChanged|gst.MessageWarning)
		if msg == nil {
			continue
		}
		switch msg.Type() {
		case gst.MessageError:
			return outcomeFailed, s.describeError(built, msg)
		case gst.MessageEOS:
			if s.spec.Endless() {
				return outcomeFailed, errors.New("unexpected end of stream from a source that should not end")
			}
			return outcomeFinished, nil
		case gst.MessageWarning:
			w := msg.ParseWarning()
			s.log.Warn("pipeline warning", "from", msg.Source(), "warning", s.redact(w.Error()))
		case gst.MessageStateChanged:
			if msg.Source() == s.spec.Name {
				if _, newState := msg.ParseStateChanged(); newState == gst.StatePlaying {
					s.setState(StateRunning, nil)
				}
			}
		}
	}
}

// describeError turns a bus error into one line naming the element, and, for a format
// negotiation failure, the two elements that could not agree.
func (s *Supervisor) describeError(built *Built, msg *gst.Message) error {
	gerr := msg.ParseError()
	if strings.Contains(gerr.DebugString(), "not-negotiated") {
		if le := built.diagnoseNegotiation(); le != nil {
			return le
		}
	}
	text := fmt.Sprintf("%s: %s", msg.Source(), gerr.Error())
	if d := gerr.DebugString(); d != "" {
		text += " (" + lastLine(d) + ")"
	}
	return errors.New(text)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
