package ossserver

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
)

// ossError is an error response in the shape OSS sends: a status, a Code
// the SDK exposes as ServiceError.Code, and code-specific extra elements
// (Key, BucketName, Condition, ...).
type ossError struct {
	Status  int
	Code    string
	Message string
	Extra   []field
}

type field struct{ Name, Value string }

func (e *ossError) Error() string { return e.Code + ": " + e.Message }

func (e *ossError) with(name, value string) *ossError {
	e.Extra = append(e.Extra, field{name, value})
	return e
}

func newError(status int, code, msg string) *ossError {
	return &ossError{Status: status, Code: code, Message: msg}
}

func errNoSuchBucket(bucket string) *ossError {
	return newError(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.").with("BucketName", bucket)
}

func errNoSuchKey(key string) *ossError {
	return newError(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.").with("Key", key)
}

func errAccessDenied(msg string) *ossError {
	return newError(http.StatusForbidden, "AccessDenied", msg)
}

func errInvalidArgument(msg, name, value string) *ossError {
	return newError(http.StatusBadRequest, "InvalidArgument", msg).
		with("ArgumentName", name).with("ArgumentValue", value)
}

// errorXML renders the error document.
func errorXML(e *ossError, requestID, hostID string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error>\n")
	elem := func(name, value string) {
		b.WriteString("  <" + name + ">")
		xml.EscapeText(&b, []byte(value))
		b.WriteString("</" + name + ">\n")
	}
	elem("Code", e.Code)
	elem("Message", e.Message)
	elem("RequestId", requestID)
	elem("HostId", hostID)
	for _, f := range e.Extra {
		elem(f.Name, f.Value)
	}
	b.WriteString("</Error>\n")
	return b.Bytes()
}

// writeError sends e. HEAD responses carry no body, so the document also
// goes into the x-oss-err header (base64), where the SDK looks for it.
func writeError(w http.ResponseWriter, r *http.Request, e *ossError) {
	body := errorXML(e, w.Header().Get(hdrRequestID), r.Host)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		h.Set("x-oss-err", base64.StdEncoding.EncodeToString(body))
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
