package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/icon"
)

// SynthOptions shape a synthetic run.
type SynthOptions struct {
	Rate    float64 // requests per second (required)
	Poisson bool    // exponential inter-arrival times instead of a constant gap
	Seed    uint64  // same seed, same sequence of requests (transfers aside)
}

// bodiesPerMethod is how many distinct pre-built bodies each read method
// cycles through: enough variety for caches to matter, built once so the
// send path does no encoding.
const bodiesPerMethod = 64

// SynthSource generates requests from a Mix.
type SynthSource struct {
	opt      SynthOptions
	rng      *rand.Rand
	names    []string
	cum      []float64 // cumulative weights, parallel to names
	bodies   [][][]byte
	n        int64
	at       time.Duration
	transfer *transferGen
	Warnings []string
}

// NewSynthSource prepares a workload against url (the JSON-RPC endpoint,
// e.g. http://127.0.0.1:9080/api/v3): it reads recent blocks and accounts
// from the target to draw parameters from. Close stops the transfer signer.
func NewSynthSource(ctx context.Context, url string, mix *Mix, opt SynthOptions) (*SynthSource, error) {
	plan, err := PlanSynth(ctx, url, mix, opt)
	if err != nil {
		return nil, err
	}
	return plan.Source(ctx, opt.Seed)
}

// SynthPlan is a mix plus the chain state read from a target once; each
// Source starts the same request sequence for the same seed, which is how
// compare gives both targets identical workloads.
type SynthPlan struct {
	mix *Mix
	opt SynthOptions
	st  *chainState
}

// PlanSynth validates the mix and reads the target's recent chain state.
func PlanSynth(ctx context.Context, url string, mix *Mix, opt SynthOptions) (*SynthPlan, error) {
	if mix == nil {
		mix = DefaultMix()
	}
	if err := mix.validate(); err != nil {
		return nil, err
	}
	if opt.Rate <= 0 || math.IsInf(opt.Rate, 0) || math.IsNaN(opt.Rate) {
		return nil, fmt.Errorf("loadtest: synth needs a positive --rate")
	}
	st, err := fetchState(ctx, url, mix)
	if err != nil {
		return nil, err
	}
	return &SynthPlan{mix: mix, opt: opt, st: st}, nil
}

// Source starts a workload with the given seed.
func (p *SynthPlan) Source(ctx context.Context, seed uint64) (*SynthSource, error) {
	opt := p.opt
	opt.Seed = seed
	return newSynthFromState(ctx, p.mix, opt, p.st)
}

func newSynthFromState(ctx context.Context, mix *Mix, opt SynthOptions, st *chainState) (*SynthSource, error) {
	s := &SynthSource{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))}
	b := &bodyBuilder{st: st, mix: mix, rng: rand.New(rand.NewPCG(opt.Seed+1, 7))}
	if len(st.txs) == 0 && (mix.Methods["icx_getTransactionResult"] > 0 || mix.Methods["icx_getTransactionByHash"] > 0) {
		s.Warnings = append(s.Warnings, "no transactions in the recent blocks: transaction lookups use unknown hashes (expect -31004 not found)")
	}
	names := make([]string, 0, len(mix.Methods))
	for name, w := range mix.Methods {
		if w > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names) // map order must not change the sequence for a seed
	var total float64
	for _, name := range names {
		total += mix.Methods[name]
		s.names = append(s.names, name)
		s.cum = append(s.cum, total)
		var pool [][]byte
		if name != "icx_sendTransaction" {
			for i := 0; i < bodiesPerMethod; i++ {
				pool = append(pool, b.body(name, i+1))
			}
		}
		s.bodies = append(s.bodies, pool)
	}
	if mix.Methods["icx_sendTransaction"] > 0 {
		tg, err := newTransferGen(ctx, mix.Transfer, st)
		if err != nil {
			return nil, err
		}
		s.transfer = tg
	}
	return s, nil
}

// Next yields the next synthetic request.
func (s *SynthSource) Next(r *Request) bool {
	if s.opt.Poisson {
		s.at += time.Duration(s.rng.ExpFloat64() / s.opt.Rate * float64(time.Second))
		r.At = s.at
	} else {
		r.At = time.Duration(math.Round(float64(s.n) * float64(time.Second) / s.opt.Rate))
	}
	s.n++
	x := s.rng.Float64() * s.cum[len(s.cum)-1]
	i := sort.SearchFloat64s(s.cum, x)
	if i >= len(s.names) || s.cum[i] == x {
		i = min(i+1, len(s.names)-1)
	}
	r.Method = s.names[i]
	r.Path = ""
	if pool := s.bodies[i]; len(pool) > 0 {
		r.Body = pool[s.rng.IntN(len(pool))]
		return true
	}
	body, ok := s.transfer.next()
	if !ok {
		return false
	}
	r.Body = body
	return true
}

// Close stops background work.
func (s *SynthSource) Close() {
	if s.transfer != nil {
		s.transfer.stop()
	}
}

type bodyBuilder struct {
	st  *chainState
	mix *Mix
	rng *rand.Rand
}

func (b *bodyBuilder) pick(xs []string, fallback string) string {
	if len(xs) == 0 {
		return fallback
	}
	return xs[b.rng.IntN(len(xs))]
}

