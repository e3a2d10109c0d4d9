package iconsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/icon"
)

const (
	wsMaxMessage   = 16 << 10
	wsFirstTimeout = 30 * time.Second
	wsWriteTimeout = 10 * time.Second
)

var upgrader = websocket.Upgrader{
	ReadBufferSize: 4096, WriteBufferSize: 4096,
	CheckOrigin: func(*http.Request) bool { return true },
}

type wsSession struct {
	conn *websocket.Conn
}

type wsFilter struct {
	Addr    string    `json:"addr"`
	Event   string    `json:"event"`
	Indexed []*string `json:"indexed"`
	Data    []*string `json:"data"`
}

type wsRequest struct {
	Height           json.RawMessage `json:"height"`
	EventFilters     []wsFilter      `json:"eventFilters"`
	Logs             string          `json:"logs"`
	ProgressInterval string          `json:"progressInterval"`
	// legacy single-filter form of /event
	Addr    string    `json:"addr"`
	Event   string    `json:"event"`
	Indexed []*string `json:"indexed"`
	Data    []*string `json:"data"`
}

type wsErr struct {
	Code    int    `json:"code"`
	Message string `json:"message,omitempty"`
}

func (n *Node) serveWS(w http.ResponseWriter, r *http.Request, kind string) {
	if !n.injectFaults(w, r) {
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered 400
	}
	s := &wsSession{conn: conn}
	defer conn.NetConn().Close()
	conn.SetReadLimit(wsMaxMessage)
	_ = conn.SetReadDeadline(time.Now().Add(wsFirstTimeout))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	n.connMu.Lock()
	full := len(n.ws) >= n.cluster.cfg.WSSessionLimit
	if !full {
		n.ws[s] = struct{}{}
	}
	n.connMu.Unlock()
	if full {
		s.reject(icon.CodeLackOfRes, "too many monitor")
		return
	}
	defer func() {
		n.connMu.Lock()
		delete(n.ws, s)
		n.connMu.Unlock()
	}()
	if n.down.Load() {
		return
	}
	req, start, e := parseWSRequest(msg, kind)
	if e != nil {
		s.reject(e.Code, e.Message)
		return
	}
	if s.write(wsErr{Code: 0}) != nil {
		return
	}
	gone := make(chan struct{})
	go func() { // goloop ignores later client messages; a read error ends the session
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	n.streamWS(s, kind, req, start, gone)
}

// reject sends an error object and drops the socket without a close frame.
func (s *wsSession) reject(code int, msg string) {
	_ = s.write(wsErr{Code: code, Message: msg})
}

func (s *wsSession) write(v any) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return s.conn.WriteJSON(v)
}

func parseWSRequest(msg []byte, kind string) (*wsRequest, int64, *wsErr) {
	bad := &wsErr{Code: icon.CodeParseError, Message: "bad event request"}
	badParam := &wsErr{Code: icon.CodeInvalidParams, Message: "bad event request parameter"}
	var req wsRequest
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, 0, bad
	}
	if kind == "block" && (req.Event != "" || req.Addr != "" || req.Indexed != nil || req.Data != nil || req.ProgressInterval != "") {
		return nil, 0, bad
	}
	var h int64
	if len(req.Height) == 0 {
		return nil, 0, badParam
	}
	if req.Height[0] == '"' {
		var s string
		_ = json.Unmarshal(req.Height, &s)
		v, ok := icon.ParseHexInt(s)
		if !ok {
			return nil, 0, badParam
		}
		h = v
	} else {
		v, err := strconv.ParseInt(string(req.Height), 10, 64)
		if err != nil {
			return nil, 0, badParam
		}
		h = v
	}
	if h < 0 {
		return nil, 0, &wsErr{Code: icon.CodeInvalidParams, Message: "given height(" + strconv.FormatInt(h, 10) + ") is lower than genesis height(0)"}
	}
	if req.Event != "" {
		req.EventFilters = append([]wsFilter{{Addr: req.Addr, Event: req.Event, Indexed: req.Indexed, Data: req.Data}}, req.EventFilters...)
	}
	if kind == "event" && len(req.EventFilters) == 0 {
		return nil, 0, badParam
	}
	for _, f := range req.EventFilters {
		if f.Event == "" || (f.Addr != "" && !icon.IsAddress(f.Addr)) {
			return nil, 0, badParam
		}
	}
	if req.ProgressInterval != "" {
		if v, ok := icon.ParseHexInt(req.ProgressInterval); !ok || v < 0 {
			return nil, 0, badParam
		}
	}
	return &req, h, nil
}

