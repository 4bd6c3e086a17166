// Package camclip makes the camera clip that the live load tests replay: a checkout scenario
// as a phone or webcam would film and send it. Frames are 640×480 at the chosen rate with
// sensor noise, flicker and a slow lighting drift (a shadow band crossing the counter), each
// stamped with its frame number (see Stamp), and encoded once with libvpx in real-time mode
// (VP8 at 1.5 Mbit/s, cpu-used 8, a keyframe every 30 frames), so that any number of
// clients can replay it for almost no CPU. The ground truth (the cart, the visits) comes
// with it, and per-frame luma block means let a client judge the pictures it gets back.
package camclip

import (
	"encoding/gob"
	"fmt"
	"image"
	"math"
	"os"
	"time"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// Config describes a clip. Zero fields take the defaults in parentheses.
type Config struct {
	FPS    int   // frames per second (15)
	Kbps   int   // VP8 bitrate (1500)
	Keyint int   // frames between keyframes (30)
	Seed   int64 // noise, flicker, drift (1)
	// Drift is the depth of the lighting drift, a soft shadow band that crosses the frame
	// every DriftPeriod (0.10; negative: none).
	Drift       float64
	DriftPeriod time.Duration // (12s)
	// Products are shown in the default script (at least 4; SyntheticProducts(6, 1) when
	// nil). Steps replace the default script.
	Products []scenario.Product `json:"-"`
	Steps    []scenario.Step
	// Raw keeps the I420 frames (for a client that encodes live).
	Raw bool
}

func (c Config) withDefaults() Config {
	if c.FPS == 0 {
		c.FPS = 15
	}
	if c.Kbps == 0 {
		c.Kbps = 1500
	}
	if c.Keyint == 0 {
		c.Keyint = 30
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Drift == 0 {
		c.Drift = 0.10
	}
	if c.DriftPeriod == 0 {
		c.DriftPeriod = 12 * time.Second
	}
	if c.Products == nil {
		c.Products = scenario.SyntheticProducts(6, 1)
	}
	return c
}

// Clip is a rendered, encoded camera clip.
type Clip struct {
	Width, Height, FPS int
	Frames             []Frame // VP8, one per frame, stamped with its index
	Truth              scenario.GroundTruth
	// Blocks are the luma means of each frame's 16×16 blocks (BlockCols × BlockRows), as
	// sent, for judging returned pictures.
	Blocks [][]byte
	// Raw holds the I420 frames when Config.Raw was set.
	Raw [][]byte
}

// Block size of Clip.Blocks.
const Block = 16

// BlockCols and BlockRows is the block grid of a clip's frames.
func (c *Clip) BlockCols() int { return c.Width / Block }
func (c *Clip) BlockRows() int { return c.Height / Block }

// DefaultSteps is the clip's script: five counted visits of four products (one of them
// again beyond the cooldown, one held by a hand, one swiped quickly) and a bare hand, with
// room between them. Objects enter from the sides, never over the stamp.
func DefaultSteps(products []scenario.Product) []scenario.Step {
	p := func(i int) string { return products[i%len(products)].Name }
	idle := func(s float64) scenario.Step {
		return scenario.Step{Kind: scenario.Idle, Duration: time.Duration(s * float64(time.Second))}
	}
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	return []scenario.Step{
		idle(1.5),
		{Product: p(0)},
		idle(0.8),
		{Product: p(1), From: scenario.Left, To: scenario.Left},
		idle(0.8),
		{Kind: scenario.Distractor, From: scenario.Left},
		idle(0.8),
		{Product: p(2), Hand: true, Hold: ms(1500)},
		idle(0.8),
		{Product: p(0), From: scenario.Left, To: scenario.Right},
		idle(0.8),
		{Product: p(3), From: scenario.Right, To: scenario.Left, In: ms(400), Hold: ms(400), Out: ms(400)},
		idle(1.5),
	}
}

// Scenario is the clip's scenario (its script and camera), for its ground truth.
func Scenario(c Config) *scenario.Scenario {
	c = c.withDefaults()
	cfg := scenario.DefaultConfig()
	cfg.FPS, cfg.Seed = c.FPS, c.Seed
	steps := c.Steps
	if steps == nil {
		steps = DefaultSteps(c.Products)
	}
	return &scenario.Scenario{Name: "camera-clip", Description: "a checkout filmed by a camera", Config: cfg, Steps: steps}
}

// Generate renders and encodes a clip. gst.Init must have run.
func Generate(c Config) (*Clip, error) {
	c = c.withDefaults()
	sc := Scenario(c)
	truth, err := sc.Truth(c.Products)
	if err != nil {
		return nil, err
	}
	w, h := sc.Config.Width, sc.Config.Height
	if w < StampX+StampCells*StampCell || h < StampY+StampCell {
		return nil, fmt.Errorf("camclip: %dx%d is too small for the stamp", w, h)
	}
	clip := &Clip{Width: w, Height: h, FPS: c.FPS, Truth: truth}
	var raw [][]byte
	err = scenario.Render(sc, c.Products, func(i int, frame *image.RGBA) error {
		drift(frame, i, c)
		yuv := make([]byte, w*h*3/2)
		scenario.ToI420(frame, yuv)
		Stamp(yuv[:w*h], w, yuv[w*h:w*h*5/4], yuv[w*h*5/4:], w/2, uint16(i))
		clip.Blocks = append(clip.Blocks, BlockMeans(yuv[:w*h], w, w, h))
		raw = append(raw, yuv)
		return nil
	})
	if err != nil {
		return nil, err
	}
	clip.Frames, err = encodeAll(EncoderConfig{Width: w, Height: h, FPS: c.FPS, Kbps: c.Kbps, Keyint: c.Keyint}, raw)
	if err != nil {
		return nil, err
	}
	if c.Raw {
		clip.Raw = raw
	}
	return clip, nil
}

// drift darkens a soft vertical band (a shadow, or a cloud over a window) that crosses the
// frame once per period, by up to Drift.
func drift(img *image.RGBA, i int, c Config) {
	if c.Drift <= 0 {
		return
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	t := float64(i) / float64(c.FPS) / c.DriftPeriod.Seconds()
	centre := (t-math.Floor(t))*1.6*float64(w) - 0.3*float64(w) // enters and leaves the frame
	width := 0.35 * float64(w)
	gain := make([]int32, w)
	for x := range gain {
		d := (float64(x) - centre) / width
		gain[x] = int32(math.Round((1 - c.Drift*math.Exp(-d*d)) * 65536))
	}
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < w; x++ {
			g := gain[x]
			for k := 0; k < 3; k++ {
				row[4*x+k] = uint8((int32(row[4*x+k])*g + 32768) >> 16)
			}
		}
	}
}

// BlockMeans returns the means of a luma plane's 16×16 blocks, row by row.
func BlockMeans(y []byte, stride, w, h int) []byte { return blockMeans(y, stride, w, h, Block) }

// ScaledBlockMeans is BlockMeans of a picture the clip's frames were scaled down to by an
// integer factor (a server that sends its annotated video back smaller): the means of the
// same regions of the camera's picture, each Block/factor pixels on a side here. ok is false
// for any other size.
func (c *Clip) ScaledBlockMeans(y []byte, stride, w, h int) (means []byte, ok bool) {
	if w <= 0 || c.Width%w != 0 {
		return nil, false
	}
	factor := c.Width / w
	if h*factor != c.Height || Block%factor != 0 {
		return nil, false
	}
	return blockMeans(y, stride, w, h, Block/factor), true
}

func blockMeans(y []byte, stride, w, h, block int) []byte {
	cols, rows := w/block, h/block
	out := make([]byte, cols*rows)
	for by := 0; by < rows; by++ {
		for bx := 0; bx < cols; bx++ {
			s := 0
			for r := 0; r < block; r++ {
				row := y[(by*block+r)*stride+bx*block:]
				for k := 0; k < block; k++ {
					s += int(row[k])
				}
			}
			out[by*cols+bx] = uint8((s + block*block/2) / (block * block))
		}
	}
	return out
}

// Save writes the clip to a file (gob), for a client in another process.
func (c *Clip) Save(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(c); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Load reads a clip written by Save.
func Load(path string) (*Clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var c Clip
	if err := gob.NewDecoder(f).Decode(&c); err != nil {
		return nil, fmt.Errorf("camclip: %s: %w", path, err)
	}
	return &c, nil
}
