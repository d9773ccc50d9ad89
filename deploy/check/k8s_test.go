package check

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/openaff/affiliate/pkg/config"
)

// k8sObject is the part of a Kubernetes object these checks read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	Containers []k8sContainer `yaml:"containers"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		ContainerPort int `yaml:"containerPort"`
	} `yaml:"ports"`
	VolumeMounts []struct {
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

func loadK8s(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob("../k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s: %v", err)
	}
	var out []k8sObject
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(r)
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, o)
		}
		r.Close()
	}
	return out
}

// k8sWorkload is one container running one of our images.
type k8sWorkload struct {
	object, binary, command string
	env                     map[string]string
	c                       k8sContainer
	annotations             map[string]string
}

func k8sWorkloads(t *testing.T, objs []k8sObject) []k8sWorkload {
	t.Helper()
	data := map[string]map[string]string{}
	for _, o := range objs {
		switch o.Kind {
		case "ConfigMap":
			data["configmap/"+o.Metadata.Name] = o.Data
		case "Secret":
			data["secret/"+o.Metadata.Name] = o.StringData
		}
	}
	var out []k8sWorkload
	for _, o := range objs {
		for _, c := range o.Spec.Template.Spec.Containers {
			img, ok := strings.CutPrefix(c.Image, "openaff/")
			if !ok {
				continue
			}
			bin, _, _ := strings.Cut(img, ":")
			w := k8sWorkload{object: o.Kind + "/" + o.Metadata.Name, binary: bin, env: map[string]string{}, c: c,
				annotations: o.Spec.Template.Metadata.Annotations}
			if len(c.Args) == 0 {
				t.Errorf("%s: container %s has no args: the image needs a subcommand", w.object, c.Name)
				continue
			}
			w.command = c.Args[0]
			for _, ef := range c.EnvFrom {
				ref := ""
				if ef.ConfigMapRef != nil {
					ref = "configmap/" + ef.ConfigMapRef.Name
				} else if ef.SecretRef != nil {
					ref = "secret/" + ef.SecretRef.Name
				}
				src, ok := data[ref]
				if !ok {
					t.Errorf("%s: envFrom %q is not in deploy/k8s", w.object, ref)
				}
				for k, v := range src {
					w.env[k] = v
				}
			}
			for _, e := range c.Env {
				w.env[e.Name] = e.Value
			}
			out = append(out, w)
		}
	}
	return out
}

// checkK8s reports how w breaks its binary's configuration contract or
// would be unreachable.
func checkK8s(w k8sWorkload) []string {
	subs, ok := commands[w.binary]
	if !ok {
		return []string{fmt.Sprintf("image openaff/%s is none of the workspace's binaries", w.binary)}
	}
	required, ok := subs[w.command]
	if !ok {
		return []string{fmt.Sprintf("%s has no subcommand %q", w.binary, w.command)}
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := w.env[k]; return v, ok }, required...)
	if err != nil {
		return []string{fmt.Sprintf("%s %s would not start: %v", w.binary, w.command, err)}
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for k := range w.env {
		if strings.HasPrefix(k, "AFF_") && !slices.Contains(config.All, k) && !slices.Contains(extraVars, k) {
			fail("%s is not a setting any binary reads", k)
		}
	}
	listen := func(name, addr string) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			fail("%s %q is not host:port", name, addr)
			return
		}
		if host != "0.0.0.0" && host != "" {
			fail("%s %q listens on %s only: the pod would be unreachable", name, addr, host)
		}
		if !slices.ContainsFunc(w.c.Ports, func(p struct {
			ContainerPort int `yaml:"containerPort"`
		}) bool {
			return fmt.Sprint(p.ContainerPort) == port
		}) {
			fail("%s port %s is not a containerPort", name, port)
		}
		if p, ok := w.annotations["prometheus.io/port"]; ok && p != port {
			fail("prometheus.io/port %s, but %s listens on %s", p, name, port)
		}
	}
	switch w.binary + " " + w.command {
	case "tracker serve":
		listen(config.TrackerAddr, cfg.TrackerAddr)
		if !slices.ContainsFunc(w.c.VolumeMounts, func(m struct {
			MountPath string `yaml:"mountPath"`
		}) bool {
			return m.MountPath == cfg.SpoolDir
		}) {
			fail("%s %q is not a mounted volume: spooled clicks would die with the pod", config.SpoolDir, cfg.SpoolDir)
		}
	case "tracker sink":
		listen("-metrics-addr", sinkMetricsAddr(w.c.Args))
	case "settler serve":
		// Metrics only with -metrics-addr (off by default).
		if addr := flagValue(w.c.Args, "-metrics-addr"); addr != "" {
			listen("-metrics-addr", addr)
		} else if _, ok := w.annotations["prometheus.io/scrape"]; ok {
			fail("%s %s serves no metrics without -metrics-addr, but the pod asks to be scraped", w.binary, w.command)
		}
	case "dashboard serve":
		listen(config.DashboardAddr, cfg.DashboardAddr)
		if len(cfg.AdminToken) < minAdminTokenBytes {
			fail("%s is shorter than %d bytes", config.AdminToken, minAdminTokenBytes)
		}
	default:
		if _, ok := w.annotations["prometheus.io/scrape"]; ok {
			fail("%s %s serves no metrics, but the pod asks to be scraped", w.binary, w.command)
		}
	}
	return problems
}

