package scenario

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error about a malformed scenario: bad config, unknown
// product or side, missing duration, an object that never reaches the ROI.
var ErrInvalid = errors.New("invalid scenario")

// ErrAmbiguous is wrapped when a visit's entry falls within CooldownMargin of the cooldown
// boundary of its product's last counted visit: whether it counts would depend on a few
// frames of tracking latency.
var ErrAmbiguous = errors.New("visit too close to the cooldown boundary")

// ErrCrowded is wrapped when the ROI does not stay empty long enough between two objects
// (MinGap), before the first one (MinLeadIn) or after the last one (MinTail).
var ErrCrowded = errors.New("roi not empty long enough")

// errf formats an error about scenario s that wraps kind.
func (s *Scenario) errf(kind error, format string, args ...any) error {
	return fmt.Errorf("scenario %q: %w: %s", s.Name, kind, fmt.Sprintf(format, args...))
}
