package edge

import (
	"time"

	"github.com/icon-edge/icon-edge/proxy"
	"github.com/icon-edge/icon-edge/upstream"
)

// UpstreamTuning is the `upstream:` section: how calls share node
// connections and node requests (docs/performance.md).
type UpstreamTuning struct {
	// PipelineConns: pipelined connections per node for short reads (0:
	// off); PipelineDepth bounds the calls in flight on each.
	PipelineConns int `yaml:"pipeline_conns"`
	PipelineDepth int `yaml:"pipeline_depth"`
	// MicroBatch merges concurrent single reads bound for the same node into
	// one node batch (opt-in).
	MicroBatch MicroBatch `yaml:"micro_batch"`
}

// MicroBatch configures micro-batching of single reads.
type MicroBatch struct {
	Enabled bool `yaml:"enabled"`
	// MaxWait is the longest a read waits for others to share its node
	// request; MaxItems the most reads in one (at most limits.node_batch_limit).
	MaxWait  time.Duration `yaml:"max_wait"`
	MaxItems int           `yaml:"max_items"`
}

// defaultUpstreamTuning: pipelining on (two connections per node, 64 calls
// deep), micro-batching off.
func defaultUpstreamTuning() UpstreamTuning {
	return UpstreamTuning{PipelineConns: 2, PipelineDepth: 64,
		MicroBatch: MicroBatch{MaxWait: 200 * time.Microsecond, MaxItems: 10}}
}

func (u *UpstreamTuning) validate(nodeBatchLimit int) error {
	var cs checks
	if u.PipelineConns < 0 || u.PipelineConns > 64 {
		cs.bad("pipeline_conns", "must be between 0 (off) and 64, got %d", u.PipelineConns)
	}
	if u.PipelineDepth < 1 || u.PipelineDepth > 4096 {
		cs.bad("pipeline_depth", "must be between 1 and 4096, got %d", u.PipelineDepth)
	}
	if m := u.MicroBatch; m.Enabled {
		if m.MaxWait <= 0 || m.MaxWait > 10*time.Millisecond {
			cs.bad("micro_batch.max_wait", "must be a duration between 1us and 10ms, like 200us, got %v", m.MaxWait)
		}
		if m.MaxItems < 2 || m.MaxItems > nodeBatchLimit {
			cs.bad("micro_batch.max_items", "must be between 2 and limits.node_batch_limit (%d), got %d", nodeBatchLimit, m.MaxItems)
		}
	}
	return cs.err()
}

// tunePool and microBatch carry the section into the pool and the request
// path. Both are built once: the section is in RestartKeys.
func (u *UpstreamTuning) tunePool(pc *upstream.Config) {
	pc.PipelineConns, pc.PipelineDepth = u.PipelineConns, u.PipelineDepth
}

func (u *UpstreamTuning) microBatch() proxy.MicroBatchConfig {
	if !u.MicroBatch.Enabled {
		return proxy.MicroBatchConfig{}
	}
	return proxy.MicroBatchConfig{MaxWait: u.MicroBatch.MaxWait, MaxItems: u.MicroBatch.MaxItems}
}
