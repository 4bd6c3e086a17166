package checkout

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/pipelines"
)

// TaskState is where an upload task is.
type TaskState string

// Task states.
const (
	TaskQueued    TaskState = "queued"
	TaskRunning   TaskState = "running"
	TaskDone      TaskState = "done"
	TaskFailed    TaskState = "failed"
	TaskCancelled TaskState = "cancelled"
)

// Task is the processing of one uploaded video through a session's pipeline, as fast as
// the machine allows. Its progress and end are published on its own event stream.
type Task struct {
	ID        string
	SessionID string
	Name      string // the uploaded file's name, for display
	Info      pipelines.MediaInfo
	Events    *cart.Bus

	session *Session
	path    string // the temporary file; removed when the task ends

	mu        sync.Mutex
	state     TaskState
	frames    int64
	err       string
	created   time.Time
	started   time.Time
	finished  time.Time
	sup       *pipelines.Supervisor
	cancelled bool
}

// TaskView is a task as the API shows it.
type TaskView struct {
	ID        string              `json:"id"`
	SessionID string              `json:"session_id"`
	Name      string              `json:"name,omitempty"`
	State     TaskState           `json:"state"`
	Frames    int64               `json:"frames"`
	Progress  float64             `json:"progress"` // 0..1
	Media     pipelines.MediaInfo `json:"media"`
	Error     string              `json:"error,omitempty"`
	Created   time.Time           `json:"created_at"`
	Started   time.Time           `json:"started_at,omitzero"`
	Finished  time.Time           `json:"finished_at,omitzero"`
	// Seconds is the processing time, and Speed the video's duration divided by it.
	Seconds float64 `json:"seconds,omitempty"`
	Speed   float64 `json:"speed,omitempty"`
}

// View returns a snapshot of the task.
func (t *Task) View() TaskView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := TaskView{ID: t.ID, SessionID: t.SessionID, Name: t.Name, State: t.state, Frames: t.frames,
		Media: t.Info, Error: t.err, Created: t.created, Started: t.started, Finished: t.finished}
	v.Progress = t.progressLocked()
	if !t.started.IsZero() {
		end := t.finished
		if end.IsZero() {
			end = time.Now().UTC()
		}
		v.Seconds = end.Sub(t.started).Seconds()
		if t.state == TaskDone && v.Seconds > 0 {
			v.Speed = t.Info.Duration.Seconds() / v.Seconds
		}
	}
	return v
}

func (t *Task) progressLocked() float64 {
	switch {
	case t.state == TaskDone:
		return 1
	case t.Info.Frames > 0:
		return min(float64(t.frames)/float64(t.Info.Frames), 0.999)
	}
	return 0
}

func (t *Task) finishedAt() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finished
}

// cancel stops the task (its session is closing).
func (t *Task) cancel() {
	t.mu.Lock()
	t.cancelled = true
	sup := t.sup
	t.mu.Unlock()
	if sup != nil {
		sup.Stop()
	}
}

// Upload takes an uploaded file (which the manager now owns and removes when done), checks
// that it is a playable video and queues it for processing through the session's pipeline.
func (m *Manager) Upload(sessionID, path, name string) (*Task, error) {
	s, err := m.Get(sessionID)
	if err != nil {
		removeQuietly(m.log, path)
		return nil, err
	}
	if m.cfg.Pipeline == nil {
		removeQuietly(m.log, path)
		return nil, errors.New("checkout: no upload pipeline is configured")
	}
	// The frame size, rate and count limits are checked by the probe, before it decodes.
	info, err := pipelines.ProbeWithin(path, m.cfg.ProbeTimeout, m.cfg.checkVideo)
	if errors.Is(err, ErrVideoTooLarge) || errors.Is(err, ErrTooLong) {
		removeQuietly(m.log, path)
		return nil, err
	}
	if err != nil {
		removeQuietly(m.log, path)
		// pipelines.ErrNotVideo says the same as ours: the reason once.
		return nil, fmt.Errorf("%w: %v", ErrNotVideo, strings.TrimPrefix(err.Error(), pipelines.ErrNotVideo.Error()+": "))
	}
	if info.Duration > m.cfg.MaxVideoLength {
		removeQuietly(m.log, path)
		return nil, fmt.Errorf("%w: the video lasts %v, the limit is %v", ErrTooLong, info.Duration.Round(time.Second), m.cfg.MaxVideoLength)
	}
	t := &Task{ID: newID("t"), SessionID: s.ID, Name: name, Info: info, Events: cart.NewBus(0),
		session: s, path: path, state: TaskQueued, created: time.Now().UTC()}
	m.mu.Lock()
	if limit := m.cfg.MaxRunningTasks + m.cfg.MaxQueuedTasks; m.pending >= limit {
		m.mu.Unlock()
		removeQuietly(m.log, path)
		return nil, fmt.Errorf("%w: %d uploads are queued or running, the limit is %d", ErrBusy, m.pending, limit)
	}
	m.pending++
	m.tasks[t.ID] = t
	m.mu.Unlock()
	s.mu.Lock()
	s.tasks[t.ID] = t
	s.used = true
	s.mu.Unlock()
	m.wg.Add(1)
	go m.runTask(t)
	return t, nil
}

