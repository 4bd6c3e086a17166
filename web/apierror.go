package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// apiError is every API error's body: what is wrong and, for bad input, which field.
type apiError struct {
	Status int    `json:"-"`
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
}

func fail(c *gin.Context, status int, field, format string, args ...any) {
	c.AbortWithStatusJSON(status, apiError{Error: fmt.Sprintf(format, args...), Field: field})
}

// maxJSONBytes bounds a JSON request body (a cart edit or a ROI is a few kB).
const maxJSONBytes = 1 << 20

// decodeJSON reads a JSON body strictly into dst: unknown fields, trailing data and wrong
// types are errors naming the field. An empty body is allowed only when optional.
//
// A body must be declared as JSON (Content-Type: application/json): a browser sends that
// type only after a CORS preflight, so another site's page cannot post JSON here as a
// "simple" request.
func decodeJSON(c *gin.Context, dst any, optional bool) bool {
	ct := c.GetHeader("Content-Type")
	if ct != "" && !isJSONType(ct) {
		fail(c, http.StatusUnsupportedMediaType, "Content-Type", "Content-Type: send JSON as application/json, not %q", ct)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if errors.Is(err, io.EOF) {
		if optional {
			return true
		}
		fail(c, http.StatusBadRequest, "", "the request needs a JSON body")
		return false
	}
	if ct == "" {
		fail(c, http.StatusUnsupportedMediaType, "Content-Type", "Content-Type: the body must be sent as application/json")
		return false
	}
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON value")
	}
	if err == nil {
		return true
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(c, http.StatusRequestEntityTooLarge, "", "the JSON body is larger than the limit of %d bytes", maxJSONBytes)
	case errors.As(err, &typeErr):
		fail(c, http.StatusBadRequest, typeErr.Field, "%s: want %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		fail(c, http.StatusBadRequest, "", "invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		fail(c, http.StatusBadRequest, field, "unknown field %q", field)
	default:
		fail(c, http.StatusBadRequest, "", "invalid JSON: %v", err)
	}
	return false
}

// isJSONType reports whether a Content-Type is JSON (application/json or application/*+json).
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
