package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/services"
)

// A migrated cluster is cached under os.TempDir, keyed by the Postgres
// binaries and the migration files, so that a test binary copies a ready
// cluster (about 0.2 s) instead of running initdb and every migration (2-5 s
// on two cores). A cache that cannot be used is simply not used.
const pgCachePrefix = "aff-pgcache-"

// pgCacheDir returns the cache directory for the current binaries and
// migrations.
func pgCacheDir(binDir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "testenv-pgcache-v1\n%s\n", binDir)
	if loc := os.Getenv(PostgresLocaleEnv); loc != "" {
		fmt.Fprintf(h, "locale %s\n", loc)
	}
	if v, err := os.ReadFile(filepath.Join(filepath.Dir(binDir), "..", "..", "..", "share", "postgresql", filepath.Base(filepath.Dir(binDir)), "postgres.bki")); err == nil {
		h.Write(v[:min(len(v), 4096)])
	}
	err := fs.WalkDir(migrate.PostgresFS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrate.PostgresFS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(os.TempDir(), pgCachePrefix+hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// copyCachedCluster copies a cached cluster into dir/data and reports
// whether there was one.
func copyCachedCluster(cache, dir string) bool {
	if _, err := os.Stat(filepath.Join(cache, "ready")); err != nil {
		return false
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false
	}
	// cp -a keeps the owner (nobody) and the 0700 mode Postgres insists on.
	if out, err := exec.Command("cp", "-a", filepath.Join(cache, "data"), filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		debugf("cannot copy cached cluster %s: %v: %s", cache, err, out)
		os.RemoveAll(filepath.Join(dir, "data"))
		return false
	}
	return true
}

// saveCluster stops srv, copies its cluster into the cache and starts it
// again. Concurrent savers race on a rename; the loser's copy is dropped.
func saveCluster(ctx context.Context, srv *services.Postgres, dir, cache string) error {
	srv.Stop()
	defer func() {
		if err := srv.Start(ctx); err != nil {
			debugf("cannot restart postgres after caching: %v", err)
		}
	}()
	tmp, err := os.MkdirTemp(os.TempDir(), pgCachePrefix+"tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "data"), filepath.Join(tmp, "data")).CombinedOutput(); err != nil {
		return fmt.Errorf("cannot copy cluster to cache: %v: %s", err, out)
	}
	os.Remove(filepath.Join(tmp, "data", "postmaster.pid"))
	if err := os.WriteFile(filepath.Join(tmp, "ready"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, cache); err != nil {
		return nil // another test binary cached it first
	}
	sweepOldCaches(cache)
	return nil
}

// sweepOldCaches removes caches of other migration sets unused for an hour.
func sweepOldCaches(keep string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), pgCachePrefix+"*"))
	for _, d := range dirs {
		if d == keep {
			continue
		}
		st, err := os.Stat(d)
		if err == nil && time.Since(st.ModTime()) > time.Hour && !strings.Contains(filepath.Base(d), "tmp-") {
			os.RemoveAll(d)
		}
	}
}
