package wsbridge

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/icon-edge/icon-edge/icon"
)

// Goloop's answers to a bad first message (see test/compat/testdata/samples/ws_*).
var (
	errBadRequest = &wsError{Code: icon.CodeParseError, Message: "bad event request"}
	errBadParam   = &wsError{Code: icon.CodeInvalidParams, Message: "bad event request parameter"}
)

type wsError struct {
	Code    int    `json:"code"`
	Message string `json:"message,omitempty"`
}

type filter struct {
	Addr    string    `json:"addr,omitempty"`
	Event   string    `json:"event"`
	Indexed []*string `json:"indexed,omitempty"`
	Data    []*string `json:"data,omitempty"`
}

// request is goloop's first websocket message. Field order is the canonical
// order used for hub keys and upstream requests.
type request struct {
	Height           json.RawMessage `json:"height,omitempty"`
	Addr             string          `json:"addr,omitempty"`
	Event            string          `json:"event,omitempty"`
	Indexed          []*string       `json:"indexed,omitempty"`
	Data             []*string       `json:"data,omitempty"`
	EventFilters     []filter        `json:"eventFilters,omitempty"`
	Logs             string          `json:"logs,omitempty"`
	ProgressInterval string          `json:"progressInterval,omitempty"`
}

// subscription is a validated first message.
type subscription struct {
	kind     string // "block" or "event"
	height   int64
	progress int64     // client's progressInterval, 0 = none
	filters  []byte    // canonical request without height and progressInterval
	plain    bool      // /block without filters
	sel      *selector // event filters the bridge can match itself (filter.go)
}

// parseRequest validates msg as goloop does and returns the error object
// goloop would answer otherwise.
func parseRequest(msg []byte, kind string) (*subscription, *wsError) {
	var req request
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return nil, errBadRequest
	}
	if kind == "block" && (req.Event != "" || req.Addr != "" || req.Indexed != nil || req.Data != nil || req.ProgressInterval != "") {
		return nil, errBadRequest
	}
	if len(req.Height) == 0 || string(req.Height) == "null" {
		return nil, errBadParam
	}
	var h int64
	if req.Height[0] == '"' {
		var s string
		if json.Unmarshal(req.Height, &s) != nil {
			return nil, errBadParam
		}
		v, ok := icon.ParseHexInt(s)
		if !ok {
			return nil, errBadParam
		}
		h = v
	} else {
		v, err := strconv.ParseInt(string(req.Height), 10, 64)
		if err != nil {
			return nil, errBadParam
		}
		h = v
	}
	if h < 0 {
		return nil, &wsError{Code: icon.CodeInvalidParams,
			Message: "given height(" + strconv.FormatInt(h, 10) + ") is lower than genesis height(0)"}
	}
	if kind == "event" && req.Event == "" && len(req.EventFilters) == 0 {
		return nil, errBadParam
	}
	if req.Event == "" && (req.Addr != "" || req.Indexed != nil || req.Data != nil) {
		return nil, errBadParam
	}
	if req.Addr != "" && !icon.IsAddress(req.Addr) {
		return nil, errBadParam
	}
	for _, f := range req.EventFilters {
		if f.Event == "" || (f.Addr != "" && !icon.IsAddress(f.Addr)) {
			return nil, errBadParam
		}
	}
	var progress int64
	if req.ProgressInterval != "" {
		v, ok := icon.ParseHexInt(req.ProgressInterval)
		if !ok || v < 0 {
			return nil, errBadParam
		}
		progress = v
	}
	if req.Logs != "" && req.Logs != "0x0" && req.Logs != "0x1" {
		return nil, errBadRequest // goloop's hex bool fails to decode
	}
	var sel *selector
	if kind == "event" {
		sel = shareable(&req)
	}
	req.Height, req.ProgressInterval = nil, ""
	canon, err := json.Marshal(&req)
	if err != nil {
		return nil, errBadRequest
	}
	return &subscription{kind: kind, height: h, progress: progress, filters: canon, sel: sel,
		plain: kind == "block" && len(req.EventFilters) == 0}, nil
}

// upstreamRequest is the first message the bridge sends a node: the canonical
// filters from height on. Event sessions always ask for progress at every
// block so the bridge knows how far a node has scanned (for failover and for
// each client's own progressInterval).
func upstreamRequest(kind string, filters []byte, height int64) []byte {
	var req request
	_ = json.Unmarshal(filters, &req)
	req.Height = json.RawMessage(strconv.Quote(icon.FormatHexInt(height)))
	if kind == "event" {
		req.ProgressInterval = "0x1"
	}
	b, _ := json.Marshal(&req)
	return b
}
