package iconsim

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchPost runs parallel keep-alive POSTs of body against url.
func benchPost(b *testing.B, url string, body []byte) {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := cl.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

// BenchmarkBaselineStatic is the ceiling: net/http answering fixed bytes.
func BenchmarkBaselineStatic(b *testing.B) {
	payload := []byte(`{"jsonrpc":"2.0","result":{"block_hash":"00","height":1},"id":1}` + "\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(payload)
	}))
	defer srv.Close()
	benchPost(b, srv.URL, []byte(rpc("icx_getLastBlock", "")))
}

func benchSim(b *testing.B, body string) {
	c, err := Start(Config{Listen: "127.0.0.1:0", BlockInterval: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchPost(b, c.URLs()[0]+"/api/v3", []byte(body))
}

func BenchmarkGetLastBlock(b *testing.B) { benchSim(b, rpc("icx_getLastBlock", "")) }

func BenchmarkGetBalance(b *testing.B) {
	benchSim(b, rpc("icx_getBalance", `{"address":"`+DevAddress+`"}`))
}

func BenchmarkGetBlockByHeight(b *testing.B) {
	benchSim(b, rpc("icx_getBlockByHeight", `{"height":"0x0"}`))
}
