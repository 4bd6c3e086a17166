package pipelines

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// attachments records a Binding's calls, as the domain would see them.
type attachments struct {
	mu         sync.Mutex
	attached   []*Supervisor
	detached   []*Supervisor
	configured []string // step names, with whether the pipeline was attached then
}

func (a *attachments) binding() Binding {
	return Binding{
		Configure: func(step *Step, _ *gst.Element) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.attached) > len(a.detached) {
				a.configured = append(a.configured, step.Name)
			}
			return nil
		},
		Attach: func(sup *Supervisor) func() {
			a.mu.Lock()
			a.attached = append(a.attached, sup)
			a.mu.Unlock()
			return func() {
				a.mu.Lock()
				a.detached = append(a.detached, sup)
				a.mu.Unlock()
			}
		},
	}
}

func (a *attachments) counts() (attached, detached, configured int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.attached), len(a.detached), len(a.configured)
}

// A supervisor attaches its Binding when it starts, before the first build configures the
// elements, and detaches it once it has ended, before Done is closed.
func TestSupervisorAttachesItsBinding(t *testing.T) {
	spec := mustLoad(t, `
source: {type: test, num_buffers: 5, live: false, width: 32, height: 24}
elements:
  - element: ebrcs_passthrough
    name: tag
sink: {type: fake}
`)
	var a attachments
	sup := NewSupervisor(spec, SupervisorOptions{MaxRestarts: 0, Binding: a.binding()})
	if n, _, _ := a.counts(); n != 0 {
		t.Fatal("attached before Start")
	}
	sup.Start()
	<-sup.Done()
	if st := sup.Status(); st.State != StateFinished {
		t.Fatalf("status %+v", st)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.attached) != 1 || a.attached[0] != sup || len(a.detached) != 1 || a.detached[0] != sup {
		t.Fatalf("attached %v, detached %v; want the supervisor once each", a.attached, a.detached)
	}
	if len(a.configured) != 1 || a.configured[0] != "tag" {
		t.Fatalf("configured while attached: %v, want [tag]", a.configured)
	}
}

// The manager binds each pipeline it starts through its Binder, and a stopped pipeline is
// detached.
func TestManagerBindsThroughItsBinder(t *testing.T) {
	mustLoad(t, "source: {type: test}\nsink: {type: fake}\n")
	dir := t.TempDir()
	file := filepath.Join(dir, "cam.yaml")
	os.WriteFile(file, []byte("source: {type: test, width: 32, height: 24}\nelements: [{element: ebrcs_passthrough, name: tag}]\nsink: {type: fake}\n"), 0o644)
	var a attachments
	binder := binderFunc(func(spec *Spec) (Binding, error) {
		if spec.Name != "cam" {
			t.Errorf("bound %q", spec.Name)
		}
		return a.binding(), nil
	})
	m := NewManager(dir, ManagerOptions{MaxRestarts: -1, Binder: binder})
	defer m.Close()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the bound pipeline to run", func() bool {
		_, _, configured := a.counts()
		return m.Supervisor("cam") != nil && configured > 0
	})
	os.Remove(file)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if attached, detached, _ := a.counts(); attached != 1 || detached != 1 {
		t.Fatalf("attached %d, detached %d after the file was removed; want 1 and 1", attached, detached)
	}
}

type binderFunc func(spec *Spec) (Binding, error)

func (f binderFunc) Bind(spec *Spec) (Binding, error) { return f(spec) }
