package checkout

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/elements/roigate"
	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/roi"
)

// Store is what the checkout needs from the catalog: products to resolve cart edits and
// review answers, somewhere to keep purchases, and learning from answers and corrections.
type Store interface {
	cart.PurchaseStore
	ProductByName(name string) (*data.Product, error)
	Product(id int64) (*data.Product, error)
	AddLearnedView(productID int64, img []byte, origin string) (data.LearnedView, error)
	AddNone(img []byte, origin string) (data.LearnedView, error)
}

var _ Store = (*data.Catalog)(nil)

// Config configures a Manager. Zero values take the defaults in parentheses.
type Config struct {
	// Pipeline processes uploaded videos (a file source; it should contain ebrcs_counter,
	// whose cart is the session's, and ebrcs_roigate, whose ROI is the session's).
	Pipeline *pipelines.Spec
	Store    Store

	MaxSessions int           // concurrent sessions (64)
	IdleTTL     time.Duration // a session nobody used for this long is closed (30m)
	// UnusedTTL closes a session that never had media (no camera, no upload) and whose cart
	// is empty this long after it was made (3m), however often it is read: an unused session
	// holds one of the MaxSessions slots, and must not hold it for IdleTTL.
	UnusedTTL time.Duration

	MaxRunningTasks int           // uploads processed at once (1: each uses every core)
	MaxQueuedTasks  int           // uploads waiting beyond those (4); more is ErrBusy
	KeepTasks       time.Duration // finished tasks stay visible for this long (15m)
	ProbeTimeout    time.Duration // time allowed to inspect an upload (10s)
	MaxVideoLength  time.Duration // longest video accepted for upload (30m)
	// The largest frames accepted for upload (1920×1080): at most this many pixels, and no
	// side longer than the longer of the two (so 1080×1920 portrait passes too). A small
	// file can declare huge frames; their decoding is what costs memory.
	MaxVideoWidth, MaxVideoHeight int
	MaxVideoFPS                   float64 // highest frame rate accepted for upload (60)
	MaxVideoFrames                int64   // most frames accepted for upload (MaxVideoLength × MaxVideoFPS)

	// StationVideo gives camera stations whose pipeline has a whep sink their annotated video
	// (signaling.Outputs); nil: such a station's pipeline has no video link and cannot run.
	StationVideo StationVideo

	// Events takes every session's events out of the process (EventSink); nil: they stay in.
	Events EventSink

	// History keeps every decision of the cameras and each purchase's prices (in Currency)
	// for the back office, for HistoryRetention (DefaultHistoryRetention); nil: no history.
	History          HistoryStore
	HistoryRetention time.Duration
	Currency         string

	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxSessions <= 0 {
		c.MaxSessions = 64
	}
	if c.IdleTTL <= 0 {
		c.IdleTTL = 30 * time.Minute
	}
	if c.UnusedTTL <= 0 {
		c.UnusedTTL = 3 * time.Minute
	}
	if c.MaxRunningTasks <= 0 {
		c.MaxRunningTasks = 1
	}
	if c.MaxQueuedTasks < 0 {
		c.MaxQueuedTasks = 0
	} else if c.MaxQueuedTasks == 0 {
		c.MaxQueuedTasks = 4
	}
	if c.KeepTasks <= 0 {
		c.KeepTasks = 15 * time.Minute
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 10 * time.Second
	}
	if c.MaxVideoLength <= 0 {
		c.MaxVideoLength = 30 * time.Minute
	}
	if c.MaxVideoWidth <= 0 || c.MaxVideoHeight <= 0 {
		c.MaxVideoWidth, c.MaxVideoHeight = 1920, 1080
	}
	if c.MaxVideoFPS <= 0 {
		c.MaxVideoFPS = 60
	}
	if c.MaxVideoFrames <= 0 {
		c.MaxVideoFrames = int64(c.MaxVideoLength.Seconds() * c.MaxVideoFPS)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Events == nil {
		c.Events = noEvents{}
	}
	return c
}

// Session is one checkout: its ROI, its cart and its event stream.
type Session struct {
	ID      string
	Created time.Time
	Cart    *cart.Cart
	Events  *cart.Bus

	// key is the shopper's secret for this session (see checkout/access); "" for a station,
	// which only staff may open.
	key string

	mu         sync.Mutex
	used       bool // it has had media: a live camera or an upload
	roi        roi.Polygon
	lastActive time.Time
	tasks      map[string]*Task // unfinished tasks
	// running are the session's attached pipelines (Binding.Attach): live cameras, uploads,
	// a station's camera. ROI changes reach them.
	running map[*pipelines.Supervisor]struct{}
	done    chan struct{} // closed when the session ends
	// station is the camera pipeline's name for a standing checkout station (never
	// expires); "" for a shopper's session.
	station string
	fileROI roi.Polygon // the station's ROI as its pipeline file last said
	sink    EventSink   // where the session's events leave the process (Config.Events)
}

// SessionView is a session as the API shows it.
type SessionView struct {
	ID         string        `json:"id"`
	Created    time.Time     `json:"created_at"`
	LastActive time.Time     `json:"last_active"`
	ExpiresAt  time.Time     `json:"expires_at,omitzero"` // never, for a station
	ROI        [][2]float64  `json:"roi"`                 // null: no ROI, the whole frame
	Cart       cart.CartView `json:"cart"`
	Tasks      []string      `json:"tasks"` // unfinished upload tasks
	// Station is the camera pipeline of a standing checkout station ("" for a shopper's).
	Station string `json:"station,omitempty"`
}

// Key is the session's secret, handed once to the client that made it.
func (s *Session) Key() string { return s.key }

// KeyMatches reports, in constant time, whether key is the session's secret. A station has
// none: no key matches it.
func (s *Session) KeyMatches(key string) bool {
	return s.key != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.key)) == 1
}

