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

// The element's factory name and its properties.
const (
	Name = "ebrcs_overlay"

	PropShowROI      = "show-roi"
	PropShowBox      = "show-box"
	PropShowLabel    = "show-label"
	PropShowStatus   = "show-status"
	PropShowCart     = "show-cart"
	PropROIColor     = "roi-color"
	PropMatchColor   = "match-color"
	PropUnknownColor = "unknown-color"
	PropPendingColor = "pending-color"
	PropTextColor    = "text-color"
	PropPanelColor   = "panel-color"
	PropLineWidth    = "line-width"
	PropFont         = "font"
	PropFontSize     = "font-size"
	PropReturnWidth  = "return-width"
)

// The optional interfaces of goelement that Overlay implements: a renamed method fails to
// compile here instead of being silently skipped by the framework.
var (
	_ goelement.Starter = (*Overlay)(nil)
	_ goelement.Stopper = (*Overlay)(nil)
)

// Element is the ebrcs_overlay definition.
var Element = &goelement.Definition[*Overlay]{
	Info: goelement.Info{
		Name:           Name,
		LongName:       "EBRCS overlay",
		Classification: "Filter/Effect/Video",
		Description:    "Draws the ROI, the main object's box, the match, the ROI status and the cart from the frame's metadata onto the video",
		Caps:           "video/x-raw,format={RGBA,BGRA,RGBx,BGRx,I420,NV12}",
		Access:         goelement.WritePixels,
		Properties:     properties,
	},
	New: func(props *goelement.Props) *Overlay { return &Overlay{props: props} },
}

var properties = []goelement.Property{
	{Name: PropShowROI, Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the ROI polygon"},
	{Name: PropShowBox, Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the main object's box, coloured by its recognition state"},
	{Name: PropShowLabel, Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Label the main object in the shopper's words (the product, or checking, not sure, not recognised), clear of the status and the cart"},
	{Name: PropShowStatus, Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the ROI status in the shopper's words (show a product, move it into the area, in the area) in the top left corner"},
	{Name: PropShowCart, Kind: goelement.Bool, Default: true, Mutable: true,
		Doc: "Draw the cart in the top right corner"},
	colorProperty(PropROIColor, "#00c8ff", "Colour of the ROI polygon and the status swatch"),
	colorProperty(PropMatchColor, "#00d26a", "Colour of the box and label of a recognised product"),
	colorProperty(PropUnknownColor, "#ff3b30", "Colour of the box and label of an object below the match threshold"),
	colorProperty(PropPendingColor, "#ffcc00", "Colour of the box of an object not recognised yet"),
	colorProperty(PropTextColor, "#ffffff", "Colour of all text"),
	colorProperty(PropPanelColor, "#000000a0", "Background of the status badge and the cart (translucent by default)"),
	{Name: PropLineWidth, Kind: goelement.Int, Default: 2, Min: 1, Max: 32, Mutable: true,
		Doc: "Width of the ROI and box lines in pixels at 480 lines of frame height (scaled with the frame)"},
	{Name: PropFont, Kind: goelement.String, Default: "",
		Doc: "Font file (.ttf, .otf or .ttc) tried first; empty: Noto Sans CJK, then DejaVu Sans. Runes a font lacks come from the next font that has them"},
	{Name: PropFontSize, Kind: goelement.Double, Default: 18.0, Min: 4, Max: 200, Mutable: true,
		Doc: "Text size in pixels at 480 lines of frame height (scaled with the frame)"},
	// Set by the webrtc sink (pipelines.ReturnScaler) while it sends the video back compact:
	// the overlay draws at the camera's size, and the picture is then shrunk.
	{Name: PropReturnWidth, Kind: goelement.Int, Default: 0, Min: 0, Max: 7680, Mutable: true,
		Doc: "Width the picture is sent at when a scaler after the overlay shrinks it (a webrtc sink's compact size sets it): lines are drawn wider so they keep their width in pixels there (a 1 px line loses its colour in 4:2:0 video), text larger so it stays legible; 0: sent as drawn"},
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
		showROI: p.Bool(PropShowROI), showBox: p.Bool(PropShowBox), showLabel: p.Bool(PropShowLabel),
		showStatus: p.Bool(PropShowStatus), showCart: p.Bool(PropShowCart),
		roi: col(PropROIColor), match: col(PropMatchColor), unknown: col(PropUnknownColor),
		pending: col(PropPendingColor), text: col(PropTextColor), panel: col(PropPanelColor),
		lineWidth: p.Int(PropLineWidth), fontSize: p.Double(PropFontSize),
		returnWidth: p.Int(PropReturnWidth),
	}
}

// Overlay is one ebrcs_overlay instance.
type Overlay struct {
	props *goelement.Props

	// mu orders Start and Stop (the application's state-change thread) with Process (the
	// streaming thread): GStreamer's own locking between them is invisible to Go.
	mu   sync.Mutex
	text *textRenderer // nil while stopped
	yuv  yuvScratch    // chroma coverage for 4:2:0 frames
	roi  shapeCache    // the ROI outline's pixels, while the area and frame size stay
}

// Start loads the fonts: a pipeline without a usable font fails here, by name, rather than
// drawing boxes without labels.
func (o *Overlay) Start() error {
	fonts, err := loadFontChain(o.props.String(PropFont), defaultFonts)
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
	var c surface
	var err error
	if isYUV420(b.Info.Format) {
		c, err = newYUVCanvas(b.Pixels, b.Info, &o.yuv)
	} else {
		c, err = newCanvas(b.Pixels, b.Info)
	}
	if err != nil {
		return err
	}
	return drawFrame(c, o.text, readStyle(o.props), f, &o.roi)
}
