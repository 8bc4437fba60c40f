// OpenAI-style error responses: {"error": {"message", "type", "param", "code"}}.

package main

import (
	"encoding/json"
	"net/http"
)

// apiError is one error response: its HTTP status and OpenAI error object.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"` // null when no one parameter is at fault
	Code    string  `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

func invalidRequest(status int, code, param, message string) *apiError {
	e := &apiError{Status: status, Message: message, Type: "invalid_request_error", Code: code}
	if param != "" {
		e.Param = &param
	}
	return e
}

func serverError(status int, code, message string) *apiError {
	return &apiError{Status: status, Message: message, Type: "server_error", Code: code}
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		w.Header().Set("Allow", http.MethodPost)
	}
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, body interface{}) {
	text, err := json.Marshal(body)
	if err != nil { // only plain values are written here
		status, text = http.StatusInternalServerError, []byte(`{"error": {"message": "encoding failed", "type": "server_error", "param": null, "code": "internal"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(text, '\n'))
}

// methodNotAllowed is the 405 for a path served only with allow.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, invalidRequest(http.StatusMethodNotAllowed, "method_not_allowed", "",
		r.Method+" is not allowed on "+r.URL.Path+"; use "+allow))
}
