package protocol

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// GPU telemetry travels as a NATS heartbeat, not in the etcd announcement
// (docs/architecture.md, GPU telemetry): at 1,000 nodes sampling every
// 5 s it is 200 messages/s, which core NATS fans out from memory, while as
// etcd puts it would be 200 Raft-replicated, fsynced writes/s, each kept
// as an MVCC revision until compaction and sent to every coordinator's
// watch. The announcement keeps the inventory (written at start and when
// models or draining change).

// SubjectTelemetryPrefix begins every telemetry subject:
// TelemetrySubject(node). Every coordinator subscribes (not only the
// leader), so each one's node view (/v1/nodes) is current.
const SubjectTelemetryPrefix = "sanafarm.telemetry."

// TelemetrySubject is the subject node id publishes its telemetry on; a
// per-node NATS user may publish only there (NodePermissions), so a node
// cannot report for another.
func TelemetrySubject(id string) string { return SubjectTelemetryPrefix + SubjectToken(id) }

// DefaultTelemetryInterval is how often a node samples and sends its GPUs.
const DefaultTelemetryInterval = 5 * time.Second

// Bounds of a telemetry message beyond those of NodeInfo (nodemsg.go).
const (
	MaxGPUNameBytes    = 256 // a GPU name or UUID
	MaxThrottleReasons = 16  // reason names per GPU
	MaxThrottleReason  = 64  // bytes of one reason name (NVML's are short words)
)

// NodeTelemetry is a node's heartbeat: its GPUs as sampled At. StartedAt
// names the node's incarnation (NodeInfo.StartedAt), so a coordinator
// ignores a late message of a previous process.
type NodeTelemetry struct {
	Node      string    `json:"node"`
	StartedAt time.Time `json:"started_at,omitzero"`
	At        time.Time `json:"at"`
	GPUs      []GPUInfo `json:"gpus,omitempty"`
}

// DecodeNodeTelemetry decodes and checks a telemetry message (any NATS
// client of the node role can publish one).
func DecodeNodeTelemetry(data []byte) (NodeTelemetry, error) {
	var t NodeTelemetry
	if err := json.Unmarshal(data, &t); err != nil {
		return t, Errorf(CodeBadRequest, "decoding node telemetry: %v", err)
	}
	return t, t.Check()
}

// Check returns a bad_request *Error naming every invalid field.
func (t NodeTelemetry) Check() error {
	e := &fieldErrors{what: "node telemetry"}
	e.name("node", t.Node)
	if len(t.GPUs) > MaxNodeGPUs {
		e.add("gpus", len(t.GPUs), fmt.Sprintf("at most %d GPUs", MaxNodeGPUs))
		return e.err()
	}
	for i, g := range t.GPUs {
		f := "gpus[" + strconv.Itoa(i) + "]"
		if len(g.Name) > MaxGPUNameBytes || len(g.UUID) > MaxGPUNameBytes {
			e.add(f+".name", len(g.Name)+len(g.UUID), fmt.Sprintf("name and uuid at most %d bytes each", MaxGPUNameBytes))
		}
		if len(g.ThrottleReasons) > MaxThrottleReasons {
			e.add(f+".throttle_reasons", len(g.ThrottleReasons), fmt.Sprintf("at most %d", MaxThrottleReasons))
		}
		for k, r := range g.ThrottleReasons {
			if len(r) > MaxThrottleReason {
				e.add(f+".throttle_reasons["+strconv.Itoa(k)+"]", len(r), fmt.Sprintf("at most %d bytes", MaxThrottleReason))
				break
			}
		}
		for _, v := range []float64{g.Utilization, g.MemoryUtilization, g.PowerW, g.PowerLimitW} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				e.add(f, v, "utilisation and power must be finite and not negative")
				break
			}
		}
	}
	return e.err()
}
