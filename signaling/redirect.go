package signaling

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/checkout"
)

// Elsewhere finds another node with room for a camera this node cannot take (package
// cluster: the nodes' presence and load).
type Elsewhere interface {
	// NodeWithRoom returns the base URL (http[s]://host:port) of a node with room, if one is
	// known.
	NodeWithRoom() (baseURL string, ok bool)
}

// redirectElsewhere answers a WHIP offer that this node cannot admit with 307 Temporary
// Redirect to the same endpoint on a node with room (RFC 9725 §4.5: a WHIP client re-sends its
// offer there), when one is known; false: none is, the caller refuses. joining is the session
// the offer joins (?session=, its key already checked), nil for a new one: a session that lives
// here is sent away only when nothing would be lost (checkout.Session.Movable: the checkout page
// makes its session just before its offer); it is then closed here, and the offer starts a new
// one there.
func (s *Service) redirectElsewhere(c *gin.Context, joining *checkout.Session) bool {
	if s.cfg.Elsewhere == nil || (joining != nil && !joining.Movable()) {
		return false
	}
	base, ok := s.cfg.Elsewhere.NodeWithRoom()
	if !ok {
		return false
	}
	target, err := url.Parse(strings.TrimRight(base, "/") + c.Request.URL.EscapedPath())
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		s.log.Warn("node with room has no usable URL", "url", base)
		return false
	}
	q := c.Request.URL.Query()
	q.Del("session")
	target.RawQuery = q.Encode()
	c.Header("Location", target.String())
	c.Header("Access-Control-Expose-Headers", "Location")
	c.AbortWithStatusJSON(http.StatusTemporaryRedirect, gin.H{
		"error": "this node is at its limit: send the offer to " + target.String(), "location": target.String()})
	s.log.Info("WHIP offer redirected to a node with room", "to", target.Host)
	if joining != nil {
		s.checkouts.Delete(joining.ID)
	}
	return true
}