// IsStation reports whether the session is a camera station's (run by staff, defined by its
// pipeline file).
func (s *Session) IsStation() bool { return s.station != "" }

// ROI returns the session's polygon (nil: the whole frame).
func (s *Session) ROI() roi.Polygon {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roi
}

func (s *Session) touch(now time.Time) {
	s.mu.Lock()
	s.lastActive = now
	s.mu.Unlock()
}

// busy reports whether the session has work in progress (it does not expire then).
func (s *Session) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tasks) > 0 || len(s.running) > 0
}

// Done is closed when the session ends (deleted, expired, or the server stops): its live
// connections close with it.
func (s *Session) Done() <-chan struct{} { return s.done }

func (s *Session) runningTasks() []*Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Task, 0, len(s.tasks))
	for _, t := range s.tasks {
		out = append(out, t)
	}
	return out
}

// Manager owns the checkout sessions and their upload tasks.
type Manager struct {
	cfg        Config
	log        *slog.Logger
	defaultROI roi.Polygon
	slots      chan struct{} // one token per running task

	mu       sync.Mutex
	sessions map[string]*Session
	tasks    map[string]*Task
	pending  int // tasks queued or running
	closed   bool

	stop    chan struct{}
	wg      sync.WaitGroup
	history *historyRecorder // nil: no history
}

// NewManager starts a manager (and its janitor, which closes idle sessions).
func NewManager(cfg Config) (*Manager, error) {
	cfg = cfg.withDefaults()
	m := &Manager{
		cfg: cfg, log: cfg.Logger.With("component", "checkout"),
		slots:    make(chan struct{}, cfg.MaxRunningTasks),
		sessions: map[string]*Session{},
		tasks:    map[string]*Task{},
		stop:     make(chan struct{}),
	}
	if cfg.Pipeline != nil {
		area, err := specROI(cfg.Pipeline)
		if err != nil {
			return nil, err
		}
		m.defaultROI = area
	}
	m.wg.Add(1)
	go m.janitor()
	if cfg.History != nil {
		m.history = newHistoryRecorder(m)
		m.wg.Add(1)
		go m.history.run(m.stop)
	}
	return m, nil
}

