package cluster

import "time"

// Standalone is a single server's answer to /api/nodes: itself, never present in a bucket.
type Standalone struct {
	Name, URL, Version string
	Started            time.Time
	Report             func() Report
}

// Nodes lists the node alone.
func (s *Standalone) Nodes() []NodeInfo {
	r := Report{}
	if s.Report != nil {
		r = s.Report()
	}
	if r.Stations == nil {
		r.Stations = []string{}
	}
	return []NodeInfo{{Name: s.Name, URL: s.URL, Version: s.Version, Started: s.Started, Updated: time.Now().UTC(),
		Load: r.Load, Stations: r.Stations, Self: true}}
}

// NodeWithRoom: a single server knows no other node.
func (s *Standalone) NodeWithRoom() (string, bool) { return "", false }
