// Package overlay is ebrcs_overlay: it draws what the pipeline found onto the video the
// shopper sees — the ROI, the main object's box in a colour that tells its state, the matched
// product and score, the ROI status, and the cart.
//
// Everything it draws comes from the frame's metadata (package framemeta), written by the
// elements upstream; a frame without metadata passes untouched. Drawing happens in place in
// the frame memory (no copy of the frame), and only where something is drawn.
package overlay

import (
	"errors"
	"sync"

	"golang.org/x/image/font/sfnt"

	"github.com/ebrcs/ebrcs/elements/goelement"
)

// Element is the ebrcs_overlay definition.
var Element = &goelement.Definition[*Overlay]{
	Info: goelement.Info{
		Name:           "ebrcs_overlay",
		LongName:       "EBRCS overlay",
		Classification: "Filter/Effect/Video",
		Description:    "Draws the ROI, the main object's box, the match, the ROI status and the cart from the frame's metadata onto the video",
		Caps:           "video/x-raw,format={RGBA,BGRA,RGBx,BGRx}",
		Access:         goelement.WritePixels,
		Properties:     properties,
	},
	New: func(props *goelement.Props) *Overlay { return &Overlay{props: props} },
}

var properties = []goelement.Property{
	{Name: "show-roi", Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the ROI polygon"},
	{Name: "show-box", Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the main object's box, coloured by its recognition state"},
	{Name: "show-label", Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the matched product and its score above the box"},
	{Name: "show-status", Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the ROI status (empty, outside, entered, inside) in the top left corner"},
	{Name: "show-cart", Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the cart in the top right corner"},
	colorProperty("roi-color", "#00c8ff", "Colour of the ROI polygon and the status swatch"),
	colorProperty("match-color", "#00d26a", "Colour of the box and label of a recognised product"),
	colorProperty("unknown-color", "#ff3b30", "Colour of the box and label of an object below the match threshold"),
	colorProperty("pending-color", "#ffcc00", "Colour of the box of an object not recognised yet"),
	colorProperty("text-color", "#ffffff", "Colour of all text"),
	colorProperty("panel-color", "#000000a0", "Background of the status badge and the cart (translucent by default)"),
	{Name: "line-width", Kind: goelement.Int, Default: 2, Min: 1, Max: 32, Mutable: true,
		Doc: "Width of the ROI and box lines in pixels at 480 lines of frame height (scaled with the frame)"},
	{Name: "font", Kind: goelement.String, Default: "",
		Doc: "Font file (.ttf, .otf or .ttc) tried first; empty: Noto Sans CJK, then DejaVu Sans. Runes a font lacks come from the next font that has them"},
	{Name: "font-size", Kind: goelement.Double, Default: 18.0, Min: 4, Max: 200, Mutable: true,
		Doc: "Text size in pixels at 480 lines of frame height (scaled with the frame)"},
}

func colorProperty(name, def, doc string) goelement.Property {
	return goelement.Property{Name: name, Kind: goelement.String, Default: def, Mutable: true, Check: checkColor,
		Doc: doc + `: "#rrggbb" or "#rrggbbaa" (quote it in YAML)`}
}

// propReader is what reading the style needs from goelement.Props (tests supply defaults).
type propReader interface {
	Bool(name string) bool
	Int(name string) int
	Double(name string) float64
	String(name string) string
}

// defaultColors holds the declared default of each colour property, parsed once.
var defaultColors = func() map[string]rgba {
	m := map[string]rgba{}
	for _, p := range properties {
		if p.Check != nil {
			m[p.Name] = mustColor(p.Default.(string), rgba{A: 0xff})
		}
	}
	return m
}()

// readStyle reads the properties once per frame, so a change applies from the next frame.
// Colours passed their Check when set; the declared default stands in should one not parse.
func readStyle(p propReader) *style {
	col := func(name string) rgba { return mustColor(p.String(name), defaultColors[name]) }
	return &style{
		showROI: p.Bool("show-roi"), showBox: p.Bool("show-box"), showLabel: p.Bool("show-label"),
		showStatus: p.Bool("show-status"), showCart: p.Bool("show-cart"),
		roi: col("roi-color"), match: col("match-color"), unknown: col("unknown-color"),
		pending: col("pending-color"), text: col("text-color"), panel: col("panel-color"),
		lineWidth: p.Int("line-width"), fontSize: p.Double("font-size"),
	}
}

// Overlay is one ebrcs_overlay instance.
type Overlay struct {
	props *goelement.Props

	// mu orders Start and Stop (the application's state-change thread) with Process (the
	// streaming thread): GStreamer's own locking between them is invisible to Go.
	mu   sync.Mutex
	text *textRenderer // nil while stopped
}

// Start loads the fonts: a pipeline without a usable font fails here, by name, rather than
// drawing boxes without labels.
func (o *Overlay) Start() error {
	fonts, err := loadFontChain(o.props.String("font"), defaultFonts)
	if err != nil {
		return err
	}
	o.start(fonts)
	return nil
}

func (o *Overlay) start(fonts []*sfnt.Font) {
	o.mu.Lock()
	o.text = newTextRenderer(fonts)
	o.mu.Unlock()
}

// Stop drops the faces and glyph cache (the parsed fonts stay cached for the process).
func (o *Overlay) Stop() {
	o.mu.Lock()
	o.text = nil
	o.mu.Unlock()
}

// Process implements goelement.Processor.
func (o *Overlay) Process(b *goelement.Buffer) error {
	f := b.UpstreamMeta()
	if f == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.text == nil {
		return errors.New("not started")
	}
	c, err := newCanvas(b.Pixels, b.Info)
	if err != nil {
		return err
	}
	return drawFrame(c, o.text, readStyle(o.props), f)
}
