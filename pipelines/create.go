package pipelines

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrPipelineExists: a pipeline with this name already exists (Create never replaces one).
var ErrPipelineExists = errors.New("a pipeline with this name already exists")

// Create adds a new pipeline file, NAME.yaml in the manager's directory, from a definition
// sent through the API (a camera station made with the back office's form): like Replace, it
// is bound by the API policy, validated and test-linked before anything is written, and must
// carry the name it is created under; then the file is written and started like any file
// dropped into the directory. An existing name is ErrPipelineExists; nothing is overwritten.
func (m *Manager) Create(name string, raw []byte) error {
	if !namePattern.MatchString(name) {
		return &Error{File: name + ".yaml", Msg: fmt.Sprintf("name %q: want a-z, 0-9, '-' and '_', starting with a letter or digit (at most 63)", name)}
	}
	if _, _, ok := m.Definition(name); ok {
		return fmt.Errorf("%w: %q", ErrPipelineExists, name)
	}
	file := filepath.Join(m.dir, name+".yaml")
	policy := m.opts.APIPolicy
	if policy == nil {
		policy = &Policy{}
	}
	m.mu.Lock()
	spec, err := m.prepare(file, raw, policy)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if spec.Name != name {
		return &Error{File: file, Msg: fmt.Sprintf("the pipeline is named %q; it is being created as %q", spec.Name, name)}
	}
	tmp, err := os.CreateTemp(m.dir, ".create-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A hard link fails if the file appeared meanwhile: a racing create, or a file put there
	// by hand, is never overwritten.
	if err := os.Link(tmp.Name(), file); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %q", ErrPipelineExists, name)
		}
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.syncFile(file)
	}
	return nil
}