// Config returns the manager's configuration, defaults applied.
func (m *Manager) Config() Config { return m.cfg }

// DefaultROI is the ROI a new session starts with (the upload pipeline's).
func (m *Manager) DefaultROI() roi.Polygon { return m.defaultROI }

// Create opens a session with the given ROI (nil: the pipeline's default).
func (m *Manager) Create(area roi.Polygon) (*Session, error) {
	if area == nil {
		area = m.defaultROI
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("checkout: the server is shutting down")
	}
	open := 0 // stations are not shoppers' sessions: they do not use up the limit
	for _, other := range m.sessions {
		if other.station == "" {
			open++
		}
	}
	if open >= m.cfg.MaxSessions {
		return nil, fmt.Errorf("%w: %d open, the limit is %d", ErrTooManySessions, open, m.cfg.MaxSessions)
	}
	s, err := m.open(newID("s"), newSecret(), area, "")
	if err != nil {
		return nil, err
	}
	m.log.Info("session created", "session", s.ID)
	return s, nil
}

// Get returns a session and marks it active.
func (m *Manager) Get(id string) (*Session, error) {
	m.mu.Lock()
	s, ok := m.sessions[id]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoSession, id)
	}
	s.touch(time.Now().UTC())
	return s, nil
}

// Sessions returns how many sessions are open.
func (m *Manager) Sessions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// View describes a session.
func (m *Manager) View(s *Session) SessionView {
	s.mu.Lock()
	v := SessionView{ID: s.ID, Created: s.Created, LastActive: s.lastActive,
		ExpiresAt: s.lastActive.Add(m.cfg.IdleTTL), ROI: s.roi.Pairs(), Tasks: []string{}, Station: s.station}
	if s.station != "" {
		v.ExpiresAt = time.Time{} // a station never expires
	}
	for id := range s.tasks {
		v.Tasks = append(v.Tasks, id)
	}
	s.mu.Unlock()
	v.Cart = s.Cart.View()
	return v
}

// specROI is the ROI a pipeline file gives its ebrcs_roigate (nil: none).
func specROI(spec *pipelines.Spec) (roi.Polygon, error) {
	text, _ := spec.Property(roigate.Name, roigate.PropROI)
	area, err := roi.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("checkout: pipeline %s: %w", spec.Name, err)
	}
	return area, nil
}

// StationID is the session id of a camera pipeline's checkout station.
func StationID(pipeline string) string { return "st_" + pipeline }

// Station returns the standing checkout station of a camera pipeline, creating it (with the
// ROI of the pipeline's ebrcs_roigate) the first time. A station is a session like a
// shopper's (ROI, cart, events, confirm) that never expires; its cart survives the camera's
// reconnects and hot reloads. The camera's pipeline is bound to it by Bind.
func (m *Manager) Station(spec *pipelines.Spec) (*Session, error) {
	area, err := specROI(spec)
	if err != nil {
		return nil, err
	}
	pipeline := spec.Name
	id := StationID(pipeline)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("checkout: the server is shutting down")
	}
	s, ok := m.sessions[id]
	if !ok {
		if s, err = m.open(id, "", area, pipeline); err != nil {
			return nil, err
		}
		s.fileROI = area
		m.log.Info("station created", "session", id, "pipeline", pipeline)
	}
	s.mu.Lock()
	// An edit of the file's ROI applies (hot reload); otherwise the ROI set through the API
	// stays.
	if !slices.Equal(area, s.fileROI) {
		s.roi, s.fileROI = area, area
	}
	s.mu.Unlock()
	return s, nil
}

// open makes a session with a new cart (newCart) and adds it; m.mu is held.
func (m *Manager) open(id, key string, area roi.Polygon, station string) (*Session, error) {
	c, events, err := newCart(id, m.forwarder(id, station), cart.CropURLs(CropURLPrefix(id)))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	s := &Session{ID: id, Created: now, Cart: c, Events: events, key: key, roi: area, lastActive: now,
		tasks: map[string]*Task{}, running: map[*pipelines.Supervisor]struct{}{}, done: make(chan struct{}),
		station: station, sink: m.cfg.Events}
	m.sessions[id] = s
	s.opened()
	metrics.SessionsCreated.Inc()
	return s, nil
}

