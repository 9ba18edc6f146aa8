package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Cluster is a running etcd + kube-apiserver.
type Cluster struct {
	// URL is the API server's https URL.
	URL string
	// CAFile is the PEM CA that signed the serving certificate.
	CAFile string
	// Admin is a rest.Config with full rights (system:masters).
	Admin *rest.Config

	dir    string
	caPEM  []byte
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	mapMu  sync.Mutex
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// Binaries returns the kube-apiserver and etcd paths, or a reason they are
// missing.
func Binaries() (apiserver, etcd string, missing error) {
	apiserver = os.Getenv("BLUELOCK_KUBE_APISERVER")
	if apiserver == "" {
		cache := os.Getenv("BLUELOCK_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "bluelock")
		}
		matches, _ := filepath.Glob(filepath.Join(cache, "kube-apiserver-*", "kube-apiserver"))
		slices.Sort(matches)
		if len(matches) > 0 {
			apiserver = matches[len(matches)-1]
		}
	}
	var errs []error
	if apiserver == "" {
		errs = append(errs, errors.New("no kube-apiserver (run `make kube-apiserver` or set BLUELOCK_KUBE_APISERVER)"))
	} else if _, err := os.Stat(apiserver); err != nil {
		errs = append(errs, fmt.Errorf("kube-apiserver: %w", err))
	}
	etcd = os.Getenv("BLUELOCK_ETCD")
	if etcd == "" {
		etcd, _ = exec.LookPath("etcd")
	}
	if etcd == "" {
		errs = append(errs, errors.New("no etcd (apt-get install etcd-server, `make deps-test`, or set BLUELOCK_ETCD)"))
	}
	return apiserver, etcd, errors.Join(errs...)
}

// Start runs a fresh control plane for t, or skips t when the binaries are
// missing. Everything is stopped and removed by t.Cleanup.
func Start(t testing.TB) *Cluster {
	t.Helper()
	apiserverBin, etcdBin, missing := Binaries()
	if missing != nil {
		t.Skipf("kubetest: real kube-apiserver + etcd needed: %v", missing)
	}
	dir := t.TempDir()
	c := &Cluster{dir: dir}

	etcdClient, etcdPeer, apiPort := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	startProcess(t, dir, "etcd", etcdBin,
		"--name", "kubetest",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "kubetest="+peerURL,
		"--log-level", "error", "--logger", "zap",
	)

	ca, caKey := newCA(t)
	c.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	c.CAFile = writeFile(t, dir, "ca.crt", c.caPEM)
	servingCert, servingKey := issueServing(t, ca, caKey)
	certFile := writeFile(t, dir, "apiserver.crt", servingCert)
	keyFile := writeFile(t, dir, "apiserver.key", servingKey)
	saPub, saKey := serviceAccountKeys(t)
	saPubFile := writeFile(t, dir, "sa.pub", saPub)
	saKeyFile := writeFile(t, dir, "sa.key", saKey)
	adminToken := randomToken(t)
	tokens := writeFile(t, dir, "tokens.csv", fmt.Appendf(nil, "%s,kubetest-admin,kubetest-admin,\"system:masters\"\n", adminToken))

	c.URL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	apiserver := startProcess(t, dir, "kube-apiserver", apiserverBin,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(apiPort),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile,
		"--client-ca-file", c.CAFile,
		"--token-auth-file", tokens,
		"--authorization-mode", "RBAC",
		"--anonymous-auth=false",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saPubFile,
		"--service-account-signing-key-file", saKeyFile,
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--disable-admission-plugins", "ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type", "none",
		"--allow-privileged=true",
	)

	c.Admin = &rest.Config{
		Host:            c.URL,
		BearerToken:     adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caPEM},
		QPS:             100,
		Burst:           200,
	}
	var err error
	if c.cs, err = kubernetes.NewForConfig(c.Admin); err != nil {
		t.Fatal(err)
	}
	if c.dyn, err = dynamic.NewForConfig(c.Admin); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.Admin)
	if err != nil {
		t.Fatal(err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))

	// Poll /readyz: the API server offers no event for "ready".
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		body, err := c.cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && bytes.Equal(bytes.TrimSpace(body), []byte("ok")) {
			break
		}
		select {
		case <-apiserver.exited:
			t.Fatalf("kubetest: kube-apiserver exited before it was ready:\n%s", apiserver.tail())
		case <-ctx.Done():
			t.Fatalf("kubetest: kube-apiserver not ready after %s (last: %v)\n%s", time.Since(start).Round(time.Millisecond), err, apiserver.tail())
		case <-tick.C:
		}
	}
	t.Logf("kubetest: kube-apiserver %s ready in %s", c.URL, time.Since(start).Round(time.Millisecond))
	return c
}

// Clientset is an admin typed client.
func (c *Cluster) Clientset() kubernetes.Interface { return c.cs }

// Dynamic is an admin dynamic client.
func (c *Cluster) Dynamic() dynamic.Interface { return c.dyn }

// Dir is a temp directory that lives as long as the cluster.
func (c *Cluster) Dir() string { return c.dir }

type process struct {
	name   string
	log    string
	exited chan struct{}
}

func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return fmt.Sprintf("--- %s log (%s) ---\n%s", p.name, p.log, b)
}

// startProcess runs bin with args, output to a log file, stopped at cleanup
// (SIGTERM, then SIGKILL after 10s).
func startProcess(t testing.TB, dir, name, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("kubetest: start %s: %v", name, err)
	}
	p := &process{name: name, log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() && os.Getenv("KUBETEST_LOGS") != "" {
			t.Log(p.tail())
		}
	})
	return p
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomToken(t testing.TB) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newCA(t testing.TB) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func issueServing(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// serviceAccountKeys: RSA, which every token verifier accepts.
func serviceAccountKeys(t testing.TB) (pubPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}
