package icon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/iconsim"
)

func TestClientLastBlock(t *testing.T) {
	c, err := iconsim.Start(iconsim.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lb, err := (&icon.Client{URL: c.URLs()[0]}).LastBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hash, _ := c.BlockHash(lb.Height); "0x"+lb.BlockHash != hash {
		t.Fatalf("height %d hash %q, chain says %q", lb.Height, lb.BlockHash, hash)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		w.Write([]byte(`{"jsonrpc":"2.0","error":{"code":-32601,"message":"MethodNotFound"},"id":1}`))
	}))
	defer srv.Close()
	if _, err := (&icon.Client{URL: srv.URL}).LastBlock(context.Background()); err == nil || err.Error() != "-32601 MethodNotFound" {
		t.Fatalf("JSON-RPC error: %v", err)
	}
	if got := icon.RPCURL("http://h:9080/api/v3/icon_dex"); got != "http://h:9080/api/v3/icon_dex" {
		t.Fatal(got)
	}
	if got := icon.RPCURL("http://h:9080/"); got != "http://h:9080/api/v3" {
		t.Fatal(got)
	}
}
