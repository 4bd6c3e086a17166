package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// decodeJSON reads a JSON body strictly into dst: unknown fields, trailing data and wrong
// types are errors naming the field. An empty body is allowed only when optional.
func decodeJSON(c *gin.Context, dst any, optional bool) bool {
	dec := json.NewDecoder(io.LimitReader(c.Request.Body, 1<<20))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if errors.Is(err, io.EOF) {
		if optional {
			return true
		}
		fail(c, http.StatusBadRequest, "", "the request needs a JSON body")
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
	switch {
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
