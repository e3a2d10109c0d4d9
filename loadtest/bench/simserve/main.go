// Command simserve runs the ICON node simulator (test/iconsim) on loopback
// for the load-test benchmarks, until interrupted. With -stub it runs a
// canned-answer server instead (goloop's recorded icx_getLastBlock reply,
// whatever is asked): nearly free per request, so a benchmark of two load
// testers against it measures the testers, not the target.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/test/iconsim"
	"github.com/valyala/fasthttp"
)

// lastBlock is goloop's answer to icx_getLastBlock as recorded in
// test/compat/testdata/samples/icx_getLastBlock.json.
const lastBlock = `{"jsonrpc":"2.0","result":{"block_hash":"e8d89fcfa2f8ec8647faeafa335b12205800e133164aef5f20516a2690ffbda5","confirmed_transaction_list":[],"height":660,"merkle_tree_root_hash":"","peer_id":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","prev_block_hash":"55d335b8120e19bd139f4866ad95d2969f4bab0abc167d5391aa5f95a1521672","signature":"","time_stamp":1795571445773854,"version":"2.0"},"id":1}` + "\n"

func serveStub(listen string) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("http://" + ln.Addr().String())
	body := []byte(lastBlock)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json; charset=UTF-8")
		ctx.SetBody(body)
	}}
	go func() {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		_ = srv.Shutdown()
	}()
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "first node's address (loopback only)")
	nodes := flag.Int("nodes", 1, "nodes")
	block := flag.Duration("block", time.Second, "block interval")
	stub := flag.Bool("stub", false, "canned-answer server instead of the simulator")
	txs := flag.Int("txs", 20, "signed transfers sent at start so blocks hold transactions to look up")
	flag.Parse()
	if *stub {
		serveStub(*listen)
		return
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	c, err := iconsim.Start(iconsim.Config{Listen: *listen, Nodes: *nodes, BlockInterval: *block})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	if err := seedTransfers(c, *txs); err != nil {
		fmt.Fprintln(os.Stderr, "simserve: seeding transfers:", err)
	}
	for _, u := range c.URLs() {
		fmt.Println(u) // the bench script reads the URLs from stdout
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

// seedTransfers sends n transfers from the funded dev account and waits for
// a block to include them, so a workload finds transaction hashes and
// accounts in the recent blocks.
func seedTransfers(c *iconsim.Cluster, n int) error {
	if n <= 0 {
		return nil
	}
	w, err := icon.NewWallet(iconsim.DevPrivateKey)
	if err != nil {
		return err
	}
	url := c.URLs()[0] + "/api/v3"
	start := c.Height()
	now := time.Now()
	for i := 0; i < n; i++ {
		params, _, err := w.SignTransfer(iconsim.Dev2Address, big.NewInt(int64(i+1)), c.NID(), 0x30d40, now.Add(time.Duration(i)*time.Microsecond))
		if err != nil {
			return err
		}
		body := `{"jsonrpc":"2.0","id":1,"method":"icx_sendTransaction","params":` + string(params) + `}`
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Node(0).WaitHeight(ctx, start+2)
}
