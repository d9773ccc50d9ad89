package check

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/openaff/affiliate/pkg/config"
)

// commands lists, per binary of deploy/docker/Dockerfile (its BINARY build
// argument), the subcommands that docker-compose.yml may run and the AFF_*
// variables each one requires (pkg/config), as in the binaries' main.go.
var commands = map[string]map[string][]string{
	"tracker": {
		"serve": config.TrackerServeRequired,
		"sink":  config.TrackerSinkRequired,
	},
	"settler": {
		"serve":   config.SettlerRequired,
		"run":     config.SettlerRequired,
		"migrate": config.SettlerMigrateRequired,
	},
	"dashboard": {
		"serve": config.DashboardRequired,
	},
}

// extraVars are the AFF_* settings outside the contract of pkg/config that a
// binary reads; anything else named AFF_* in the compose file is a typo.
var extraVars = []string{
	"AFF_LOG_FORMAT",         // settler (the others always log JSON)
	"AFF_TRACKER_PUBLIC_URL", // dashboard: base of the tracking links
	"AFF_SETTLER_SETTLE_SCHEDULE", "AFF_SETTLER_APPROVE_SCHEDULE", "AFF_SETTLER_RELEASE_SCHEDULE",
	"AFF_SETTLER_RELAY_SCHEDULE", "AFF_SETTLER_MAX_WAIT", "AFF_SETTLER_BATCH_SIZE",
	"AFF_SETTLER_INGEST_BATCH_SIZE", "AFF_SETTLER_DRAIN_TIMEOUT", "AFF_SETTLER_GROUP_ID",
}

// minAdminTokenBytes mirrors dashboard/cmd/dashboard.MinAdminTokenBytes
// (a main package cannot be imported): dashboard serve refuses shorter tokens.
const minAdminTokenBytes = 16

func loadCompose(t *testing.T, path string) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("openaff", true) })
	if err != nil {
		t.Fatalf("cannot load %s with compose-go: %v", path, err)
	}
	return p
}

// appService is a service that runs one of our binaries.
type appService struct {
	name, binary, command string
	env                   map[string]string
	svc                   types.ServiceConfig
}

// appServices returns the services built from deploy/docker/Dockerfile.
func appServices(t *testing.T, p *types.Project) []appService {
	t.Helper()
	var out []appService
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		if svc.Build == nil {
			continue
		}
		if svc.Build.Dockerfile != "deploy/docker/Dockerfile" {
			t.Errorf("service %s: build.dockerfile = %q, want deploy/docker/Dockerfile", name, svc.Build.Dockerfile)
			continue
		}
		bin := svc.Build.Args["BINARY"]
		if bin == nil {
			t.Errorf("service %s: build has no BINARY argument", name)
			continue
		}
		if len(svc.Command) == 0 {
			t.Errorf("service %s: no command: the image's entrypoint needs a subcommand", name)
			continue
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		out = append(out, appService{name: name, binary: *bin, command: svc.Command[0], env: env, svc: svc})
	}
	return out
}

// checkApp reports how s breaks the configuration contract of its binary's
// subcommand, one message per problem.
func checkApp(s appService, services map[string]types.ServiceConfig) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	subs, ok := commands[s.binary]
	if !ok {
		return []string{fmt.Sprintf("BINARY %q is not one of the workspace's binaries", s.binary)}
	}
	required, ok := subs[s.command]
	if !ok {
		return []string{fmt.Sprintf("%s has no subcommand %q", s.binary, s.command)}
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := s.env[k]; return v, ok }, required...)
	if err != nil {
		return []string{fmt.Sprintf("%s %s would not start: %v", s.binary, s.command, err)}
	}
	for k := range s.env {
		if strings.HasPrefix(k, "AFF_") && !slices.Contains(config.All, k) && !slices.Contains(extraVars, k) {
			fail("%s is not a setting any binary reads", k)
		}
	}
	// Every address must name a service of the file, on the port it listens on.
	hostPort := func(variable, addr string, port uint32) {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			fail("%s %q: %v", variable, addr, err)
			return
		}
		if _, ok := services[host]; !ok {
			fail("%s %q: no service %q in the file", variable, addr, host)
		}
		if p != fmt.Sprint(port) {
			fail("%s %q: port %s, want %d (the service's container port)", variable, addr, p, port)
		}
	}
	if slices.Contains(required, config.KafkaBrokers) {
		for _, b := range cfg.KafkaBrokers {
			hostPort(config.KafkaBrokers, b, 9092)
		}
	}
	if slices.Contains(required, config.ClickHouseAddr) {
		hostPort(config.ClickHouseAddr, cfg.ClickHouseAddr, 9000)
	}
	if slices.Contains(required, config.PostgresURL) {
		problems = append(problems, checkPostgres(cfg.PostgresURL, services)...)
	}
	switch s.binary + " " + s.command {
	case "tracker serve":
		problems = append(problems, checkListener(s.svc, config.TrackerAddr, cfg.TrackerAddr, "/healthz")...)
		if !hasVolumeAt(s.svc, cfg.SpoolDir) {
			fail("%s %q is not a volume: spooled clicks would die with the container", config.SpoolDir, cfg.SpoolDir)
		}
	case "tracker sink":
		addr := sinkMetricsAddr(s.svc.Command)
		problems = append(problems, checkListener(s.svc, "-metrics-addr", addr, "/metrics")...)
	case "settler serve":
		if addr := flagValue(s.svc.Command, "-metrics-addr"); addr != "" {
			problems = append(problems, checkListener(s.svc, "-metrics-addr", addr, "/metrics")...)
		}
	case "dashboard serve":
		problems = append(problems, checkListener(s.svc, config.DashboardAddr, cfg.DashboardAddr, "/healthz")...)
		if len(cfg.AdminToken) < minAdminTokenBytes {
			fail("%s is shorter than %d bytes: dashboard serve refuses it", config.AdminToken, minAdminTokenBytes)
		}
		if v := s.env["AFF_TRACKER_PUBLIC_URL"]; v != "" {
			if u, err := url.Parse(v); err != nil || u.Host == "" {
				fail("AFF_TRACKER_PUBLIC_URL %q is not an absolute URL", v)
			}
		}
	}
	if s.command != "migrate" {
		dep, ok := s.svc.DependsOn["migrate"]
		if !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			fail("does not wait for migrate to complete successfully")
		}
	}
	return problems
}

