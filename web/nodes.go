package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/cluster"
)

// NodeDirectory lists the store's nodes: their URLs, load and stations (package cluster; a
// single server lists itself).
type NodeDirectory interface {
	Nodes() []cluster.NodeInfo
}

// nodes answers GET /api/nodes: this node first, then the others present. Public, like the
// pipelines' states: the checkout page reads it to find a node with room.
func (s *Server) nodes(c *gin.Context) { c.JSON(http.StatusOK, s.Nodes.Nodes()) }
