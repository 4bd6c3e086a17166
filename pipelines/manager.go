package pipelines

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/internal/atomicfile"
	"github.com/ebrcs/ebrcs/internal/metrics"
)

// Manager keeps every pipeline file of a directory running, each under its own Supervisor.
//
// Sync reconciles the running set with the files: a new valid file starts, a removed one
// stops, a changed one is validated and test-linked first and then swapped in; a changed file
// that does not validate is refused (its error, with file:line:column, shows in Status) and the
// previous version keeps running. A file whose bytes did not change is left alone, so editing
// one camera's file never disturbs the others. Watch calls Sync whenever the directory changes.
type Manager struct {
	dir  string
	opts ManagerOptions
	log  *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry // by file path
	closed  bool
}

type entry struct {
	file string
	spec *Spec       // the valid definition in force; nil while the file has never been valid
	sup  *Supervisor // nil when not running (invalid, or autostart off)
	// digest of the bytes last looked at, valid or not: unchanged bytes are not re-validated.
	seenDigest  string
	configError string
}

// ManagerOptions tune a Manager.
type ManagerOptions struct {
	// Binder binds each pipeline before its supervisor is created (a camera to its checkout
	// station); nil: none is bound.
	Binder Binder
	// APIPolicy bounds the definitions Replace accepts (the admin API); nil: a Policy with no
	// media directory. Files of the pipeline directory are not bound by it.
	APIPolicy *Policy
	// MaxRestarts of every pipeline: normally -1, keep trying forever.
	MaxRestarts int
	Logger      *slog.Logger
}

// NewManager manages the *.yaml files of dir.
func NewManager(dir string, opts ManagerOptions) *Manager {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Manager{dir: dir, opts: opts, log: log, entries: map[string]*entry{}}
}

// Sync brings the running pipelines in line with the directory's files.
func (m *Manager) Sync() error {
	files, err := pipelineFiles(m.dir)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	present := map[string]bool{}
	for _, f := range files {
		present[f] = true
		m.syncFile(f)
	}
	for f, e := range m.entries {
		if !present[f] {
			if e.sup != nil {
				m.log.Info("pipeline file removed; stopping", "file", f)
				e.sup.Stop()
			}
			delete(m.entries, f)
			if e.spec != nil {
				m.forgetMetrics(e.spec.Name) // its series go with it
			}
			m.forgetMetrics(fileName(f)) // the name it showed under while invalid
		}
	}
	return nil
}

// syncFile handles one file; m.mu is held.
func (m *Manager) syncFile(file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return // removed or being replaced right now; the next event syncs again
	}
	e := m.entries[file]
	if e == nil {
		e = &entry{file: file}
		m.entries[file] = e
	}
	digest := (&Spec{Raw: raw}).Digest()
	if digest == e.seenDigest {
		return
	}
	e.seenDigest = digest

	spec, err := m.prepare(file, raw, nil)
	if err != nil {
		// Public in GET /api/pipelines: never a credential of the file, whatever the error
		// quotes.
		msg := RedactSecrets(err.Error(), DocumentSecrets(raw))
		e.configError = msg
		if e.sup != nil {
			m.log.Error("pipeline file refused; the previous version keeps running", "file", file, "error", msg)
		} else {
			m.log.Error("pipeline file invalid", "file", file, "error", msg)
		}
		return
	}
	e.configError = ""
	if e.sup != nil {
		m.log.Info("pipeline file changed; swapping", "pipeline", spec.Name, "file", file)
		e.sup.Stop()
		e.sup = nil
	}
	old := e.spec
	e.spec = spec
	if old != nil && old.Name != spec.Name {
		m.forgetMetrics(old.Name) // renamed: the old name's series go
	}
	if !spec.Autostart {
		m.log.Info("pipeline loaded; autostart is off", "pipeline", spec.Name, "file", file)
		return
	}
	m.log.Info("starting pipeline", "pipeline", spec.Name, "file", file)
	var binding Binding
	if m.opts.Binder != nil {
		if binding, err = m.opts.Binder.Bind(spec); err != nil {
			m.log.Error("pipeline binding", "pipeline", spec.Name, "error", err)
		}
	}
	e.sup = NewSupervisor(spec, SupervisorOptions{Binding: binding, MaxRestarts: m.opts.MaxRestarts, Logger: m.opts.Logger})
	e.sup.Start()
}

// forgetMetrics drops the metric series of a pipeline name that no file uses any more (its
// place among metrics.MaxPipelineLabels is then free); m.mu is held.
func (m *Manager) forgetMetrics(name string) {
	for f, e := range m.entries {
		if (e.spec != nil && e.spec.Name == name) || (e.spec == nil && fileName(f) == name) {
			return
		}
	}
	metrics.ForgetPipeline(name)
}

// fileName is the name a pipeline file shows under while it has no valid definition.
func fileName(file string) string { return strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)) }