// checkPostgres checks that the URL names the postgres service with the
// user, password and database its image creates.
func checkPostgres(raw string, services map[string]types.ServiceConfig) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{err.Error()}
	}
	pg, ok := services[u.Hostname()]
	if !ok {
		return []string{fmt.Sprintf("%s: no service %q in the file", config.PostgresURL, u.Hostname())}
	}
	get := func(k string) string {
		if v := pg.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	pw, _ := u.User.Password()
	var problems []string
	if u.Port() != "5432" {
		problems = append(problems, fmt.Sprintf("%s: port %q, want 5432", config.PostgresURL, u.Port()))
	}
	if u.User.Username() != get("POSTGRES_USER") || pw != get("POSTGRES_PASSWORD") ||
		strings.TrimPrefix(u.Path, "/") != get("POSTGRES_DB") {
		problems = append(problems, fmt.Sprintf("%s: user, password or database differ from the %s service's POSTGRES_*",
			config.PostgresURL, u.Hostname()))
	}
	return problems
}

// checkListener checks that a server listens on all interfaces (a container
// listening on 127.0.0.1 is unreachable), and that the published port and the
// health check use its port.
func checkListener(svc types.ServiceConfig, name, addr, healthPath string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []string{fmt.Sprintf("%s %q is not host:port", name, addr)}
	}
	var problems []string
	if host != "0.0.0.0" && host != "" && host != "::" {
		problems = append(problems, fmt.Sprintf("%s %q listens on %s only: other containers cannot reach it", name, addr, host))
	}
	published := false
	for _, p := range svc.Ports {
		if fmt.Sprint(p.Target) == port {
			published = true
		}
	}
	if !published {
		problems = append(problems, fmt.Sprintf("%s port %s is not published", name, port))
	}
	want := "127.0.0.1:" + port + healthPath
	if svc.HealthCheck == nil || !strings.Contains(strings.Join(svc.HealthCheck.Test, " "), want) {
		problems = append(problems, fmt.Sprintf("health check does not probe %s", want))
	}
	return problems
}

func hasVolumeAt(svc types.ServiceConfig, dir string) bool {
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == dir {
			return true
		}
	}
	return false
}

// sinkMetricsAddr is the -metrics-addr of a `tracker sink` command line,
// or the flag's default (tracker/internal/sink/main.go).
func sinkMetricsAddr(args []string) string {
	if v := flagValue(args, "-metrics-addr"); v != "" {
		return v
	}
	return "127.0.0.1:9464"
}

// flagValue returns the value of a Go flag ("-name value" or "-name=value") in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		for _, n := range []string{name, "-" + name} {
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v
			}
		}
	}
	return ""
}

