package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/checkout/access"
)

// createTokenJSON is the body of POST /api/tokens.
type createTokenJSON struct {
	Name string      `json:"name"`
	Role access.Role `json:"role"`
}

// createdTokenJSON answers POST /api/tokens: the token's description and, this once, the
// token itself.
type createdTokenJSON struct {
	access.TokenInfo
	Token string `json:"token"`
}

// tokenRoutes adds the admin's management of named tokens (admin only):
// GET /api/tokens lists them without their secrets, POST /api/tokens {name, role} makes one
// (201, the token shown this once), DELETE /api/tokens/{id} revokes one at once.
func (s *Server) tokenRoutes(r *gin.Engine) {
	api := r.Group("/api/tokens", s.requireAdmin(), s.withTokens)
	api.GET("", s.listTokens)
	api.POST("", s.createToken)
	api.DELETE("/:id", s.revokeToken)
}

// withTokens answers 503 where this server keeps no named tokens.
func (s *Server) withTokens(c *gin.Context) {
	if s.Guard == nil || s.Guard.Tokens == nil {
		fail(c, http.StatusServiceUnavailable, "", "this server keeps no named tokens: only the configured admin_token and staff_token work")
		return
	}
	c.Header("Cache-Control", "no-store")
}

func (s *Server) listTokens(c *gin.Context) {
	list, err := s.Guard.Tokens.List()
	if err != nil {
		tokenError(c, err)
		return
	}
	c.JSON(http.StatusOK, list)
}

func (s *Server) createToken(c *gin.Context) {
	var body createTokenJSON
	if !decodeJSON(c, &body, false) {
		return
	}
	info, token, err := s.Guard.Tokens.Create(body.Name, body.Role)
	if err != nil {
		tokenError(c, err)
		return
	}
	c.Header("Location", "/api/tokens/"+info.ID)
	c.JSON(http.StatusCreated, createdTokenJSON{TokenInfo: info, Token: token})
}

func (s *Server) revokeToken(c *gin.Context) {
	if _, err := s.Guard.Tokens.Revoke(c.Param("id")); err != nil {
		tokenError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// tokenError answers a token store's error: 400 or 409 naming the field, 404 for an unknown
// id, 409 when full, 503 when the store's file cannot be used.
func tokenError(c *gin.Context, err error) {
	var bad *access.InvalidTokenError
	switch {
	case errors.As(err, &bad) && errors.Is(err, access.ErrTokenNameTaken):
		fail(c, http.StatusConflict, bad.Field, "%v", err)
	case errors.As(err, &bad):
		fail(c, http.StatusBadRequest, bad.Field, "%v", err)
	case errors.Is(err, access.ErrUnknownTokenID):
		fail(c, http.StatusNotFound, "id", "%v", err)
	case errors.Is(err, access.ErrTooManyTokens):
		fail(c, http.StatusConflict, "", "%v", err)
	case errors.Is(err, access.ErrTokenFile):
		fail(c, http.StatusServiceUnavailable, "", "%v", err)
	default:
		fail(c, http.StatusInternalServerError, "", "%v", err)
	}
}