func (f *wsFilter) match(ev EventLog) bool {
	if (f.Addr != "" && f.Addr != ev.Score) || len(ev.Indexed) == 0 || ev.Indexed[0] != f.Event {
		return false
	}
	for i, want := range f.Indexed {
		if want != nil && (i+1 >= len(ev.Indexed) || ev.Indexed[i+1] != *want) {
			return false
		}
	}
	for i, want := range f.Data {
		if want != nil && (i >= len(ev.Data) || ev.Data[i] != *want) {
			return false
		}
	}
	return true
}

// streamWS sends one notification per block from start on, past heights at
// once and then each block as this node's view reaches it.
func (n *Node) streamWS(s *wsSession, kind string, req *wsRequest, start int64, gone <-chan struct{}) {
	var progress int64
	if req.ProgressInterval != "" {
		progress, _ = icon.ParseHexInt(req.ProgressInterval)
	}
	withLogs := req.Logs == "0x1"
	poll := time.NewTicker(50 * time.Millisecond) // view changes with faults, not only blocks
	defer poll.Stop()
	for h := start; ; {
		for h <= n.Height() {
			b := n.cluster.chain.block(h)
			if b == nil {
				return // pruned: the node cannot serve it any more
			}
			var msgs []any
			if kind == "block" {
				msgs = append(msgs, blockNotification(b, req.EventFilters, withLogs))
			} else {
				if progress > 0 && (h-start)%progress == 0 {
					msgs = append(msgs, map[string]string{"progress": icon.FormatHexInt(h)})
				}
				msgs = append(msgs, eventNotifications(b, req.EventFilters, withLogs)...)
			}
			for _, m := range msgs {
				if s.write(m) != nil {
					return
				}
			}
			h++
		}
		select {
		case <-n.cluster.chain.waitCh():
		case <-poll.C:
		case <-gone:
			return
		case <-n.cluster.stop:
			return
		}
	}
}

func logJSON(ev EventLog) eventLogJSON {
	return eventLogJSON{Data: ev.Data, Indexed: ev.Indexed, ScoreAddress: ev.Score}
}

func blockNotification(b *Block, filters []wsFilter, withLogs bool) any {
	m := map[string]any{"hash": b.HashHex(), "height": icon.FormatHexInt(b.Height)}
	if len(filters) == 0 {
		return m
	}
	indexes := make([][]string, len(filters))
	events := make([][][]string, len(filters))
	logs := make([][][]eventLogJSON, len(filters))
	found := false
	for fi := range filters {
		for ti, r := range b.Receipts {
			var evs []string
			var lg []eventLogJSON
			for ei, ev := range r.EventLogs {
				if filters[fi].match(ev) {
					evs = append(evs, icon.FormatHexInt(int64(ei)))
					lg = append(lg, logJSON(ev))
				}
			}
			if evs != nil {
				found = true
				indexes[fi] = append(indexes[fi], icon.FormatHexInt(int64(ti)))
				events[fi] = append(events[fi], evs)
				logs[fi] = append(logs[fi], lg)
			}
		}
	}
	if found {
		m["indexes"], m["events"] = indexes, events
		if withLogs {
			m["logs"] = logs
		}
	}
	return m
}

func eventNotifications(b *Block, filters []wsFilter, withLogs bool) []any {
	var out []any
	for ti, r := range b.Receipts {
		var evs []string
		var lg []eventLogJSON
		for ei, ev := range r.EventLogs {
			for fi := range filters {
				if filters[fi].match(ev) {
					evs = append(evs, icon.FormatHexInt(int64(ei)))
					lg = append(lg, logJSON(ev))
					break
				}
			}
		}
		if evs == nil {
			continue
		}
		m := map[string]any{"hash": b.HashHex(), "height": icon.FormatHexInt(b.Height), "index": icon.FormatHexInt(int64(ti)), "events": evs}
		if withLogs {
			m["logs"] = lg
		}
		out = append(out, m)
	}
	return out
}

func (n *Node) closeWS() {
	n.connMu.Lock()
	var cs []*websocket.Conn
	for s := range n.ws {
		cs = append(cs, s.conn)
	}
	n.connMu.Unlock()
	for _, c := range cs {
		resetConn(c.NetConn())
	}
}