// TestComposeSatisfiesConfigContract loads docker-compose.yml with
// compose-go, as docker compose does, and checks every service that runs one
// of our binaries against what that binary's subcommand requires.
func TestComposeSatisfiesConfigContract(t *testing.T) {
	p := loadCompose(t, "../../docker-compose.yml")
	apps := appServices(t, p)
	// Every binary and subcommand a deployment needs runs exactly once.
	want := []string{"dashboard serve", "settler migrate", "settler serve", "tracker serve", "tracker sink"}
	var got []string
	for _, s := range apps {
		got = append(got, s.binary+" "+s.command)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("services run %q, want %q", got, want)
	}
	for _, s := range apps {
		for _, problem := range checkApp(s, p.Services) {
			t.Errorf("service %s (%s %s): %s", s.name, s.binary, s.command, problem)
		}
	}
	// The services the binaries reach are healthy before anything starts.
	for _, name := range []string{"postgres", "clickhouse", "kafka"} {
		if svc, ok := p.Services[name]; !ok || svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("service %s: missing, or without a health check", name)
		}
	}
	roles := p.Services["kafka"].Environment["KAFKA_PROCESS_ROLES"]
	if !strings.HasPrefix(p.Services["kafka"].Image, "apache/kafka:") || roles == nil || !strings.Contains(*roles, "controller") {
		t.Errorf("kafka: want Apache Kafka in KRaft mode (apache/kafka image, KAFKA_PROCESS_ROLES with controller)")
	}
}

// TestComposeCheckFails feeds checkApp broken services, so that the test
// above cannot pass by checking nothing.
func TestComposeCheckFails(t *testing.T) {
	p := loadCompose(t, "../../docker-compose.yml")
	apps := appServices(t, p)
	find := func(binary, command string) appService {
		t.Helper()
		for _, s := range apps {
			if s.binary == binary && s.command == command {
				s.env = maps.Clone(s.env)
				return s
			}
		}
		t.Fatalf("no service runs %s %s", binary, command)
		return appService{}
	}
	f := func(s appService, wantInProblem string) {
		t.Helper()
		problems := checkApp(s, p.Services)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, wantInProblem) }) {
			t.Errorf("checkApp(%s %s) = %q, want a problem mentioning %q", s.binary, s.command, problems, wantInProblem)
		}
	}
	// A required variable missing.
	s := find("tracker", "serve")
	delete(s.env, config.CookieSecret)
	f(s, config.CookieSecret)
	// A malformed value.
	s = find("tracker", "sink")
	s.env[config.KafkaBrokers] = "kafka"
	f(s, config.KafkaBrokers)
	// A broker that is no service of the file.
	s = find("settler", "serve")
	s.env[config.KafkaBrokers] = "broker:9092"
	f(s, `no service "broker"`)
	// The settler's metrics on loopback inside a container.
	s = find("settler", "serve")
	s.svc.Command = []string{"serve", "-metrics-addr", "127.0.0.1:9465"}
	f(s, "listens on 127.0.0.1 only")
	// A listener on loopback inside a container.
	s = find("dashboard", "serve")
	s.env[config.DashboardAddr] = "127.0.0.1:8081"
	f(s, "listens on 127.0.0.1 only")
	// A short admin token.
	s = find("dashboard", "serve")
	s.env[config.AdminToken] = "short"
	f(s, config.AdminToken)
	// A typo in a variable name.
	s = find("settler", "migrate")
	s.env["AFF_CLICKHOUSE_ADR"] = "clickhouse:9000"
	f(s, "AFF_CLICKHOUSE_ADR")
	// A password that is not the database's.
	s = find("settler", "migrate")
	s.env[config.PostgresURL] = "postgres://aff:wrong@postgres:5432/affiliate"
	f(s, "POSTGRES_")
	// A subcommand the binary does not have.
	s = find("tracker", "serve")
	s.command = "server"
	f(s, `no subcommand "server"`)
}

// TestDockerfileCopiesEveryModule: deploy/docker/Dockerfile builds in
// workspace mode, which fails when a module listed in go.work is missing
// from the build context; a new module must get a COPY line.
func TestDockerfileCopiesEveryModule(t *testing.T) {
	work, err := os.ReadFile("../../go.work")
	if err != nil {
		t.Fatal(err)
	}
	docker, err := os.ReadFile("../docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var modules []string
	inUse := false
	for _, line := range strings.Split(string(work), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "use ("):
			inUse = true
		case inUse && line == ")":
			inUse = false
		case inUse && line != "":
			modules = append(modules, line)
		case strings.HasPrefix(line, "use "):
			modules = append(modules, strings.TrimSpace(strings.TrimPrefix(line, "use ")))
		}
	}
	if len(modules) < 5 {
		t.Fatalf("found modules %q in go.work, want at least pkg, tracker, settler, dashboard, deploy/devstack", modules)
	}
	for _, m := range modules {
		dir := strings.TrimPrefix(m, "./")
		if !strings.Contains(string(docker), "COPY "+dir+"/ "+dir+"/") {
			t.Errorf("deploy/docker/Dockerfile has no `COPY %s/ %s/`: the workspace build would fail", dir, dir)
		}
	}
}
