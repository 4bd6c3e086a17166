// Package scenario generates synthetic checkout videos with a known ground truth.
//
// A Scenario is a script: a counter seen from above, empty at first, then products shown to
// the camera one after another (Show steps), products the catalog does not have (Foreign
// steps), hands passing through without a product (Distractor steps) and pauses (Idle steps). Rendering is deterministic: the same scenario,
// products and seed give the same frames, bit for bit. The ground truth is computed from the
// script, not from the video, with the counting rule the system implements: a product counts
// when its box centre enters the region of interest (ROI), unless the same product was counted
// less than Config.Cooldown earlier. Scripts whose outcome would hinge on a few frames of
// tracking latency are refused (see Validate), so a test can demand an exact count.
package scenario

import (
	"fmt"
	"image"
	"time"
)

// Product is a packaging image shown to the camera. Name identifies it in scripts and in the
// ground truth; Image may have an alpha channel (transparent pixels show the counter).
type Product struct {
	Name  string
	Image image.Image
}

// Point is a point in normalised frame coordinates: (0,0) top left, (1,1) bottom right.
type Point struct{ X, Y float64 }

// Config is what a scenario's frames look like and how the ground truth is counted.
type Config struct {
	Width, Height int           // frame size in pixels, both even; 0: 640x480
	FPS           int           // frames per second; 0: 30
	Seed          int64         // counter texture, camera noise, flicker, hand jitter
	Noise         float64       // camera noise: Gaussian sigma per channel, 0-255 units; 0: none
	Flicker       float64       // global brightness factor 1 ± Flicker, varying smoothly; 0: none
	ROI           []Point       // counting region polygon, normalised; empty: DefaultROI
	Cooldown      time.Duration // a product counts again only this long after its last count; 0: 3 s
}

// DefaultROI is the counting region most pipelines use: the middle of the counter.
var DefaultROI = []Point{{0.2, 0.15}, {0.8, 0.15}, {0.8, 0.95}, {0.2, 0.95}}

// Defaults of Config and Step.
const (
	DefaultWidth    = 640
	DefaultHeight   = 480
	DefaultFPS      = 30
	DefaultNoise    = 2.0
	DefaultFlicker  = 0.03
	DefaultCooldown = 3 * time.Second
	DefaultIn       = 600 * time.Millisecond
	DefaultHold     = time.Second
	DefaultOut      = 600 * time.Millisecond
	DefaultScale    = 0.42 // product height / frame height
)

// Limits that keep a script's ground truth unambiguous (see Scenario.Validate).
const (
	// CooldownMargin: a visit's entry may not fall within this of the cooldown boundary,
	// measured from the last counted visit of the same product.
	CooldownMargin = 750 * time.Millisecond
	// MinGap: the ROI must stay empty at least this long between two objects.
	MinGap = 600 * time.Millisecond
	// MinLeadIn: the ROI stays empty at least this long at the start, for the background model.
	MinLeadIn = time.Second
	// MinTail: the ROI stays empty at least this long at the end.
	MinTail = 500 * time.Millisecond
)

// DefaultConfig returns the standard camera: 640x480 at 30 fps, noise sigma 2, 3 % flicker,
// the DefaultROI and a 3 s cooldown.
func DefaultConfig() Config {
	return Config{
		Width: DefaultWidth, Height: DefaultHeight, FPS: DefaultFPS, Seed: 1,
		Noise: DefaultNoise, Flicker: DefaultFlicker,
		ROI:      append([]Point(nil), DefaultROI...),
		Cooldown: DefaultCooldown,
	}
}

// withDefaults fills the zero fields that have a default (Noise and Flicker are taken as is).
func (c Config) withDefaults() Config {
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = DefaultWidth, DefaultHeight
	}
	if c.FPS == 0 {
		c.FPS = DefaultFPS
	}
	if len(c.ROI) == 0 {
		c.ROI = DefaultROI
	}
	if c.Cooldown == 0 {
		c.Cooldown = DefaultCooldown
	}
	return c
}