func (b *bodyBuilder) params(method string) any {
	st := b.st
	zeroHash := "0x" + strings.Repeat("0", 63) + "1"
	switch method {
	case "icx_getBalance":
		return map[string]string{"address": b.pick(st.accounts, "hx"+strings.Repeat("0", 40))}
	case "icx_getBlockByHeight":
		// Mostly the last few blocks, as explorers and indexers ask.
		h := st.height - int64(b.rng.IntN(int(min(st.height, 64))+1))
		return map[string]string{"height": icon.FormatHexInt(max(h, 0))}
	case "icx_getBlockByHash":
		return map[string]string{"hash": b.pick(st.blocks, zeroHash)}
	case "icx_getTransactionResult", "icx_getTransactionByHash":
		h := b.pick(st.txs, "")
		if h == "" {
			h = fmt.Sprintf("0x%016x%016x%016x%016x", b.rng.Uint64(), b.rng.Uint64(), b.rng.Uint64(), b.rng.Uint64())
		}
		return map[string]string{"txHash": h}
	case "icx_call":
		calls := b.mix.Calls
		if len(calls) == 0 {
			calls = []CallSpec{
				{To: "cx0000000000000000000000000000000000000000", Method: "getRevision"},
				{To: "cx0000000000000000000000000000000000000000", Method: "getStepPrice"},
			}
		}
		c := calls[b.rng.IntN(len(calls))]
		data := map[string]any{"method": c.Method}
		if len(c.Params) > 0 {
			data["params"] = c.Params
		}
		return map[string]any{"to": c.To, "dataType": "call", "data": data}
	case "icx_getScoreApi":
		return map[string]string{"address": "cx0000000000000000000000000000000000000000"}
	}
	return nil
}

func (b *bodyBuilder) body(method string, id int) []byte {
	if method == "batch" {
		n := b.mix.BatchSize
		if n == 0 {
			n = 3
		}
		items := make([]json.RawMessage, 0, n)
		for i := 0; i < n; i++ {
			m := []string{"icx_getLastBlock", "icx_getBalance", "icx_getTotalSupply", "icx_call"}[b.rng.IntN(4)]
			items = append(items, b.body(m, id*100+i))
		}
		out, _ := json.Marshal(items)
		return out
	}
	req := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if p := b.params(method); p != nil {
		req["params"] = p
	}
	out, _ := json.Marshal(req)
	return out
}

// transferGen signs transfers ahead of time on its own goroutine so the
// scheduler never waits for a signature.
type transferGen struct {
	ch     chan []byte
	cancel context.CancelFunc
}

func newTransferGen(ctx context.Context, spec *TransferSpec, st *chainState) (*transferGen, error) {
	key := spec.PrivateKey
	if key == "" {
		key = os.Getenv("ICON_LOADTEST_KEY")
	}
	if key == "" {
		return nil, fmt.Errorf("loadtest: icx_sendTransaction in the mix needs transfer.private_key or ICON_LOADTEST_KEY")
	}
	w, err := icon.NewWallet(strings.TrimPrefix(key, "0x"))
	if err != nil {
		return nil, fmt.Errorf("loadtest: transfer key: %w", err)
	}
	to := spec.To
	if to == "" {
		to = w.Address()
	}
	if !icon.IsAddress(to) {
		return nil, fmt.Errorf("loadtest: transfer.to %q is not an ICON address", to)
	}
	value := big.NewInt(1)
	if spec.Value != "" {
		v, ok := icon.ParseBigHex(spec.Value)
		if !ok {
			return nil, fmt.Errorf("loadtest: transfer.value %q is not hex", spec.Value)
		}
		value = v
	}
	step := int64(0x30d40)
	if spec.StepLimit != "" {
		v, ok := icon.ParseHexInt(spec.StepLimit)
		if !ok {
			return nil, fmt.Errorf("loadtest: transfer.step_limit %q is not hex", spec.StepLimit)
		}
		step = v
	}
	nid := st.nid
	if spec.NID != "" {
		v, ok := icon.ParseHexInt(spec.NID)
		if !ok {
			return nil, fmt.Errorf("loadtest: transfer.nid %q is not hex", spec.NID)
		}
		nid = v
	}
	ctx, cancel := context.WithCancel(ctx)
	g := &transferGen{ch: make(chan []byte, 16), cancel: cancel}
	go func() {
		defer close(g.ch)
		last := time.Now().UnixMicro()
		for id := 1; ; id++ {
			// Distinct timestamps make every transaction (and its hash) unique.
			ts := max(time.Now().UnixMicro(), last+1)
			last = ts
			params, _, err := w.SignTransfer(to, value, nid, step, time.UnixMicro(ts))
			if err != nil {
				return
			}
			body := []byte(`{"jsonrpc":"2.0","id":` + strconv.Itoa(id) + `,"method":"icx_sendTransaction","params":`)
			body = append(append(body, params...), '}')
			select {
			case g.ch <- body:
			case <-ctx.Done():
				return
			}
		}
	}()
	return g, nil
}

func (g *transferGen) next() ([]byte, bool) {
	b, ok := <-g.ch
	return b, ok
}

func (g *transferGen) stop() { g.cancel() }
