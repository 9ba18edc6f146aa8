package emit

import (
	"fmt"
	"os"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
)

// PolicyName of the drop report, so consumers can route or silence it.
const DropReportPolicy = "bluelock-emitter"

// updatedTimeLayout is KubeArmor's UpdatedTime format (microseconds, UTC, "Z").
const updatedTimeLayout = "2006-01-02T15:04:05.000000Z"

// dropReport builds the SystemEvent that tells consumers how many events
// never reached them, in the shape KubeArmor uses for its own alert
// throttling (Type SystemEvent, Operation AlertThreshold).
func dropReport(info container.Info, now time.Time, alerts, logs uint64) schema.Event {
	now = now.UTC()
	return schema.NewAlert(&pb.Alert{
		Timestamp:      now.Unix(),
		UpdatedTime:    now.Format(updatedTimeLayout),
		ClusterName:    info.ClusterName,
		HostName:       info.HostName,
		NamespaceName:  info.NamespaceName,
		PodName:        info.PodName,
		Labels:         info.Labels,
		ContainerID:    info.ContainerID,
		ContainerName:  info.ContainerName,
		ContainerImage: info.ContainerImage,
		PolicyName:     DropReportPolicy,
		Type:           schema.TypeSystemEvent,
		Operation:      schema.OpAlertThreshold,
		Enforcer:       schema.EnforcerPtrace,
		Message: fmt.Sprintf("bluelock dropped %d events (%d alerts, %d logs) while the sidekick was unreachable or the queue was full",
			alerts+logs, alerts, logs),
	})
}

// withHostName fills a missing HostName from the kernel: the sidekick
// requires one on every event, and a drop report it refused would be lost.
func withHostName(info container.Info) container.Info {
	if info.HostName == "" {
		if h, err := os.Hostname(); err == nil {
			info.HostName = h
		}
	}
	return info
}

// reporter remembers how many full-queue drops were already reported. It is
// owned by the sender goroutine.
type reporter struct {
	alerts, logs uint64
}

// pending returns the drops not yet reported and whether there are any.
func (r *reporter) pending(c *counters) (alerts, logs uint64, ok bool) {
	fa, fl := c.fullAlerts.Load(), c.fullLogs.Load()
	return fa - r.alerts, fl - r.logs, fa != r.alerts || fl != r.logs
}

func (r *reporter) done(alerts, logs uint64) {
	r.alerts += alerts
	r.logs += logs
}