func (c Config) check() error {
	switch {
	case c.Width < 64 || c.Height < 64 || c.Width%2 != 0 || c.Height%2 != 0:
		return fmt.Errorf("frame size %dx%d: need even sizes of at least 64", c.Width, c.Height)
	case c.FPS < 1 || c.FPS > 240:
		return fmt.Errorf("fps %d: need 1-240", c.FPS)
	case c.Noise < 0 || c.Noise > 64:
		return fmt.Errorf("noise %g: need 0-64", c.Noise)
	case c.Flicker < 0 || c.Flicker >= 0.5:
		return fmt.Errorf("flicker %g: need 0 <= flicker < 0.5", c.Flicker)
	case c.Cooldown < 0:
		return fmt.Errorf("cooldown %v: negative", c.Cooldown)
	case len(c.ROI) < 3:
		return fmt.Errorf("roi: need at least 3 points, have %d", len(c.ROI))
	}
	for _, p := range c.ROI {
		if p.X < 0 || p.X > 1 || p.Y < 0 || p.Y > 1 {
			return fmt.Errorf("roi point (%g,%g) outside [0,1]", p.X, p.Y)
		}
	}
	return nil
}

// StepKind says what a step shows.
type StepKind int

const (
	// Show: a product enters, is held near the ROI centre, and leaves. One visit.
	Show StepKind = iota
	// Idle: the empty counter for Step.Duration.
	Idle
	// Distractor: a bare hand moves through the ROI like a product; never counted.
	Distractor
	// Foreign: a product that is not in the catalog (one of Scenario.Foreign) is shown like a
	// product; never counted: the system should say it does not know it, or ask.
	Foreign
)

func (k StepKind) String() string {
	switch k {
	case Show:
		return "show"
	case Idle:
		return "idle"
	case Distractor:
		return "distractor"
	case Foreign:
		return "foreign"
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Sides an object enters from or leaves to.
const (
	Right  = "right"
	Left   = "left"
	Bottom = "bottom"
	Top    = "top"
)

// Step is one part of a script. A Show, Foreign or Distractor step starts and ends with its object
// completely outside the frame: it moves in from From over In (eased), is held near the ROI
// centre for Hold with a small jitter, and moves out to To over Out.
type Step struct {
	Kind     StepKind
	Product  string        // Show, Foreign: the product's name
	From, To string        // Show, Foreign, Distractor: Right (default), Left, Bottom or Top; To defaults to From
	In       time.Duration // 0: DefaultIn
	Hold     time.Duration // 0: DefaultHold
	Out      time.Duration // 0: DefaultOut
	Duration time.Duration // Idle: how long; required
	Hand     bool          // Show, Foreign: a hand holds the product, on the From side
	Scale    float64       // Show, Foreign: product height / frame height; 0: DefaultScale
}

// Scenario is a named script with its camera.
type Scenario struct {
	Name        string
	Description string
	Config      Config
	Steps       []Step
	// Foreign are the products its Foreign steps show: products the catalog does not have,
	// which the scenario carries itself (the products a scenario is rendered with are the
	// catalog's).
	Foreign []Product
}

// Duration is how long the rendered video of a valid scenario lasts: its frame count / FPS.
func (s *Scenario) Duration() time.Duration {
	cfg := s.Config.withDefaults()
	if cfg.FPS <= 0 {
		return 0
	}
	n := 0
	for _, st := range s.Steps {
		st = st.withDefaults()
		if st.Kind == Idle {
			n += frames(st.Duration, cfg.FPS)
		} else {
			n += frames(st.In, cfg.FPS) + frames(st.Hold, cfg.FPS) + frames(st.Out, cfg.FPS)
		}
	}
	return time.Duration(n) * time.Second / time.Duration(cfg.FPS)
}

func (st Step) withDefaults() Step {
	if st.Kind == Idle {
		return st
	}
	if st.From == "" {
		st.From = Right
	}
	if st.To == "" {
		st.To = st.From
	}
	if st.In == 0 {
		st.In = DefaultIn
	}
	if st.Hold == 0 {
		st.Hold = DefaultHold
	}
	if st.Out == 0 {
		st.Out = DefaultOut
	}
	if st.Scale == 0 {
		st.Scale = DefaultScale
	}
	return st
}

// frames is d in whole frames, rounded, at least 1 for a positive d.
func frames(d time.Duration, fps int) int {
	n := int(d.Seconds()*float64(fps) + 0.5)
	if n < 1 && d > 0 {
		n = 1
	}
	return n
}
