package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
)

// subscriberBuffer is how many events a slow client may lag behind before it misses some
// (counted on the bus, and visible to the client as a gap in seq).
const subscriberBuffer = 256

// heartbeat keeps idle event connections alive through proxies.
const heartbeat = 15 * time.Second

func (s *Server) sessionEvents(c *gin.Context, sess *checkout.Session) {
	s.streamEvents(c, sess.Events, -1)
}

func (s *Server) taskEvents(c *gin.Context, t *checkout.Task) {
	// A task's stream is short: a client arriving late gets everything kept, end included.
	s.streamEvents(c, t.Events, 0)
}

// streamEvents serves a bus as Server-Sent Events, or over a WebSocket when the client asks
// to upgrade. A client resuming sends Last-Event-ID (SSE does it by itself) or ?after=SEQ and
// gets the kept events after it; otherwise it starts at defaultAfter (see cart.Bus.Subscribe).
func (s *Server) streamEvents(c *gin.Context, bus *cart.Bus, defaultAfter int64) {
	after := defaultAfter
	for _, v := range []string{c.GetHeader("Last-Event-ID"), c.Query("after")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fail(c, http.StatusBadRequest, "after", "after: %q is not an event sequence number", v)
			return
		}
		after = n
	}
	if strings.EqualFold(c.GetHeader("Upgrade"), "websocket") {
		s.websocketEvents(c, bus, after)
		return
	}
	sub := bus.Subscribe(after, subscriberBuffer)
	defer sub.Close()

	w := c.Writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": events\n\n")
	w.Flush()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			w.Flush()
		case e, ok := <-sub.C:
			if !ok {
				return // the stream ended: session closed or task finished
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b)
			w.Flush()
		}
	}
}

// websocketEvents sends each event as one JSON text message. The connection closes normally
// when the stream ends; messages from the client are ignored.
func (s *Server) websocketEvents(c *gin.Context, bus *cart.Bus, after int64) {
	conn, err := websocket.Accept(c.Writer, c.Request, &websocket.AcceptOptions{
		// Same-origin pages and non-browser clients; cross-origin browsers are refused by
		// the library's origin check.
	})
	if err != nil {
		return // Accept has written the HTTP error
	}
	defer conn.CloseNow()
	sub := bus.Subscribe(after, subscriberBuffer)
	defer sub.Close()
	ctx := conn.CloseRead(c.Request.Context())
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		case e, ok := <-sub.C:
			if !ok {
				conn.Close(websocket.StatusNormalClosure, "end of stream")
				return
			}
			b, _ := json.Marshal(e)
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return
			}
		}
	}
}
