package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	pb "github.com/kubearmor/KubeArmor/protobuf"
)

// PolicyServer is KubeArmor's policy.PolicyService backed by a Set.
type PolicyServer struct {
	set    *Set
	logger *slog.Logger
}

var _ pb.PolicyServiceServer = (*PolicyServer)(nil)

// NewPolicyServer serves set over KubeArmor's PolicyService.
func NewPolicyServer(set *Set, logger *slog.Logger) *PolicyServer {
	return &PolicyServer{set: set, logger: logger.With("api", "grpc")}
}

// event is KubeArmor's tp.K8sKubeArmorPolicyEvent on the wire.
type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// ContainerPolicy applies one ADDED/MODIFIED/DELETED event.
func (s *PolicyServer) ContainerPolicy(ctx context.Context, in *pb.Policy) (*pb.Response, error) {
	st, err := s.containerPolicy(in.GetPolicy())
	if err != nil {
		s.logger.Warn("containerPolicy", "status", st.String(), "err", err)
	} else {
		s.logger.Info("containerPolicy", "status", st.String())
	}
	return &pb.Response{Status: st}, nil
}

func (s *PolicyServer) containerPolicy(payload []byte) (pb.PolicyStatus, error) {
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return pb.PolicyStatus_Invalid, fmt.Errorf("payload is not a policy event: %w", err)
	}
	var meta struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if len(ev.Object) == 0 || json.Unmarshal(ev.Object, &meta) != nil {
		return pb.PolicyStatus_Invalid, errors.New("event has no policy object")
	}
	name := meta.Metadata.Name
	if name == "" {
		return pb.PolicyStatus_Invalid, errors.New("policy has no metadata.name")
	}
	switch ev.Type {
	case "DELETED":
		if err := s.set.Delete(name); err != nil {
			if errors.Is(err, ErrNotExist) {
				return pb.PolicyStatus_NotExist, err
			}
			return pb.PolicyStatus_Invalid, err
		}
		return pb.PolicyStatus_Deleted, nil
	case "ADDED", "MODIFIED":
	default:
		return pb.PolicyStatus_Invalid, fmt.Errorf("unknown event type %q", ev.Type)
	}
	ps, err := s.set.parse(ev.Object, "containerPolicy "+name)
	if err != nil {
		return pb.PolicyStatus_Invalid, err
	}
	if len(ps) != 1 || ps[0].Metadata.Name != name {
		return pb.PolicyStatus_Invalid, fmt.Errorf("containerPolicy %s: expected exactly one policy", name)
	}
	if _, err := s.set.Upsert(ps); err != nil {
		return pb.PolicyStatus_Invalid, err
	}
	if ev.Type == "MODIFIED" {
		return pb.PolicyStatus_Modified, nil
	}
	return pb.PolicyStatus_Applied, nil
}

// HostPolicy: bluelock enforces inside one container; there is no host.
func (s *PolicyServer) HostPolicy(context.Context, *pb.Policy) (*pb.Response, error) {
	return &pb.Response{Status: pb.PolicyStatus_NotEnabled}, nil
}

// NetworkPolicy (KubeArmorNetworkPolicy) is not supported.
func (s *PolicyServer) NetworkPolicy(context.Context, *pb.Policy) (*pb.Response, error) {
	return &pb.Response{Status: pb.PolicyStatus_NotEnabled}, nil
}