// prepare validates a file (under policy p, when set) and test-links it; m.mu is held.
func (m *Manager) prepare(file string, raw []byte, p *Policy) (*Spec, error) {
	spec, err := LoadWithPolicy(file, raw, p)
	if err != nil {
		return nil, err
	}
	for f, other := range m.entries {
		if f != file && other.spec != nil && other.spec.Name == spec.Name {
			return nil, &Error{File: file, Msg: fmt.Sprintf("pipeline name %q is already used by %s", spec.Name, f)}
		}
	}
	// Linking needs no device, network or file access (all in NULL state), so a file that
	// validates but cannot link is refused here instead of replacing a working pipeline.
	trial, err := Build(&BuildContext{Spec: spec})
	if err != nil {
		if _, isLink := err.(*LinkError); isLink {
			return nil, err
		}
		// Other build errors (a missing input file, an unreachable camera) are run-time
		// conditions the supervisor retries; they do not make the file invalid.
		return spec, nil
	}
	trial.Pipeline.SetState(gst.StateNull)
	trial.Release()
	return spec, nil
}

// Statuses returns the state of every pipeline file, sorted by name.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.entries))
	for _, e := range m.entries {
		var st Status
		switch {
		case e.sup != nil:
			st = e.sup.Status()
		case e.spec != nil:
			st = Status{Name: e.spec.Name, File: e.file, State: StateIdle}
		default:
			st = Status{Name: strings.TrimSuffix(filepath.Base(e.file), filepath.Ext(e.file)), File: e.file, State: StateInvalid}
		}
		st.ConfigError = e.configError
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Supervisor returns the supervisor of the named pipeline, nil if none runs.
func (m *Manager) Supervisor(name string) *Supervisor {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if e.sup != nil && e.sup.Spec().Name == name {
			return e.sup
		}
	}
	return nil
}

// Close stops every pipeline. The manager cannot be used afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var wg sync.WaitGroup
	for _, e := range m.entries {
		if e.sup != nil {
			wg.Add(1)
			go func(s *Supervisor) { defer wg.Done(); s.Stop() }(e.sup)
		}
	}
	wg.Wait()
}

// Watch syncs once, then again after every change in the directory, until ctx ends. Bursts of
// events (editors write, rename and chmod for one save) are coalesced.
func (m *Manager) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(m.dir); err != nil {
		return fmt.Errorf("watch %s: %w", m.dir, err)
	}
	if err := m.Sync(); err != nil {
		return err
	}
	const settle = 150 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if isPipelineFile(ev.Name) {
				timer.Reset(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			m.log.Warn("pipeline directory watch", "error", err)
			timer.Reset(settle) // events may have been lost: re-read everything
		case <-timer.C:
			if err := m.Sync(); err != nil {
				m.log.Error("pipeline directory", "error", err)
			}
		}
	}
}

func isPipelineFile(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return false // editor swap and backup files
	}
	ext := filepath.Ext(base)
	return ext == ".yaml" || ext == ".yml"
}

func pipelineFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && isPipelineFile(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// Spec returns the valid definition in force for the named pipeline (running or idle), nil
// if there is none. Session pipelines (WebRTC) are built from it on demand.
func (m *Manager) Spec(name string) *Spec {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		if e.spec != nil && e.spec.Name == name {
			return e.spec
		}
	}
	return nil
}

// Definition returns the file and current bytes of the named pipeline (valid or not).
func (m *Manager) Definition(name string) (file string, raw []byte, ok bool) {
	m.mu.Lock()
	var candidates []string
	for f, e := range m.entries {
		if (e.spec != nil && e.spec.Name == name) || (e.spec == nil && strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)) == name) {
			candidates = append(candidates, f)
		}
	}
	m.mu.Unlock()
	if len(candidates) == 0 {
		return "", nil, false
	}
	sort.Strings(candidates)
	raw, err := os.ReadFile(candidates[0])
	if err != nil {
		return "", nil, false
	}
	return candidates[0], raw, true
}

// Replace validates (under the API policy, ManagerOptions.APIPolicy: no file access beyond
// media_dir) and test-links new content for the named pipeline and, only if it is good,
// writes it to the pipeline's file (atomically: a temporary file renamed over it) and
// hot-swaps it. A refused definition returns the error (file:line:column) and changes nothing:
// the running version keeps running. The new content must keep the pipeline's name.
func (m *Manager) Replace(name string, raw []byte) error {
	file, _, ok := m.Definition(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoPipeline, name)
	}
	// What arrives through the API is bounded by the API policy (policy.go), whatever the
	// files of the directory may do.
	policy := m.opts.APIPolicy
	if policy == nil {
		policy = &Policy{} // no media directory: no file source may name a path
	}
	m.mu.Lock()
	spec, err := m.prepare(file, raw, policy)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if spec.Name != name {
		return &Error{File: file, Msg: fmt.Sprintf("the pipeline is named %q; a replacement must keep that name, not %q", name, spec.Name)}
	}
	if err := atomicfile.Write(file, ".replace-*.tmp", raw); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.syncFile(file)
	}
	return nil
}