// Session is the session the task counts into (who may see the task may see it).
func (t *Task) Session() *Session { return t.session }

// Task returns a task by id.
func (m *Manager) Task(id string) (*Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tasks[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTask, id)
	}
	return t, nil
}

func (m *Manager) runTask(t *Task) {
	defer m.wg.Done()
	defer removeQuietly(m.log, t.path)
	defer func() {
		m.mu.Lock()
		m.pending--
		m.mu.Unlock()
		t.session.mu.Lock()
		delete(t.session.tasks, t.ID)
		t.session.lastActive = time.Now().UTC()
		t.session.mu.Unlock()
		t.Events.Close()
	}()

	select {
	case m.slots <- struct{}{}:
	case <-m.stop:
		t.end(TaskCancelled, "the server is shutting down")
		return
	}
	defer func() { <-m.slots }()

	sup := pipelines.NewSupervisor(m.cfg.Pipeline, pipelines.SupervisorOptions{
		Input: t.path, MaxRestarts: 0, Logger: m.log.With("task", t.ID, "session", t.SessionID),
		Binding: t.session.Binding(nil),
	})
	t.mu.Lock()
	if t.cancelled {
		t.mu.Unlock()
		t.end(TaskCancelled, "the session was closed")
		return
	}
	t.sup, t.state, t.started = sup, TaskRunning, time.Now().UTC()
	t.mu.Unlock()
	t.Events.Publish(cart.Event{Type: cart.EventProgress, Task: t.ID})
	sup.Start()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-sup.Done():
			done = true
		case <-tick.C:
		}
		st := sup.Status()
		t.mu.Lock()
		t.frames = st.Frames
		p := t.progressLocked()
		t.mu.Unlock()
		if !done {
			t.Events.Publish(cart.Event{Type: cart.EventProgress, Task: t.ID, Frames: st.Frames, Progress: p})
		}
	}
	// The upload is spent: remove it before the task is reported finished, so that whoever
	// sees the end sees the file gone (the deferred removal covers the early returns).
	removeQuietly(m.log, t.path)
	st := sup.Status()
	switch st.State {
	case pipelines.StateFinished:
		t.end(TaskDone, "")
	case pipelines.StateStopped:
		t.end(TaskCancelled, "the session was closed")
	default:
		t.end(TaskFailed, st.LastError)
	}
}

// end records the task's outcome and publishes it with the session's cart.
func (t *Task) end(state TaskState, msg string) {
	t.mu.Lock()
	t.state, t.err, t.finished = state, msg, time.Now().UTC()
	frames := t.frames
	t.mu.Unlock()
	view := t.session.Cart.View()
	e := cart.Event{Type: cart.EventDone, Task: t.ID, Frames: frames, Progress: 1, Cart: &view}
	if state != TaskDone {
		e = cart.Event{Type: cart.EventFailed, Task: t.ID, Frames: frames, Error: msg, Cart: &view}
		if state == TaskCancelled {
			e.Status = string(TaskCancelled)
		}
	}
	t.Events.Publish(e)
	t.session.Events.Publish(e) // the session's own stream learns about its uploads too
}
