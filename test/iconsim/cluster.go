package iconsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"sync"
	"time"
)

// Config sets up a simulated network.
type Config struct {
	// Listen is the first node's address; node i listens on port+i.
	// Port 0 gives every node a random port.
	Listen             string
	Nodes              int           // default 1
	BlockInterval      time.Duration // default 1s
	NID                int64         // default 3
	Channel            string        // default "icon_dex"
	DefaultWaitTimeout time.Duration // default 10s (goloop's --default_wait_timeout)
	RPCBatchLimit      int           // default 10
	WSSessionLimit     int           // default 10
	Logger             *slog.Logger  // default slog.Default()
}

func (c *Config) fill() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Nodes <= 0 {
		c.Nodes = 1
	}
	if c.BlockInterval <= 0 {
		c.BlockInterval = time.Second
	}
	if c.NID == 0 {
		c.NID = 3
	}
	if c.Channel == "" {
		c.Channel = "icon_dex"
	}
	if c.DefaultWaitTimeout <= 0 {
		c.DefaultWaitTimeout = 10 * time.Second
	}
	if c.RPCBatchLimit == 0 {
		c.RPCBatchLimit = 10
	}
	if c.WSSessionLimit == 0 {
		c.WSSessionLimit = 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Cluster is a running simulated network: one chain, several nodes.
type Cluster struct {
	cfg   Config
	chain *Chain
	nodes []*Node

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start builds the chain, opens every node's listener and starts producing blocks.
func Start(cfg Config) (*Cluster, error) {
	cfg.fill()
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("iconsim: listen %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port+cfg.Nodes > 65536 {
		return nil, fmt.Errorf("iconsim: bad port in %q", cfg.Listen)
	}
	c := &Cluster{cfg: cfg, chain: newChain(cfg.NID, cfg.Channel), stop: make(chan struct{})}
	for i := 0; i < cfg.Nodes; i++ {
		p := 0
		if port != 0 {
			p = port + i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			for _, n := range c.nodes {
				_ = n.ln.Close()
			}
			return nil, fmt.Errorf("iconsim: node %d: %w", i, err)
		}
		c.nodes = append(c.nodes, newNode(c, i, ln))
	}
	for _, n := range c.nodes {
		c.wg.Add(1)
		go func(n *Node) {
			defer c.wg.Done()
			if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, net.ErrClosed) && err.Error() != "http: Server closed" {
				cfg.Logger.Error("iconsim node stopped", "node", n.index, "err", err)
			}
		}(n)
	}
	c.wg.Add(1)
	go c.produceLoop()
	return c, nil
}

func (c *Cluster) produceLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.BlockInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			b := c.chain.produce(now)
			if len(b.Txs) > 0 {
				c.cfg.Logger.Debug("iconsim block", "height", b.Height, "txs", len(b.Txs))
			}
		}
	}
}

// URLs are the nodes' base URLs ("http://127.0.0.1:PORT").
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.url
	}
	return out
}

// Node returns node i (nil when out of range).
func (c *Cluster) Node(i int) *Node {
	if i < 0 || i >= len(c.nodes) {
		return nil
	}
	return c.nodes[i]
}

// Nodes is the number of nodes.
func (c *Cluster) Nodes() int { return len(c.nodes) }

// Height is the chain tip.
func (c *Cluster) Height() int64 { return c.chain.Height() }

// NID is the network id.
func (c *Cluster) NID() int64 { return c.cfg.NID }

// Channel is the chain's channel name.
func (c *Cluster) Channel() string { return c.cfg.Channel }

// Balance is an account's ICX balance at the tip.
func (c *Cluster) Balance(addr string) *big.Int {
	return new(big.Int).Set(c.chain.Balance(addr, c.chain.Height()))
}

// BlockHash returns the "0x" hash of the block at height h, if kept.
func (c *Cluster) BlockHash(h int64) (string, bool) {
	b := c.chain.block(h)
	if b == nil {
		return "", false
	}
	return b.HashHex(), true
}

// WaitHeight blocks until the chain tip reaches h or ctx ends.
func (c *Cluster) WaitHeight(ctx context.Context, h int64) error {
	for {
		next := c.chain.waitCh()
		if c.chain.Height() >= h {
			return nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.stop:
			return errors.New("iconsim: cluster closed")
		}
	}
}

// WaitHeight blocks until this node's view reaches h or ctx ends.
func (n *Node) WaitHeight(ctx context.Context, h int64) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for n.Height() < h {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops block production and every node, dropping open connections.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		for _, n := range c.nodes {
			_ = n.srv.Close()
			n.closeWS()
		}
		c.wg.Wait()
	})
	return nil
}