// TestK8sManifestsSatisfyConfigContract checks every container of deploy/k8s
// that runs one of our images against its subcommand's configuration.
func TestK8sManifestsSatisfyConfigContract(t *testing.T) {
	ws := k8sWorkloads(t, loadK8s(t))
	var got []string
	for _, w := range ws {
		got = append(got, w.binary+" "+w.command)
		for _, p := range checkK8s(w) {
			t.Errorf("%s (%s %s): %s", w.object, w.binary, w.command, p)
		}
	}
	slices.Sort(got)
	want := []string{"dashboard serve", "settler migrate", "settler serve", "tracker serve", "tracker sink"}
	if !slices.Equal(got, want) {
		t.Errorf("manifests run %q, want %q", got, want)
	}
}

// TestK8sCheckFails: broken workloads are reported.
func TestK8sCheckFails(t *testing.T) {
	ws := k8sWorkloads(t, loadK8s(t))
	find := func(binary, command string) k8sWorkload {
		t.Helper()
		for _, w := range ws {
			if w.binary == binary && w.command == command {
				env := make(map[string]string, len(w.env))
				for k, v := range w.env {
					env[k] = v
				}
				w.env = env
				w.c.Args = slices.Clone(w.c.Args)
				return w
			}
		}
		t.Fatalf("no workload runs %s %s", binary, command)
		return k8sWorkload{}
	}
	f := func(w k8sWorkload, want string) {
		t.Helper()
		problems := checkK8s(w)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("checkK8s(%s %s) = %q, want a problem mentioning %q", w.binary, w.command, problems, want)
		}
	}
	w := find("tracker", "serve")
	delete(w.env, config.SpoolDir)
	f(w, config.SpoolDir)
	w = find("tracker", "sink")
	w.c.Args = []string{"sink"} // metrics on the default 127.0.0.1:9464
	f(w, "listens on 127.0.0.1 only")
	w = find("dashboard", "serve")
	w.env[config.DashboardAddr] = "0.0.0.0:9999"
	f(w, "port 9999 is not a containerPort")
	w = find("settler", "serve")
	w.c.Args = []string{"serve"}
	f(w, "serves no metrics")
	w = find("settler", "serve")
	w.c.Args = []string{"serve", "-metrics-addr", "0.0.0.0:9999"}
	f(w, "port 9999 is not a containerPort")
	w = find("settler", "migrate")
	w.annotations = map[string]string{"prometheus.io/scrape": "true"}
	f(w, "serves no metrics")
	w = find("settler", "migrate")
	w.env[config.PostgresURL] = "mysql://x"
	f(w, config.PostgresURL)
}
