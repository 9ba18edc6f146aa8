package main

import (
	"fmt"
	"log/slog"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"google.golang.org/grpc"

	"github.com/bluelock/bluelock/policy/source/forward"
	"github.com/bluelock/bluelock/sidekick"
)

// policyService registers KubeArmor's PolicyService on the sidekick's gRPC
// server, forwarding to the tracer's own PolicyService in the same pod/task.
type policyService struct{ f *forward.Forwarder }

func (p policyService) RegisterGRPC(s *grpc.Server) { pb.RegisterPolicyServiceServer(s, p.f) }

// grpcServices builds the optional services of the gRPC port. The
// PolicyService forwarder is opt-in (POLICYSERVICE_FORWARDTO, e.g.
// 127.0.0.1:32766): with it, `karmor vm policy add p.yaml --gRPC <ip>:32767`
// and `karmor logs --gRPC <ip>:32767` use one address, as with KubeArmor. Off
// by default, because whoever reaches :32767 could then change the policies
// (karmor sends no credentials): enable it only where the port is reachable
// from trusted peers (ECS security group), never on EKS where CRDs deliver.
func grpcServices(src *sidekick.Source, logger *slog.Logger) ([]sidekick.GRPCRegistrar, func(), error) {
	target, _ := src.Get("POLICYSERVICE_FORWARDTO")
	if target == "" {
		return nil, func() {}, nil
	}
	token, _ := src.Get("POLICYSERVICE_TOKEN")
	f, err := forward.New(forward.Config{Target: target, Token: token}, logger.With("service", "policy-forward"))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", src.KeyName("POLICYSERVICE_FORWARDTO"), err)
	}
	logger.Info("forwarding KubeArmor PolicyService on the gRPC port to the tracer", "target", target, "token", token != "")
	return []sidekick.GRPCRegistrar{policyService{f}}, func() { _ = f.Close() }, nil
}
