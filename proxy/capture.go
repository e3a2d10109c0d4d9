package proxy

import "github.com/icon-edge/icon-edge/capture"

// SetCapture records a sample of the JSON-RPC requests the edge receives
// (path and body only) for icon-loadtest replay.
func (s *Server) SetCapture(w *capture.Writer) { s.capture = w }

// CloseCapture flushes and closes the capture, if any.
func (s *Server) CloseCapture() error {
	if s.capture == nil {
		return nil
	}
	return s.capture.Close()
}