// Stations lists the standing checkout stations.
func (m *Manager) Stations() []SessionView {
	m.mu.Lock()
	var list []*Session
	for _, s := range m.sessions {
		if s.station != "" {
			list = append(list, s)
		}
	}
	m.mu.Unlock()
	out := make([]SessionView, 0, len(list))
	for _, s := range list {
		out = append(out, m.View(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Delete closes a session: its running uploads are stopped, its event stream ends. A
// station cannot be deleted (ErrStation): its pipeline file defines it.
func (m *Manager) Delete(id string) error {
	m.mu.Lock()
	s, ok := m.sessions[id]
	if ok && s.station != "" {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s is the station of pipeline %q; remove or edit its file instead", ErrStation, id, s.station)
	}
	delete(m.sessions, id)
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoSession, id)
	}
	m.closeSession(s, "deleted")
	return nil
}

func (m *Manager) closeSession(s *Session, reason string) {
	for _, t := range s.runningTasks() {
		t.cancel()
	}
	cart.Unregister(s.ID)
	s.Events.Publish(cart.Event{Type: cart.EventClosed, Error: reason})
	s.Events.Close()
	close(s.done)
	metrics.SessionsEnded.WithLabelValues(reason).Inc()
	m.log.Info("session closed", "session", s.ID, "reason", reason)
}

// SetROI sets (nil: clears) a session's ROI; running pipelines of the session take it from
// their next frame.
func (m *Manager) SetROI(id string, area roi.Polygon) (*Session, error) {
	s, err := m.Get(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.roi = area
	running := slices.Collect(maps.Keys(s.running))
	s.mu.Unlock()
	pushROI(running, area)
	s.Events.Publish(cart.Event{Type: cart.EventROISet, ROI: area.Pairs()})
	return s, nil
}

// Close ends every session and task and stops the janitor.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	sessions := m.sessions
	m.sessions = map[string]*Session{}
	m.mu.Unlock()
	close(m.stop)
	for _, s := range sessions {
		m.closeSession(s, "server shutdown")
	}
	m.wg.Wait()
}

// janitor closes sessions idle for longer than the TTL and forgets old finished tasks.
func (m *Manager) janitor() {
	defer m.wg.Done()
	every := min(max(min(m.cfg.IdleTTL, m.cfg.UnusedTTL)/10, 100*time.Millisecond), time.Minute)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		m.expire(time.Now().UTC())
	}
}

func (m *Manager) expire(now time.Time) {
	type ending struct {
		s      *Session
		reason string
	}
	var ended []ending
	m.mu.Lock()
	for id, s := range m.sessions {
		if s.station != "" || s.busy() {
			continue
		}
		s.mu.Lock()
		last, used := s.lastActive, s.used
		s.mu.Unlock()
		switch {
		case !used && now.Sub(s.Created) > m.cfg.UnusedTTL && len(s.Cart.Lines()) == 0:
			ended = append(ended, ending{s, "unused"})
		case now.Sub(last) > m.cfg.IdleTTL:
			ended = append(ended, ending{s, "expired"})
		default:
			continue
		}
		delete(m.sessions, id)
	}
	for id, t := range m.tasks {
		if fin := t.finishedAt(); !fin.IsZero() && now.Sub(fin) > m.cfg.KeepTasks {
			delete(m.tasks, id)
		}
	}
	m.mu.Unlock()
	for _, e := range ended {
		m.closeSession(e.s, e.reason)
	}
}

// newSecret returns a session key: 128 random bits.
func newSecret() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// newID returns a random identifier with a readable prefix.
func newID(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return prefix + "_" + hex.EncodeToString(b)
}

// removeQuietly deletes a temporary file, logging only real failures.
func removeQuietly(log *slog.Logger, path string) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		log.Warn("cannot remove temporary file", "path", path, "error", err)
	}
}
