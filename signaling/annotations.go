package signaling

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/elements/framemeta"
)

// Annotation is what ebrcs_overlay draws on one frame of a live session, as data, so that a
// page can draw it over its own local preview of the camera (which has no latency) while the
// annotated video keeps carrying it too. Coordinates are normalised to the frame (0..1) and
// rounded to 1/10000 (a fifth of a pixel at 1920): one frame's annotation stays a few hundred
// bytes, whatever the cart holds.
type Annotation struct {
	// StreamTime is the frame's time in the session's stream, in seconds (to the millisecond).
	StreamTime float64 `json:"t"`
	// ROI is the region of interest's polygon; Status where the main object is (empty,
	// outside, entered, inside).
	ROI    [][2]float64 `json:"roi,omitempty"`
	Status string       `json:"status,omitempty"`
	// Box is the main object's box (x0, y0, x1, y1), State its colour's meaning (pending: not
	// recognised yet, matched, unknown) and Label the staff's text for it ("Milk 0.87").
	// Product is the product recognised (matched only), Ask that the checkout asks the
	// shopper which product it is (unknown only): with State, what the overlay says to the
	// shopper ("Milk", "Checking…", "Not sure: see the screen", "Not recognised").
	Box     *[4]float64 `json:"box,omitempty"`
	State   string      `json:"state,omitempty"`
	Label   string      `json:"label,omitempty"`
	Product string      `json:"product,omitempty"`
	Ask     bool        `json:"ask,omitempty"`
	// Cart is the cart after this frame, its first annotationCartLines lines as the overlay
	// lists them, and CartMore how many lines follow.
	Cart     []AnnotationLine `json:"cart,omitempty"`
	CartMore int              `json:"cart_more,omitempty"`
}

// AnnotationLine is one line of an Annotation's cart.
type AnnotationLine struct {
	Product  string `json:"product"`
	Quantity int    `json:"quantity"`
}

// annotationCartLines is how many cart lines an annotation carries: as many as ebrcs_overlay
// lists before "+N more".
const annotationCartLines = 6

// round4 rounds a normalised coordinate to 1/10000.
func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// annotationOf describes a frame's metadata as the overlay draws it.
func annotationOf(f *framemeta.Frame, pts time.Duration) Annotation {
	a := Annotation{StreamTime: math.Round(pts.Seconds()*1e3) / 1e3}
	for i, l := range f.Cart {
		if i == annotationCartLines {
			a.CartMore = len(f.Cart) - i
			break
		}
		a.Cart = append(a.Cart, AnnotationLine{Product: l.Product, Quantity: l.Quantity})
	}
	g := f.Gate
	if g == nil {
		return a
	}
	for _, p := range g.ROI {
		a.ROI = append(a.ROI, [2]float64{round4(p.X), round4(p.Y)})
	}
	a.Status = string(g.Status)
	if g.HasMain && f.Width > 0 && f.Height > 0 {
		w, h := float64(f.Width), float64(f.Height)
		a.Box = &[4]float64{round4(float64(g.Main.Min.X) / w), round4(float64(g.Main.Min.Y) / h),
			round4(float64(g.Main.Max.X) / w), round4(float64(g.Main.Max.Y) / h)}
		m := f.Match
		if m == nil {
			m = f.Verdict // the visit's latest, between recognitions
		}
		switch {
		case m == nil:
			a.State = "pending"
		case m.Known:
			a.State, a.Label, a.Product = "matched", fmt.Sprintf("%s %.2f", m.Product, m.Score), m.Product
		default:
			a.State, a.Label = "unknown", fmt.Sprintf("unknown %.2f", m.Score)
			a.Ask = m.Decision == framemeta.DecisionAsk
		}
	}
	return a
}

// annotations fans a session's annotations out to its listeners. Each listener keeps only the
// latest ones (a slow page skips frames, it never delays the video or the other listeners).
type annotations struct {
	mu   sync.Mutex
	subs map[chan []byte]struct{}
}

// listening reports whether anyone listens (the frame is not described for nobody).
func (a *annotations) listening() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.subs) > 0
}

func (a *annotations) subscribe() chan []byte {
	ch := make(chan []byte, 4)
	a.mu.Lock()
	if a.subs == nil {
		a.subs = map[chan []byte]struct{}{}
	}
	a.subs[ch] = struct{}{}
	a.mu.Unlock()
	return ch
}

func (a *annotations) unsubscribe(ch chan []byte) {
	a.mu.Lock()
	delete(a.subs, ch)
	a.mu.Unlock()
}

// publish delivers one annotation to every listener, dropping a listener's oldest when it
// lags.
func (a *annotations) publish(msg []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ch := range a.subs {
		select {
		case ch <- msg:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- msg:
			default:
			}
		}
	}
}

// Annotate implements pipelines.MediaLink: the frame about to be encoded, described for the
// session's listeners.
func (b *bridge) Annotate(f *framemeta.Frame, pts time.Duration) {
	if !b.annotations.listening() {
		return
	}
	msg, err := json.Marshal(annotationOf(f, pts))
	if err != nil {
		return
	}
	b.annotations.publish(msg)
}

// handleAnnotations: GET /api/sessions/{id}/annotations streams the live session's
// annotations (Server-Sent Events "annotation", one per annotated frame, latest first when
// the client lags) while its camera publishes. The session's key or staff's token.
func (s *Service) handleAnnotations(c *gin.Context) {
	id := c.Param("id")
	sess, err := s.checkouts.Get(id)
	if err != nil {
		fail(c, refuse(http.StatusNotFound, "session", "%v", err))
		return
	}
	if err := s.guard.Session(c.Request, sess); err != nil {
		fail(c, refuse(access.Status(err), "session", "%v", err))
		return
	}
	pub := s.publisherOf(sess.ID)
	if pub == nil {
		fail(c, refuse(http.StatusConflict, "session", "session %s has no live camera", sess.ID))
		return
	}
	ch := pub.bridge.annotations.subscribe()
	defer pub.bridge.annotations.unsubscribe(ch)
	w := c.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": annotations\n\n")
	w.Flush()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case <-pub.done:
			return
		case <-sess.Done():
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			w.Flush()
		case msg := <-ch:
			fmt.Fprintf(w, "event: annotation\ndata: %s\n\n", msg)
			w.Flush()
		}
	}
}
